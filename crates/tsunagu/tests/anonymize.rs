//! `tsunagu anonymize` and `tsunagu risk`, run as the real binary on the ARX adult benchmark (copied into
//! `crates/anon/tests/data/adult`, see its README). Every output is checked for k, l and t by the Python package
//! pycanon (an implementation we did not write), after dropping the suppressed records (all quasi-identifiers `*`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PYCANON: &str = "pycanon==1.3.6";

fn adult_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../anon/tests/data/adult")
}

fn tsunagu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .args(args)
        .output()
        .expect("run tsunagu")
}

fn anonymize(dir: &Path, extra: &[&str]) -> (serde_json::Value, PathBuf) {
    let out = dir.join("out.csv");
    let report = dir.join("report.json");
    let input = adult_dir().join("adult.csv");
    let hier = adult_dir();
    let mut args = vec![
        "anonymize",
        input.to_str().unwrap(),
        "--hierarchies",
        hier.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = tsunagu(&args);
    assert!(
        o.status.success(),
        "anonymize failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (rep, out)
}

const QIS: [&str; 9] = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
];

/// Run a pycanon check script on the output; `qi` and `sa` are passed as JSON. The script prints one JSON object.
fn pycanon(out: &Path, qi: &[&str], sa: Option<&str>, body: &str) -> serde_json::Value {
    let py = tsunagu_testkit::python(&[PYCANON]);
    let script = format!(
        r#"
import json, sys
import pandas as pd
from pycanon import anonymity
df = pd.read_csv(sys.argv[1], sep=';', dtype=str, keep_default_na=False)
qi = json.loads(sys.argv[2])
sa = json.loads(sys.argv[3])
suppressed = (df[qi] == '*').all(axis=1)
kept = df[~suppressed].reset_index(drop=True)
res = {{"rows": len(df), "suppressed": int(suppressed.sum())}}
{body}
print(json.dumps(res))
"#
    );
    let o = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(out)
        .arg(serde_json::to_string(qi).unwrap())
        .arg(serde_json::to_string(&sa.map(|s| vec![s]).unwrap_or_default()).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn adult_k5_loss_matches_arx_and_pycanon_confirms_k() {
    let dir = tempfile::tempdir().unwrap();
    let (rep, out) = anonymize(
        dir.path(),
        &[
            "--k",
            "5",
            "--suppression-limit",
            "0.05",
            "--metric",
            "loss",
        ],
    );
    let levels: Vec<u64> = QIS
        .iter()
        .map(|q| rep["transformation"][q].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [0, 3, 0, 0, 2, 1, 1, 2, 0]);
    let score = rep["score"].as_f64().unwrap();
    assert!(
        ((score - 0.2419323650662908) / score).abs() < 1e-12,
        "{score}"
    );
    assert_eq!(rep["suppressed_records"], 1346);
    assert_eq!(rep["optimal"], true);
    assert_eq!(rep["records"], 30162);
    assert!(rep["transformations_checked"].as_u64().unwrap() > 0);
    assert!(rep["elapsed_ms"].as_f64().is_some());
    assert_eq!(rep["privacy_models"]["k"], 5);
    assert_eq!(rep["quasi_identifiers"], serde_json::json!(QIS));
    // Report keys keep the data file's column order.
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let pos: Vec<usize> = QIS
        .iter()
        .map(|q| text.find(&format!("\"{q}\": ")).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]));

    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), QIS.join(";"));
    assert_eq!(lines.clone().count(), 30162);
    assert_eq!(lines.filter(|l| *l == ["*"; 9].join(";")).count(), 1346);

    let res = pycanon(
        &out,
        &QIS,
        None,
        "res['k'] = int(anonymity.k_anonymity(kept, qi))",
    );
    assert_eq!(res["suppressed"], 1346);
    assert!(res["k"].as_u64().unwrap() >= 5, "{res}");
    assert!(res["suppressed"].as_u64().unwrap() <= (0.05f64 * 30162.0).floor() as u64);
}

#[test]
fn entropy_oracle_without_suppression_and_pycanon_k() {
    let dir = tempfile::tempdir().unwrap();
    let (rep, out) = anonymize(dir.path(), &["--k", "5", "--metric", "entropy-monotonic"]);
    let levels: Vec<u64> = QIS
        .iter()
        .map(|q| rep["transformation"][q].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [1, 2, 1, 1, 3, 2, 2, 1, 1]);
    let score = rep["score"].as_f64().unwrap();
    assert!(
        ((score - 407289.5388925293) / score).abs() < 1e-12,
        "{score}"
    );
    let res = pycanon(
        &out,
        &QIS,
        None,
        "res['k'] = int(anonymity.k_anonymity(df, qi))",
    );
    assert_eq!(res["suppressed"], 0);
    assert!(res["k"].as_u64().unwrap() >= 5);
}

#[test]
fn l_diversity_variants_hold_per_pycanon() {
    let qi: Vec<&str> = QIS.iter().copied().filter(|q| *q != "occupation").collect();
    for (variant, l, check) in [
        (
            "distinct",
            "4",
            "res['l'] = int(anonymity.l_diversity(kept, qi, sa))",
        ),
        // pycanon floors exp(entropy) to an integer, so a class with exactly three equally frequent values reads
        // 2.999… → 2; its value is checked against floor(l) and the exact entropy with pandas below.
        (
            "entropy",
            "3",
            "import numpy as np\nres['pycanon_l'] = int(anonymity.entropy_l_diversity(kept, qi, sa))\n\
             res['l'] = min(float(np.exp(-(p * np.log(p)).sum())) for _, g in kept.groupby(qi) \
             for p in [g[sa[0]].value_counts(normalize=True).to_numpy()]) + 1e-9",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (rep, out) = anonymize(
            dir.path(),
            &[
                "--k",
                "3",
                "--l",
                l,
                "--l-variant",
                variant,
                "--sensitive",
                "occupation",
                "--suppression-limit",
                "0.03",
            ],
        );
        assert_eq!(rep["optimal"], true);
        assert_eq!(rep["sensitive"], "occupation");
        assert!(
            rep["quasi_identifiers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|q| q != "occupation")
        );
        let res = pycanon(
            &out,
            &qi,
            Some("occupation"),
            &format!("{check}\nres['k'] = int(anonymity.k_anonymity(kept, qi))"),
        );
        assert!(
            res["l"].as_f64().unwrap() >= l.parse::<f64>().unwrap(),
            "{variant}: {res}"
        );
        if let Some(p) = res.get("pycanon_l") {
            assert!(
                p.as_f64().unwrap() >= l.parse::<f64>().unwrap() - 1.0,
                "{variant}: {res}"
            );
        }
        assert!(res["k"].as_u64().unwrap() >= 3);
        assert!(res["suppressed"].as_u64().unwrap() <= (0.03f64 * 30162.0).floor() as u64);
        assert_eq!(res["suppressed"], rep["suppressed_records"]);
    }
}

#[test]
fn recursive_cl_diversity_holds() {
    // pycanon 1.3.6's recursive_c_l_diversity sorts the value counts ascending, so it does not check the
    // definition (r1 is the largest count); this check is an independent pandas implementation of it.
    let qi: Vec<&str> = QIS.iter().copied().filter(|q| *q != "occupation").collect();
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = anonymize(
        dir.path(),
        &[
            "--k",
            "2",
            "--l",
            "3",
            "--l-variant",
            "recursive",
            "--c",
            "2",
            "--sensitive",
            "occupation",
            "--suppression-limit",
            "0.02",
        ],
    );
    let res = pycanon(
        &out,
        &qi,
        Some("occupation"),
        r#"
ok = True
for _, g in kept.groupby(qi):
    r = sorted(g[sa[0]].value_counts().tolist(), reverse=True)
    if len(r) < 3 or not (r[0] < 2 * sum(r[2:])):
        ok = False
res['ok'] = ok
"#,
    );
    assert_eq!(res["ok"], true, "{res}");
}

#[test]
fn t_closeness_equal_distance_holds_per_pycanon() {
    let qi: Vec<&str> = QIS
        .iter()
        .copied()
        .filter(|q| *q != "salary-class")
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (rep, out) = anonymize(
        dir.path(),
        &["--k", "2", "--t", "0.15", "--sensitive", "salary-class"],
    );
    assert_eq!(rep["suppressed_records"], 0);
    let res = pycanon(
        &out,
        &qi,
        Some("salary-class"),
        "res['t'] = float(anonymity.t_closeness(df, qi, sa))",
    );
    assert!(res["t"].as_f64().unwrap() <= 0.15 + 1e-12, "{res}");
}

#[test]
fn bad_inputs_fail_with_row_and_column_but_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let hier = adult_dir();
    // A value absent from its hierarchy (a made-up age), and a ragged record.
    let mut text = std::fs::read_to_string(adult_dir().join("adult.csv")).unwrap();
    text = text.replacen("Male;39;", "Male;1234;", 1);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, &text).unwrap();
    let out = dir.path().join("o.csv");
    let rep = dir.path().join("r.json");
    let args = |input: &Path| {
        vec![
            "anonymize".to_owned(),
            input.to_str().unwrap().to_owned(),
            "--hierarchies".to_owned(),
            hier.to_str().unwrap().to_owned(),
            "--k".to_owned(),
            "5".to_owned(),
            "--out".to_owned(),
            out.to_str().unwrap().to_owned(),
            "--report".to_owned(),
            rep.to_str().unwrap().to_owned(),
        ]
    };
    let a = args(&bad);
    let o = tsunagu(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("record 1") && err.contains("column age"),
        "{err}"
    );
    assert!(!err.contains("1234"), "the value must not be echoed: {err}");

    let ragged = dir.path().join("ragged.csv");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "Male;39;White";
    std::fs::write(&ragged, lines.join("\n")).unwrap();
    let a = args(&ragged);
    let o = tsunagu(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("record 1 (line 2)") && err.contains("3 fields"),
        "{err}"
    );

    // A quasi-identifier without a hierarchy is a usage error.
    let mut a = args(&adult_dir().join("adult.csv"));
    a.extend(["--qi".to_owned(), "sex,nonexistent".to_owned()]);
    let o = tsunagu(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A ragged hierarchy file: named with its line, and the exit code says bad input.
    let hdir = dir.path().join("hier");
    std::fs::create_dir(&hdir).unwrap();
    std::fs::write(hdir.join("x_hierarchy_sex.csv"), "Male;*\nFemale\n").unwrap();
    let mut a = args(&adult_dir().join("adult.csv"));
    a[3] = hdir.to_str().unwrap().to_owned();
    let o = tsunagu(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("x_hierarchy_sex.csv") && err.contains("line 2"),
        "{err}"
    );
    assert!(!err.contains("Female"), "{err}");

    // k larger than the table cannot be satisfied.
    let mut a = args(&adult_dir().join("adult.csv"));
    a[5] = "40000".to_owned();
    let o = tsunagu(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn heuristic_reports_not_optimal_and_output_is_k_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let (rep, out) = anonymize(
        dir.path(),
        &[
            "--k",
            "5",
            "--suppression-limit",
            "0.05",
            "--search",
            "heuristic",
            "--time-limit",
            "2",
        ],
    );
    assert_eq!(rep["optimal"], false);
    assert_eq!(rep["search"], "heuristic");
    // The heuristic can only be as good as the optimum.
    assert!(rep["score"].as_f64().unwrap() >= 0.2419323650662908 - 1e-12);
    let res = pycanon(
        &out,
        &QIS,
        None,
        "res['k'] = int(anonymity.k_anonymity(kept, qi))",
    );
    assert!(res["k"].as_u64().unwrap() >= 5);
}

#[test]
fn risk_report_counts_match_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("risk.json");
    let input = adult_dir().join("adult.csv");
    let o = tsunagu(&[
        "risk",
        input.to_str().unwrap(),
        "--qi",
        "sex,age,race,education",
        "--sampling-fraction",
        "0.01",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let res = pycanon(
        &input,
        &["sex", "age", "race", "education"],
        None,
        r#"
sizes = df.groupby(qi).size()
res['classes'] = int(len(sizes))
res['uniques'] = int((sizes == 1).sum())
res['k'] = int(anonymity.k_anonymity(df, qi))
"#,
    );
    assert_eq!(rep["classes"], res["classes"]);
    assert_eq!(rep["sample_uniques"], res["uniques"]);
    let k = res["k"].as_f64().unwrap();
    assert!((rep["prosecutor"]["highest"].as_f64().unwrap() - 1.0 / k).abs() < 1e-12);
    let avg = res["classes"].as_f64().unwrap() / 30162.0;
    assert!((rep["prosecutor"]["average"].as_f64().unwrap() - avg).abs() < 1e-12);
    let pop = &rep["population"];
    assert!((pop["sampling_fraction"].as_f64().unwrap() - 0.01).abs() < 1e-9);
    assert_eq!(pop["dankar_model"], "pitman");
    let u = pop["dankar"].as_f64().unwrap();
    assert!(u > 0.0 && u < 1.0, "{u}");
}

/// Population tests: adult is the population, and the research subset is every tenth record of it (3,017 records),
/// written to `dir`. Returns the subset's path.
fn adult_subset(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(adult_dir().join("adult.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = vec![lines.next().unwrap()];
    out.extend(
        lines
            .enumerate()
            .filter(|(i, _)| i % 10 == 0)
            .map(|(_, l)| l),
    );
    let path = dir.join("subset.csv");
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    path
}

/// Header and rows of a `;` file, split by hand (no engine code).
fn read_semicolon(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let split = |l: &str| -> Vec<String> { l.split(';').map(str::to_owned).collect() };
    let header = split(lines.next().unwrap());
    (header, lines.map(split).collect())
}

/// value → its label at `level`, read from an ARX hierarchy file (column `level` of the value's line).
fn generalizer(attr: &str, level: usize) -> std::collections::HashMap<String, String> {
    let path = adult_dir().join(format!("adult_hierarchy_{attr}.csv"));
    let (first, rest) = read_semicolon(&path);
    std::iter::once(first)
        .chain(rest)
        .map(|cells| (cells[0].clone(), cells[level].clone()))
        .collect()
}

/// Independent check of a population run: every released class of `out` (records not all `*`) is matched with the
/// population records (adult) generalized by the reported transformation. Returns (min δ, max δ, smallest
/// population class, suppressed records).
fn population_figures(out: &Path, rep: &serde_json::Value, qi: &[&str]) -> (f64, f64, u32, usize) {
    use std::collections::HashMap;
    let (header, rows) = read_semicolon(out);
    let (pheader, prows) = read_semicolon(&adult_dir().join("adult.csv"));
    let cols: Vec<usize> = qi
        .iter()
        .map(|q| header.iter().position(|h| h == q).unwrap())
        .collect();
    let pcols: Vec<usize> = qi
        .iter()
        .map(|q| pheader.iter().position(|h| h == q).unwrap())
        .collect();
    let gens: Vec<HashMap<String, String>> = qi
        .iter()
        .map(|q| generalizer(q, rep["transformation"][q].as_u64().unwrap() as usize))
        .collect();
    let mut released: HashMap<Vec<String>, u32> = HashMap::new();
    let mut suppressed = 0;
    for r in &rows {
        let key: Vec<String> = cols.iter().map(|&c| r[c].clone()).collect();
        if key.iter().all(|v| v == "*") {
            suppressed += 1;
        } else {
            *released.entry(key).or_insert(0) += 1;
        }
    }
    let mut population: HashMap<Vec<String>, u32> = HashMap::new();
    for r in &prows {
        let key: Vec<String> = pcols
            .iter()
            .zip(&gens)
            .map(|(&c, g)| g[&r[c]].clone())
            .collect();
        *population.entry(key).or_insert(0) += 1;
    }
    let (mut lo, mut hi, mut min_pop) = (f64::INFINITY, f64::NEG_INFINITY, u32::MAX);
    for (key, &n) in &released {
        let p = population.get(key).copied().unwrap_or(0);
        assert!(
            p >= n,
            "a released class is larger than its population class"
        );
        let d = f64::from(n) / f64::from(p);
        lo = lo.min(d);
        hi = hi.max(d);
        min_pop = min_pop.min(p);
    }
    (lo, hi, min_pop, suppressed)
}

const POP_QIS: [&str; 5] = ["sex", "age", "race", "marital-status", "education"];

fn anonymize_subset(dir: &Path, extra: &[&str]) -> Output {
    let input = adult_subset(dir);
    let population = adult_dir().join("adult.csv");
    let hier = adult_dir();
    let out = dir.join("out.csv");
    let report = dir.join("report.json");
    let qi = POP_QIS.join(",");
    let mut args = vec![
        "anonymize",
        input.to_str().unwrap(),
        "--hierarchies",
        hier.to_str().unwrap(),
        "--qi",
        &qi,
        "--population",
        population.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tsunagu(&args)
}

#[test]
fn delta_presence_and_k_map_hold_by_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let o = anonymize_subset(
        dir.path(),
        &[
            "--delta-min",
            "0.08",
            "--delta-max",
            "0.12",
            "--k-map",
            "20",
            "--suppression-limit",
            "0.1",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(rep["records"], 3017);
    assert_eq!(rep["optimal"], true);
    let pm = &rep["privacy_models"];
    assert_eq!(pm["delta_presence"]["delta_min"], 0.08);
    assert_eq!(pm["delta_presence"]["delta_max"], 0.12);
    assert_eq!(pm["k_map"], 20);
    assert_eq!(pm["k"], 1);
    assert_eq!(rep["population"]["records"], 30162);

    let (lo, hi, min_pop, suppressed) =
        population_figures(&dir.path().join("out.csv"), &rep, &POP_QIS);
    assert!(
        (0.08..=0.12).contains(&lo) && (0.08..=0.12).contains(&hi),
        "{lo} {hi}"
    );
    assert!(min_pop >= 20, "{min_pop}");
    assert!(suppressed <= (0.1f64 * 3017.0).floor() as usize);
    assert_eq!(rep["suppressed_records"], suppressed);
    let p = &rep["population"];
    assert_eq!(p["min_delta"].as_f64().unwrap(), lo);
    assert_eq!(p["max_delta"].as_f64().unwrap(), hi);
    assert_eq!(p["min_population_class_size"], min_pop);
}

#[test]
fn unreachable_population_bounds_fail_clearly() {
    // Every tenth record: the released classes hold 3,017 records in at most 30,162 population records, so δmax
    // 0.05 cannot hold for all of them without suppression (3,017 > 0.05 · 30,162).
    let dir = tempfile::tempdir().unwrap();
    let o = anonymize_subset(dir.path(), &["--delta-max", "0.05"]);
    assert_eq!(o.status.code(), Some(6));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no transformation satisfies") && err.contains("δ-presence"),
        "{err}"
    );
    // More population records per class than the population has.
    let o = anonymize_subset(dir.path(), &["--k-map", "30163"]);
    assert_eq!(o.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&o.stderr).contains("30163-map"));

    // A population value missing from its hierarchy: named by population record and column, not echoed.
    let text = std::fs::read_to_string(adult_dir().join("adult.csv")).unwrap();
    let bad = dir.path().join("population.csv");
    std::fs::write(&bad, text.replacen("Male;50;", "Male;1234;", 1)).unwrap();
    let input = adult_subset(dir.path());
    let out = dir.path().join("o.csv");
    let rep = dir.path().join("r.json");
    let hier = adult_dir();
    let base = [
        "anonymize",
        input.to_str().unwrap(),
        "--hierarchies",
        hier.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
        rep.to_str().unwrap(),
    ];
    let mut a = base.to_vec();
    a.extend(["--population", bad.to_str().unwrap(), "--k-map", "2"]);
    let o = tsunagu(&a);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("population record 2, column age"), "{err}");
    assert!(!err.contains("1234"), "{err}");
    // Population models without a population, and a population without a model, are usage errors.
    let mut a = base.to_vec();
    a.extend(["--delta-min", "0.1"]);
    assert_eq!(tsunagu(&a).status.code(), Some(2));
    let population = adult_dir().join("adult.csv");
    let mut a = base.to_vec();
    a.extend(["--population", population.to_str().unwrap(), "--k", "2"]);
    assert_eq!(tsunagu(&a).status.code(), Some(2));
}
