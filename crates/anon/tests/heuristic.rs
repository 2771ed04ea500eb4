//! The heuristic on adult: deterministic for a seed and an evaluation budget, returns a solution, and never
//! claims a score below the proven optimum.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use tsunagu_anon::{Metric, PrivacyModels, SearchConfig, Strategy, search};

fn heuristic(seed: u64, budget: u64) -> SearchConfig {
    SearchConfig {
        strategy: Strategy::Heuristic,
        metric: Metric::Loss,
        // Long enough that the evaluation budget, not the clock, stops the search.
        time_limit: Some(Duration::from_secs(3600)),
        max_evaluations: Some(budget),
        seed,
    }
}

#[test]
fn heuristic_is_deterministic_and_never_beats_the_optimum() {
    let (ds, _, _) = common::load("adult", None);
    let models = PrivacyModels {
        k: 5,
        suppression_limit: 0.05,
        l_diversity: None,
        t_closeness: None,
    };
    let opt = search(&ds, &models, &SearchConfig::optimal(Metric::Loss)).unwrap();
    assert!(opt.optimal);
    for seed in [1, 2] {
        let a = search(&ds, &models, &heuristic(seed, 600)).unwrap();
        let b = search(&ds, &models, &heuristic(seed, 600)).unwrap();
        assert_eq!(a.best, b.best, "seed {seed}");
        assert_eq!(a.transformations_checked, b.transformations_checked);
        assert!(!a.optimal);
        assert!(a.best.solution);
        assert!(a.best.score >= opt.best.score, "seed {seed}");
        assert!(a.best.suppressed <= (0.05 * ds.records() as f64).floor() as u64);
    }
}
