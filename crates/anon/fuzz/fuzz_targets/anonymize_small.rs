//! A hierarchy and a column of values from arbitrary bytes, anonymized with every metric: never panics, and an
//! optimal result is a solution whose suppressed records stay within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_anon::{Dataset, Hierarchy, Metric, PrivacyModels, SearchConfig, search};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some((hier, values)) = text.split_once("\n--\n") else { return };
    let Ok(h) = Hierarchy::parse_arx("a", hier) else { return };
    if h.height() > 8 || h.domain_size() > 200 {
        return;
    }
    let values: Vec<&str> = values.lines().take(500).collect();
    let mut ds = Dataset::new(values.len());
    if ds.add_quasi_identifier("a", h.clone(), values.iter().copied()).is_err() {
        return;
    }
    let _ = ds.add_quasi_identifier("b", h, values.iter().rev().copied());
    for metric in [Metric::Loss, Metric::Entropy, Metric::Discernibility, Metric::Precision, Metric::Aecs] {
        for limit in [0.0, 0.1] {
            let models = PrivacyModels { k: 2, suppression_limit: limit, ..Default::default() };
            if let Ok(out) = search(&ds, &models, &SearchConfig::optimal(metric)) {
                assert!(out.best.solution);
                assert!(out.best.suppressed as f64 <= (limit * values.len() as f64).floor());
            }
        }
    }
});
