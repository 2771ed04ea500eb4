//! ARX 3.9's optimal results on the adult benchmark (issue 5), reproduced value for value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use tsunagu_anon::{Metric, PrivacyModels, SearchConfig, search};

fn run(k: u32, limit: f64, metric: Metric) -> tsunagu_anon::SearchOutcome {
    let (ds, _, _) = common::load("adult", None);
    let models = PrivacyModels {
        k,
        suppression_limit: limit,
        ..Default::default()
    };
    search(&ds, &models, &SearchConfig::optimal(metric)).unwrap()
}

fn check(out: &tsunagu_anon::SearchOutcome, levels: [u8; 9], score: f64, suppressed: u64) {
    eprintln!(
        "{:?} score {} suppressed {} checked {} in {:?}",
        out.best.levels,
        out.best.score,
        out.best.suppressed,
        out.transformations_checked,
        out.elapsed
    );
    assert!(out.optimal);
    assert_eq!(out.best.levels, levels.to_vec());
    assert!(
        ((out.best.score - score) / score).abs() < 1e-12,
        "score {} vs {score}",
        out.best.score
    );
    assert_eq!(out.best.suppressed, suppressed);
    assert!(out.best.min_class_size >= 5);
}

#[test]
fn adult_k5_no_suppression_entropy_monotonic() {
    let out = run(5, 0.0, Metric::EntropyMonotonic);
    check(&out, [1, 2, 1, 1, 3, 2, 2, 1, 1], 407289.5388925293, 0);
}

#[test]
fn adult_k5_no_suppression_entropy_nonmonotonic_is_the_same() {
    let out = run(5, 0.0, Metric::Entropy);
    check(&out, [1, 2, 1, 1, 3, 2, 2, 1, 1], 407289.5388925293, 0);
}

#[test]
fn adult_k5_5pct_loss() {
    let out = run(5, 0.05, Metric::Loss);
    check(&out, [0, 3, 0, 0, 2, 1, 1, 2, 0], 0.2419323650662908, 1346);
}

#[test]
fn adult_k5_2pct_loss() {
    let out = run(5, 0.02, Metric::Loss);
    check(&out, [0, 3, 0, 2, 2, 1, 1, 2, 0], 0.3137130352819242, 506);
}

#[test]
fn adult_k5_5pct_entropy() {
    let out = run(5, 0.05, Metric::Entropy);
    check(&out, [0, 0, 1, 1, 2, 2, 2, 1, 1], 264341.93830412335, 1285);
}
