//! `tsunagu risk`: the population-uniqueness estimators (Zayatz, Pitman, SNB) against independent
//! implementations in Python with SciPy — a hypergeometric pmf for Zayatz, a numerical
//! maximum-likelihood fit of Pitman's sampling formula, and the SNB moment equations solved by
//! summing the thinned negative binomial term by term rather than through the closed forms the
//! engine uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const SCIPY: &str = "scipy==1.15.3";

fn adult() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../anon/tests/data/adult/adult.csv")
}

fn risk(qi: &str, fraction: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("risk.json");
    let o = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .args(["risk"])
        .arg(adult())
        .args(["--qi", qi, "--sampling-fraction", fraction, "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
}

/// The three estimates, as shares of the population, computed in Python.
fn independent(qi: &str, fraction: f64) -> serde_json::Value {
    let py = tsunagu_testkit::python(&[SCIPY, "pandas"]);
    let script = r#"
import json, sys, math
import numpy as np
import pandas as pd
from scipy import stats, optimize, special

df = pd.read_csv(sys.argv[1], sep=';', dtype=str, keep_default_na=False)
qi = sys.argv[2].split(',')
pi = float(sys.argv[3])
sizes = df.groupby(qi).size().to_numpy()
n = int(sizes.sum())
N = n / pi
K = float(np.prod([df[q].nunique() for q in qi]))
f = {}
for s in sizes:
    f[int(s)] = f.get(int(s), 0) + 1
f1, f2, k = f.get(1, 0), f.get(2, 0), len(sizes)
res = {}

# Zayatz: P(population unique | sample unique) with the class-size distribution taken from the
# sample; Pr(exactly one of a class of i drawn) is hypergeometric.
Nint = int(round(N))
p1 = {i: stats.hypergeom.pmf(1, Nint, i, n) for i in f}
res['zayatz'] = f1 * (f[1] / k * p1[1]) / sum(f[i] / k * p1[i] for i in f) / N

# Pitman: maximise the log-likelihood of the sampling formula over (theta, alpha).
def nll(x):
    theta, alpha = x
    if not (0 < alpha < 1 and theta > -alpha):
        return 1e300
    l = np.sum(np.log(theta + np.arange(1, k) * alpha))
    l -= np.sum(np.log(theta + np.arange(1, n)))
    for s, c in f.items():
        if s > 1:
            l += c * np.sum(np.log(np.arange(1, s) - alpha))
    return -l
best = optimize.minimize(nll, [1.0, 0.5], method='Nelder-Mead',
                         options={'xatol': 1e-12, 'fatol': 1e-12, 'maxiter': 20000, 'maxfev': 40000})
theta, alpha = best.x
res['pitman'] = min(1.0, math.exp(special.gammaln(theta + 1) - special.gammaln(theta + alpha)) * N ** alpha / N)

# SNB: population class sizes 1 + NB(r, p) over K cells, each member sampled with probability pi;
# expected sample classes of size 1 and 2, by summing over population class sizes.
xs = np.arange(1, 20000)
def expected(r, p):
    px = stats.nbinom.pmf(xs - 1, r, p)
    e1 = np.sum(px * xs * pi * (1 - pi) ** (xs - 1))
    e2 = np.sum(px * xs * (xs - 1) / 2 * pi ** 2 * (1 - pi) ** (xs - 2))
    return e1, e2
def eqs(v):
    r, p = np.exp(v[0]), 1 / (1 + np.exp(-v[1]))
    e1, e2 = expected(r, p)
    return [K * e1 / f1 - 1, K * e2 / f2 - 1]
sol, info, ier, msg = optimize.fsolve(eqs, [0.0, 0.0], full_output=True, xtol=1e-13)
r, p = np.exp(sol[0]), 1 / (1 + np.exp(-sol[1]))
res['snb'] = min(1.0, K * p ** r / N) if ier == 1 else None
res['snb_residual'] = float(max(abs(x) for x in eqs(sol)))
print(json.dumps(res))
"#;
    let o = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(adult())
        .arg(qi)
        .arg(fraction.to_string())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn close(ours: &serde_json::Value, theirs: &serde_json::Value, rel: f64, what: &str) {
    let (a, b) = (ours.as_f64().unwrap(), theirs.as_f64().unwrap());
    assert!(
        (a - b).abs() <= rel * b.abs().max(1e-300),
        "{what}: ours {a}, independent {b}"
    );
}

#[test]
fn zayatz_and_pitman_match_independent_estimates_at_a_small_sampling_fraction() {
    let qi = "sex,age,race,education";
    let ours = risk(qi, "0.01");
    let theirs = independent(qi, 0.01);
    let pop = &ours["population"];
    close(&pop["zayatz"], &theirs["zayatz"], 1e-9, "zayatz");
    close(&pop["pitman"], &theirs["pitman"], 1e-5, "pitman");
    // Dankar's rule picks Pitman at π ≤ 0.1.
    assert_eq!(pop["dankar_model"], "pitman");
    close(&pop["dankar"], &theirs["pitman"], 1e-5, "dankar");
}

#[test]
fn snb_matches_an_independent_solution_of_its_moment_equations() {
    let qi = "sex,age,race,marital-status";
    let ours = risk(qi, "0.3");
    let theirs = independent(qi, 0.3);
    assert!(
        theirs["snb_residual"].as_f64().unwrap() < 1e-8,
        "the independent solve did not converge: {theirs}"
    );
    let pop = &ours["population"];
    close(&pop["snb"], &theirs["snb"], 1e-6, "snb");
    close(&pop["zayatz"], &theirs["zayatz"], 1e-9, "zayatz");
    assert_eq!(pop["dankar_model"], "snb");
}
