//! Re-identification risk of a table over its quasi-identifiers (values as they are, no generalization).
//!
//! Sample-based measures: a record in a class of `f` records has prosecutor risk `1/f`. Journalist risk uses the
//! estimated population class sizes `F = f/π` (π the sampling fraction; `F = f` when the table is the whole
//! population), marketer risk is the expected share of records correctly re-identified, `(1/n) Σ_classes f/F`.
//! Population uniqueness (how many people are unique in the population on these attributes) is estimated with
//! the models of Zayatz (1991), Pitman's sampling formula (Hoshino 2001) and the shifted negative binomial of
//! Chen & Keller-McNulty (1998), and the choice between them follows the decision rule of Dankar et al. (2012):
//! Pitman for sampling fractions up to 10 % (Zayatz when Pitman does not converge), SNB above (Zayatz when SNB does
//! not converge). See the crate README for the formulas.

use std::collections::HashMap;

use serde::Serialize;

use crate::classes::FxBuild;

/// Risk measures of one attacker model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttackerRisk {
    /// Highest risk of any record.
    pub highest: f64,
    /// Average risk over records.
    pub average: f64,
    /// Share of records whose risk is above the threshold.
    pub records_at_risk: f64,
}

/// Population uniqueness estimates: share of the population unique on the quasi-identifiers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PopulationUniqueness {
    /// Sampling fraction π = records / population.
    pub sampling_fraction: f64,
    /// Population size.
    pub population_size: f64,
    /// Zayatz's estimate (share of the population), if computable.
    pub zayatz: Option<f64>,
    /// Pitman's estimate, if the fit converged.
    pub pitman: Option<f64>,
    /// SNB's estimate, if the fit converged.
    pub snb: Option<f64>,
    /// The model Dankar's rule picks.
    pub dankar_model: Option<String>,
    /// Its estimate.
    pub dankar: Option<f64>,
}

/// The full risk report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RiskReport {
    /// Records of the table.
    pub records: u64,
    /// Equivalence classes.
    pub classes: u64,
    /// Records unique in the table.
    pub sample_uniques: u64,
    /// Share of records unique in the table.
    pub sample_uniqueness: f64,
    /// Risk threshold used for `records_at_risk`.
    pub threshold: f64,
    /// Prosecutor model (the attacker knows the person is in the table).
    pub prosecutor: AttackerRisk,
    /// Journalist model (the attacker matches against the population).
    pub journalist: AttackerRisk,
    /// Marketer model: expected share of records re-identified.
    pub marketer: f64,
    /// Population uniqueness estimates.
    pub population: PopulationUniqueness,
}

/// Sizes of the equivalence classes of a table given as columns of values (the quasi-identifiers).
pub fn class_sizes<S: AsRef<str>>(records: usize, columns: &[Vec<S>]) -> Vec<u32> {
    let mut dicts: Vec<HashMap<&str, u32>> = vec![HashMap::new(); columns.len()];
    let mut map: HashMap<Box<[u32]>, u32, FxBuild> = HashMap::default();
    let mut key = vec![0u32; columns.len()];
    for r in 0..records {
        for (j, col) in columns.iter().enumerate() {
            let d = &mut dicts[j];
            let next = d.len() as u32;
            key[j] = *d.entry(col[r].as_ref()).or_insert(next);
        }
        *map.entry(key.clone().into_boxed_slice()).or_insert(0) += 1;
    }
    let mut sizes: Vec<u32> = map.into_values().collect();
    sizes.sort_unstable();
    sizes
}

/// Compute the report from class sizes. `population_size` ≥ records (equal: the table is the population);
/// `threshold` is the per-record risk above which a record counts as at risk; `combinations` is the number of
/// possible value combinations of the quasi-identifiers (product of their domain sizes), used by SNB.
pub fn assess(
    sizes: &[u32],
    population_size: f64,
    threshold: f64,
    combinations: f64,
) -> RiskReport {
    let n: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
    let nf = n as f64;
    let classes = sizes.len() as u64;
    let pi = if population_size > 0.0 {
        (nf / population_size).min(1.0)
    } else {
        1.0
    };
    let uniques = sizes.iter().filter(|&&s| s == 1).count() as u64;
    let attacker = |f_of: &dyn Fn(u32) -> f64| {
        let mut highest: f64 = 0.0;
        let mut sum = 0.0;
        let mut at_risk = 0u64;
        for &s in sizes {
            let r = 1.0 / f_of(s);
            highest = highest.max(r);
            sum += f64::from(s) * r;
            if r > threshold {
                at_risk += u64::from(s);
            }
        }
        AttackerRisk {
            highest,
            average: if n == 0 { 0.0 } else { sum / nf },
            records_at_risk: if n == 0 { 0.0 } else { at_risk as f64 / nf },
        }
    };
    let prosecutor = attacker(&|s| f64::from(s));
    let journalist = attacker(&|s| (f64::from(s) / pi).max(f64::from(s)));
    let marketer = if n == 0 {
        0.0
    } else {
        sizes
            .iter()
            .map(|&s| f64::from(s) / (f64::from(s) / pi).max(f64::from(s)))
            .sum::<f64>()
            / nf
    };
    let population = population_uniqueness(sizes, population_size.max(nf), combinations);
    RiskReport {
        records: n,
        classes,
        sample_uniques: uniques,
        sample_uniqueness: if n == 0 { 0.0 } else { uniques as f64 / nf },
        threshold,
        prosecutor,
        journalist,
        marketer,
        population,
    }
}

/// Frequencies of class sizes: (size, number of classes), increasing size.
fn size_frequencies(sizes: &[u32]) -> Vec<(u32, u64)> {
    let mut m: HashMap<u32, u64> = HashMap::new();
    for &s in sizes {
        *m.entry(s).or_insert(0) += 1;
    }
    let mut v: Vec<(u32, u64)> = m.into_iter().collect();
    v.sort_unstable();
    v
}

/// Population uniqueness with every model and Dankar's choice.
pub fn population_uniqueness(
    sizes: &[u32],
    population: f64,
    combinations: f64,
) -> PopulationUniqueness {
    let n: f64 = sizes.iter().map(|&s| f64::from(s)).sum();
    let pi = if population > 0.0 {
        (n / population).min(1.0)
    } else {
        1.0
    };
    let freq = size_frequencies(sizes);
    let f1 = freq.iter().find(|e| e.0 == 1).map_or(0.0, |e| e.1 as f64);
    let (zayatz, pitman, snb) = if pi >= 1.0 {
        // The table is the population: its uniques are the population uniques.
        let u = f1 / population.max(1.0);
        (Some(u), Some(u), Some(u))
    } else {
        (
            zayatz(&freq, n, population).map(|u| u / population),
            pitman(&freq, n, population).map(|u| (u / population).min(1.0)),
            snb(&freq, pi, combinations).map(|u| (u / population).min(1.0)),
        )
    };
    let (dankar_model, dankar) = if pi <= 0.1 {
        match pitman {
            Some(v) => (Some("pitman".to_owned()), Some(v)),
            None => (zayatz.map(|_| "zayatz".to_owned()), zayatz),
        }
    } else {
        match snb {
            Some(v) => (Some("snb".to_owned()), Some(v)),
            None => (zayatz.map(|_| "zayatz".to_owned()), zayatz),
        }
    };
    PopulationUniqueness {
        sampling_fraction: pi,
        population_size: population,
        zayatz,
        pitman,
        snb,
        dankar_model,
        dankar,
    }
}

/// Probability that exactly one of the `i` members of a population class is drawn in a sample of `n` out of `big_n`
/// (hypergeometric), by the product form to stay exact for large populations.
fn hyper_one(i: u32, n: f64, big_n: f64) -> f64 {
    let mut p = f64::from(i) * n / big_n;
    for t in 1..i {
        let t = f64::from(t);
        p *= ((big_n - n) - (t - 1.0)).max(0.0) / (big_n - t);
        if p == 0.0 {
            break;
        }
    }
    p
}

/// Zayatz (1991): sample uniques times the probability that a sample unique is a population unique, with the
/// population's class-size distribution estimated by the sample's. Returns the number of population uniques.
fn zayatz(freq: &[(u32, u64)], n: f64, population: f64) -> Option<f64> {
    let total: f64 = freq.iter().map(|e| e.1 as f64).sum();
    if total == 0.0 {
        return None;
    }
    let f1 = freq.iter().find(|e| e.0 == 1).map_or(0.0, |e| e.1 as f64);
    let mut denom = 0.0;
    let mut num = 0.0;
    for &(size, count) in freq {
        let term = count as f64 / total * hyper_one(size, n, population);
        denom += term;
        if size == 1 {
            num = term;
        }
    }
    (denom > 0.0).then(|| f1 * num / denom)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-13).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Pitman's sampling formula fitted by maximum likelihood (Newton's method with step halving); the number of
/// population uniques is Γ(θ+1)/Γ(θ+α) · N^α (Hoshino 2001). `None` when the fit does not converge or leaves the
/// parameter space (0 < α < 1, θ > −α).
fn pitman(freq: &[(u32, u64)], n: f64, population: f64) -> Option<f64> {
    let k: f64 = freq.iter().map(|e| e.1 as f64).sum();
    let n_int = n as u64;
    if k < 2.0 || n_int < 2 || k >= n {
        return None;
    }
    let loglik = |theta: f64, alpha: f64| -> f64 {
        let mut l = 0.0;
        for i in 1..(k as u64) {
            l += (theta + i as f64 * alpha).ln();
        }
        for i in 1..n_int {
            l -= (theta + i as f64).ln();
        }
        for &(size, count) in freq {
            for i in 1..size {
                l += count as f64 * (f64::from(i) - alpha).ln();
            }
        }
        l
    };
    let derivs = |theta: f64, alpha: f64| -> ([f64; 2], [[f64; 2]; 2]) {
        let (mut gt, mut ga, mut htt, mut hta, mut haa) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 1..(k as u64) {
            let i = i as f64;
            let d = theta + i * alpha;
            gt += 1.0 / d;
            ga += i / d;
            htt -= 1.0 / (d * d);
            hta -= i / (d * d);
            haa -= i * i / (d * d);
        }
        for i in 1..n_int {
            let d = theta + i as f64;
            gt -= 1.0 / d;
            htt += 1.0 / (d * d);
        }
        for &(size, count) in freq {
            for i in 1..size {
                let d = f64::from(i) - alpha;
                ga -= count as f64 / d;
                haa -= count as f64 / (d * d);
            }
        }
        ([gt, ga], [[htt, hta], [hta, haa]])
    };
    let feasible = |t: f64, a: f64| a > 0.0 && a < 1.0 && t > -a;
    let (mut theta, mut alpha) = (1.0, 0.5);
    let mut l = loglik(theta, alpha);
    for _ in 0..200 {
        let (g, h) = derivs(theta, alpha);
        let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        // Newton step for a maximum; fall back to gradient ascent when the Hessian is not negative definite.
        let (mut dt, mut da) = if det > 0.0 && h[0][0] < 0.0 {
            (
                -(h[1][1] * g[0] - h[0][1] * g[1]) / det,
                -(-h[1][0] * g[0] + h[0][0] * g[1]) / det,
            )
        } else {
            (g[0] * 1e-3, g[1] * 1e-3)
        };
        let mut improved = false;
        for _ in 0..60 {
            let (t2, a2) = (theta + dt, alpha + da);
            if feasible(t2, a2) {
                let l2 = loglik(t2, a2);
                if l2 >= l {
                    let conv = (t2 - theta).abs() < 1e-9 * (1.0 + theta.abs())
                        && (a2 - alpha).abs() < 1e-12;
                    theta = t2;
                    alpha = a2;
                    l = l2;
                    improved = true;
                    if conv {
                        let u = (ln_gamma(theta + 1.0) - ln_gamma(theta + alpha)).exp()
                            * population.powf(alpha);
                        return u.is_finite().then_some(u);
                    }
                    break;
                }
            }
            dt /= 2.0;
            da /= 2.0;
        }
        if !improved {
            let u =
                (ln_gamma(theta + 1.0) - ln_gamma(theta + alpha)).exp() * population.powf(alpha);
            let (g, _) = derivs(theta, alpha);
            // Accept a stationary point only.
            return (g[0].abs() < 1e-6 * k && g[1].abs() < 1e-6 * k && u.is_finite()).then_some(u);
        }
    }
    None
}

/// Shifted negative binomial (Chen & Keller-McNulty 1998): population class sizes are `1 + NB(r, p)` over `K`
/// possible cells, the sample a Bernoulli(π) thinning. (r, p) solve the expected numbers of sample classes of
/// size 1 and 2 against the observed ones (Newton on two equations); population uniques are `K · p^r`.
fn snb(freq: &[(u32, u64)], pi: f64, combinations: f64) -> Option<f64> {
    let f1 = freq.iter().find(|e| e.0 == 1).map_or(0.0, |e| e.1 as f64);
    let f2 = freq.iter().find(|e| e.0 == 2).map_or(0.0, |e| e.1 as f64);
    let classes: f64 = freq.iter().map(|e| e.1 as f64).sum();
    let k = combinations.max(classes);
    if f1 == 0.0 || f2 == 0.0 || !(0.0..1.0).contains(&pi) || k <= 0.0 {
        return None;
    }
    let u0 = 1.0 - pi;
    // Expected sample classes of size 1 and 2 per cell, from the derivatives of the probability generating function.
    let model = |r: f64, p: f64| -> [f64; 2] {
        let q = 1.0 - p;
        let d = 1.0 - q * u0;
        let a = (p / d).powf(r);
        let e1 = pi * a * (1.0 + u0 * r * q / d);
        let g2 = a * (r * q / d * (1.0 + r * q * u0 / d) + r * q / (d * d));
        let e2 = pi * pi / 2.0 * g2;
        [k * e1 - f1, k * e2 - f2]
    };
    let (mut r, mut p) = (1.0f64, 0.5f64);
    for _ in 0..200 {
        let f = model(r, p);
        if f[0].abs() < 1e-9 * f1.max(1.0) && f[1].abs() < 1e-9 * f2.max(1.0) {
            let u = k * p.powf(r);
            return (u.is_finite() && u >= 0.0).then_some(u);
        }
        let hr = 1e-7 * r.max(1e-3);
        let hp = 1e-7 * p.max(1e-3);
        let fr = model(r + hr, p);
        let fp = model(r, p + hp);
        let j = [
            [(fr[0] - f[0]) / hr, (fp[0] - f[0]) / hp],
            [(fr[1] - f[1]) / hr, (fp[1] - f[1]) / hp],
        ];
        let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let mut dr = -(j[1][1] * f[0] - j[0][1] * f[1]) / det;
        let mut dp = -(-j[1][0] * f[0] + j[0][0] * f[1]) / det;
        let norm = |v: [f64; 2]| v[0].abs() / f1.max(1.0) + v[1].abs() / f2.max(1.0);
        let cur = norm(f);
        let mut ok = false;
        for _ in 0..60 {
            let (r2, p2) = (r + dr, p + dp);
            if r2 > 0.0 && p2 > 0.0 && p2 < 1.0 {
                let f2v = model(r2, p2);
                if norm(f2v) < cur {
                    r = r2;
                    p = p2;
                    ok = true;
                    break;
                }
            }
            dr /= 2.0;
            dp /= 2.0;
        }
        if !ok {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_measures() {
        // classes of sizes 1, 1, 2, 6 → 10 records
        let r = assess(&[1, 1, 2, 6], 10.0, 0.4, 100.0);
        assert_eq!(r.records, 10);
        assert_eq!(r.sample_uniques, 2);
        assert!((r.prosecutor.highest - 1.0).abs() < 1e-15);
        assert!((r.prosecutor.average - 0.4).abs() < 1e-15); // 4 classes / 10 records
        assert!((r.prosecutor.records_at_risk - 0.4).abs() < 1e-15); // sizes 1,1,2: risk 1, 1, 0.5 > 0.4
        assert_eq!(r.journalist, r.prosecutor);
        assert!((r.marketer - 0.4).abs() < 1e-15);
        assert_eq!(r.population.zayatz, Some(0.2));
    }

    #[test]
    fn journalist_scales_with_sampling() {
        let r = assess(&[1, 1, 2, 6], 100.0, 0.05, 1000.0);
        // F = f / 0.1: highest 1/10
        assert!((r.journalist.highest - 0.1).abs() < 1e-12);
        // Σ_classes f/F = 4 classes · π = 0.4, over 10 records
        assert!((r.marketer - 0.04).abs() < 1e-12);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..20u32 {
            f *= f64::from(n);
            assert!((ln_gamma(f64::from(n) + 1.0) - f.ln()).abs() < 1e-10, "{n}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn hypergeometric_single_draw() {
        // i = 2, n = 2, N = 4: P(exactly one) = 2*2/6 = 2/3
        assert!((hyper_one(2, 2.0, 4.0) - 2.0 / 3.0).abs() < 1e-12);
        assert!((hyper_one(1, 3.0, 10.0) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn models_estimate_something_sensible_on_a_sample() {
        // A skewed sample: many uniques and a long tail.
        let mut sizes = vec![1u32; 400];
        sizes.extend(std::iter::repeat_n(2, 150));
        sizes.extend(std::iter::repeat_n(3, 60));
        sizes.extend((4..60).map(|s| s as u32));
        let n: u32 = sizes.iter().sum();
        let pop = f64::from(n) * 20.0;
        let p = population_uniqueness(&sizes, pop, 1e6);
        let z = p.zayatz.unwrap();
        let pit = p.pitman.unwrap();
        assert!(z > 0.0 && z < 400.0 / f64::from(n), "{z}");
        assert!(pit > 0.0 && pit < 1.0, "{pit}");
        assert_eq!(p.dankar_model.as_deref(), Some("pitman"));
    }
}
