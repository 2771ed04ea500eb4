//! The metrics on a table small enough to compute by hand (see each comment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tsunagu_anon::{Dataset, Hierarchy, Metric, PrivacyModels, SearchConfig, apply, search};

/// One attribute: x, y → X; z → Z; root *. Records x, x, y, z. At level 1 the classes are X (3) and Z (1); with
/// k = 2 and a limit of 25 % (one record), Z is suppressed: N = 4, U = 3, S = 1.
fn table() -> Dataset {
    let h = Hierarchy::parse_arx("a", "x;X;*\ny;X;*\nz;Z;*\n").unwrap();
    let mut ds = Dataset::new(4);
    ds.add_quasi_identifier("a", h, ["x", "x", "y", "z"])
        .unwrap();
    ds
}

fn models() -> PrivacyModels {
    PrivacyModels {
        k: 2,
        suppression_limit: 0.25,
        ..Default::default()
    }
}

fn score(metric: Metric, level: u8) -> f64 {
    let (e, suppressed) = apply(&table(), &models(), metric, &[level]).unwrap();
    assert_eq!(e.suppressed, if level == 1 { 1 } else { 0 });
    assert_eq!(suppressed, vec![false, false, false, level == 1]);
    e.score
}

#[test]
fn loss() {
    // raw = 3 kept · |leaves(X)| / |D| + S = 3 · 2/3 + 1 = 3; min = N/|D| = 4/3;
    // x = (3 − 4/3) / (4 − 4/3) = 0.625; one attribute: score = x.
    assert!((score(Metric::Loss, 1) - 0.625).abs() < 1e-12);
    // at the root every record has share 1: x = 1
    assert!((score(Metric::Loss, 2) - 1.0).abs() < 1e-12);
}

#[test]
fn entropy() {
    // c0: x 2, y 1, z 1; c1: X 3, Z 1. E = 2·log2(3/2) + 1·log2(3/1) + 1·log2(1/1).
    let e = 2.0 * (1.5f64).log2() + 3f64.log2();
    let t = (e * 1e10).floor() / 1e10;
    assert!((score(Metric::EntropyMonotonic, 1) - t).abs() < 1e-12);
    // The only suppressed record's generalized value is Z: s(Z) = S = 1 adds 1·log2(1/1) = 0.
    assert!((score(Metric::Entropy, 1) - t).abs() < 1e-12);
}

#[test]
fn entropy_suppression_term() {
    // Two suppressed records with different generalized values add 2 · 1·log2(2/1) = 2 bits.
    let h = Hierarchy::parse_arx("a", "x;X;*\ny;X;*\nz;Z;*\nw;W;*\n").unwrap();
    let mut ds = Dataset::new(5);
    ds.add_quasi_identifier("a", h, ["x", "x", "y", "z", "w"])
        .unwrap();
    let models = PrivacyModels {
        k: 2,
        suppression_limit: 0.4,
        ..Default::default()
    };
    let mono = apply(&ds, &models, Metric::EntropyMonotonic, &[1])
        .unwrap()
        .0
        .score;
    let non = apply(&ds, &models, Metric::Entropy, &[1]).unwrap().0.score;
    assert!((non - mono - 2.0).abs() < 1e-9, "{non} {mono}");
}

#[test]
fn discernibility_precision_aecs_height() {
    // kept class X of 3: 3² + N·S = 9 + 4
    assert_eq!(score(Metric::Discernibility, 1), 13.0);
    // (U · L/(H−1) + S) / N = (3 · 1/2 + 1) / 4
    assert!((score(Metric::Precision, 1) - 0.625).abs() < 1e-15);
    // N / (kept classes + one class of suppressed records) = 4 / 2
    assert_eq!(score(Metric::Aecs, 1), 2.0);
    assert_eq!(score(Metric::Height, 1), 1.0);
}

#[test]
fn search_picks_level_one_and_rejects_level_zero() {
    // Level 0 would suppress y and z (2 > 1 allowed): not a solution.
    assert!(apply(&table(), &models(), Metric::Loss, &[0]).is_err());
    let out = search(&table(), &models(), &SearchConfig::optimal(Metric::Loss)).unwrap();
    assert_eq!(out.best.levels, vec![1]);
    assert_eq!(out.best.min_class_size, 3);
    assert_eq!(out.best.classes, 1);
}
