//! Property test of δ-presence and k-map: on random populations and random research subsets of them, whatever
//! transformation the engine accepts satisfies the models by an independent check (plain `HashMap` counting over
//! generalized labels computed from the hierarchy's definition, no engine code), the engine claims "no solution"
//! only when brute force with that check finds none, and with the height metric its optimum is the brute-force one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::collections::HashMap;

use proptest::prelude::*;
use tsunagu_anon::{
    AnonError, Dataset, DeltaPresence, Hierarchy, Metric, Population, PopulationModels,
    PrivacyModels, SearchConfig, apply_population, search_population,
};

/// The label of value `v` at `level` in a hierarchy of `levels` levels that groups by `v / fan^level`.
fn label(v: usize, level: usize, levels: usize, fan: usize) -> String {
    if level == 0 {
        format!("v{v}")
    } else if level == levels - 1 {
        "*".to_owned()
    } else {
        format!("g{level}_{}", v / fan.pow(level as u32))
    }
}

fn hierarchy(name: &str, n: usize, levels: usize, fan: usize) -> Hierarchy {
    let mut text = String::new();
    for v in 0..n {
        let cells: Vec<String> = (0..levels).map(|l| label(v, l, levels, fan)).collect();
        text.push_str(&cells.join(";"));
        text.push('\n');
    }
    Hierarchy::parse_arx(name, &text).unwrap()
}

type Attrs = Vec<(usize, usize, usize)>;

/// Attributes (domain, levels, fan), population rows, and which rows are in the research subset.
fn tables() -> impl Strategy<Value = (Attrs, Vec<Vec<usize>>, Vec<bool>)> {
    prop::collection::vec((2usize..7, 2usize..5, 2usize..4), 1..4).prop_flat_map(|attrs| {
        let domains: Vec<usize> = attrs.iter().map(|a| a.0).collect();
        let n_attr = attrs.len();
        let rows = prop::collection::vec(
            prop::collection::vec(0usize..100, n_attr).prop_map(move |r| {
                r.iter()
                    .zip(&domains)
                    .map(|(x, d)| x % d)
                    .collect::<Vec<_>>()
            }),
            4..150,
        );
        let mask = prop::collection::vec(prop::bool::weighted(0.4), 150);
        (Just(attrs), rows, mask)
    })
}

struct Case {
    attrs: Attrs,
    research: Vec<Vec<usize>>,
    population: Vec<Vec<usize>>,
    k: u32,
    delta: Option<(f64, f64)>,
    k_map: Option<u32>,
    limit: f64,
}

impl Case {
    fn key(&self, row: &[usize], levels: &[u8]) -> Vec<String> {
        row.iter()
            .zip(&self.attrs)
            .zip(levels)
            .map(|((&v, &(_, h, fan)), &l)| label(v, l as usize, h, fan))
            .collect()
    }

    fn counts(&self, rows: &[Vec<usize>], levels: &[u8]) -> HashMap<Vec<String>, u32> {
        let mut m = HashMap::new();
        for r in rows {
            *m.entry(self.key(r, levels)).or_insert(0) += 1;
        }
        m
    }

    /// Whether a class of `n` research records in `p` population records satisfies the models.
    fn class_ok(&self, n: u32, p: u32) -> bool {
        let delta = f64::from(n) / f64::from(p);
        n >= self.k
            && self.k_map.is_none_or(|k| p >= k)
            && self.delta.is_none_or(|(lo, hi)| lo <= delta && delta <= hi)
    }

    /// Independent: research records in classes that break a model.
    fn suppressed(&self, levels: &[u8]) -> u64 {
        let pop = self.counts(&self.population, levels);
        self.counts(&self.research, levels)
            .iter()
            .filter(|(key, n)| !self.class_ok(**n, pop.get(*key).copied().unwrap_or(0)))
            .map(|(_, &n)| u64::from(n))
            .sum()
    }

    fn max_suppressed(&self) -> u64 {
        (self.limit * self.research.len() as f64).floor() as u64
    }

    fn all_levels(&self) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        for &(_, h, _) in &self.attrs {
            out = out
                .into_iter()
                .flat_map(|p| {
                    (0..h as u8).map(move |l| {
                        let mut q = p.clone();
                        q.push(l);
                        q
                    })
                })
                .collect();
        }
        out
    }
}

fn encode(case: &Case) -> (Dataset, Population) {
    let mut ds = Dataset::new(case.research.len());
    for (j, &(d, h, f)) in case.attrs.iter().enumerate() {
        ds.add_quasi_identifier(
            &format!("a{j}"),
            hierarchy(&format!("a{j}"), d, h, f),
            case.research.iter().map(|r| format!("v{}", r[j])),
        )
        .unwrap();
    }
    let pop = Population::encode(&ds, case.population.len(), |name| {
        let j: usize = name[1..].parse().unwrap();
        Some(
            case.population
                .iter()
                .map(|r| format!("v{}", r[j]))
                .collect::<Vec<_>>(),
        )
    })
    .unwrap();
    (ds, pop)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn accepted_transformations_satisfy_the_models_independently(
        (attrs, rows, mask) in tables(),
        k in prop::sample::select(vec![1u32, 2]),
        delta in prop::sample::select(vec![
            None, Some((0.0, 1.0)), Some((0.1, 0.6)), Some((0.2, 0.5)), Some((0.3, 1.0)), Some((0.0, 0.4)),
        ]),
        k_map in prop::sample::select(vec![None, Some(2u32), Some(3), Some(6)]),
        limit in prop::sample::select(vec![0.0, 0.05, 0.2, 0.5]),
        metric in prop::sample::select(vec![Metric::Height, Metric::Loss, Metric::Entropy]),
    ) {
        let mut research: Vec<Vec<usize>> =
            rows.iter().zip(&mask).filter(|(_, m)| **m).map(|(r, _)| r.clone()).collect();
        if research.is_empty() {
            research.push(rows[0].clone());
        }
        let case = Case { attrs, research, population: rows, k, delta, k_map, limit };
        let (ds, pop) = encode(&case);
        let models = PrivacyModels { k, suppression_limit: limit, ..Default::default() };
        let pm = PopulationModels {
            delta_presence: delta.map(|(delta_min, delta_max)| DeltaPresence { delta_min, delta_max }),
            k_map,
        };
        let solutions: Vec<Vec<u8>> = case
            .all_levels()
            .into_iter()
            .filter(|lv| case.suppressed(lv) <= case.max_suppressed())
            .collect();
        match search_population(&ds, &models, &pop, &pm, &SearchConfig::optimal(metric)) {
            Err(AnonError::NoSolution) => prop_assert!(solutions.is_empty(), "missed {:?}", solutions),
            Err(e) => prop_assert!(false, "{e}"),
            Ok(out) => {
                prop_assert!(out.optimal);
                let lv = out.best.levels.clone();
                let (ev, supp) = apply_population(&ds, &models, &pop, &pm, metric, &lv).unwrap();
                // The released records, counted independently.
                let kept: Vec<Vec<usize>> = case
                    .research
                    .iter()
                    .zip(&supp)
                    .filter(|(_, s)| !**s)
                    .map(|(r, _)| r.clone())
                    .collect();
                let n_supp = supp.iter().filter(|&&s| s).count() as u64;
                prop_assert_eq!(n_supp, out.best.suppressed);
                prop_assert!(n_supp <= case.max_suppressed());
                prop_assert_eq!(n_supp, case.suppressed(&lv));
                let released = case.counts(&kept, &lv);
                let population = case.counts(&case.population, &lv);
                let mut min_delta = f64::INFINITY;
                let mut max_delta = f64::NEG_INFINITY;
                let mut min_pop = u32::MAX;
                for (key, &n) in &released {
                    let p = population.get(key).copied().unwrap_or(0);
                    prop_assert!(case.class_ok(n, p), "class of {} in {} population records", n, p);
                    let d = f64::from(n) / f64::from(p);
                    min_delta = min_delta.min(d);
                    max_delta = max_delta.max(d);
                    min_pop = min_pop.min(p);
                }
                // Whole classes are suppressed: no suppressed record shares its class with a released one.
                for (r, _) in case.research.iter().zip(&supp).filter(|(_, s)| **s) {
                    prop_assert!(!released.contains_key(&case.key(r, &lv)));
                }
                match ev.population {
                    Some(s) => {
                        prop_assert_eq!(s.min_delta, min_delta);
                        prop_assert_eq!(s.max_delta, max_delta);
                        prop_assert_eq!(s.min_population_class_size, min_pop);
                    }
                    None => prop_assert!(released.is_empty()),
                }
                if metric == Metric::Height {
                    let best = solutions
                        .iter()
                        .map(|s| s.iter().map(|&l| f64::from(l)).sum::<f64>())
                        .fold(f64::INFINITY, f64::min);
                    prop_assert_eq!(out.best.score, best);
                }
            }
        }
    }
}
