//! Property tests: on random small tables, the optimal search (with its pruning, tagging, anchors and roll-ups)
//! returns exactly what brute force over the whole lattice returns, and rolled-up classes equal counted ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use proptest::prelude::*;
use tsunagu_anon::classes::{self, Grouping};
use tsunagu_anon::search::{Lattice, evaluate};
use tsunagu_anon::{
    Checker, Dataset, Hierarchy, LDiversity, Metric, PrivacyModels, SearchConfig, TCloseness,
    TDistance, search,
};

/// A hierarchy over `n` values `v0..v{n-1}` with `levels` levels: level i groups values by `v / fan^i`.
fn hierarchy(name: &str, n: usize, levels: usize, fan: usize) -> Hierarchy {
    let mut text = String::new();
    for v in 0..n {
        let mut cells = vec![format!("v{v}")];
        for l in 1..levels - 1 {
            cells.push(format!("g{l}_{}", v / fan.pow(l as u32)));
        }
        if levels > 1 {
            cells.push("*".to_owned());
        }
        text.push_str(&cells.join(";"));
        text.push('\n');
    }
    Hierarchy::parse_arx(name, &text).unwrap()
}

fn table() -> impl Strategy<Value = (Vec<(usize, usize, usize)>, Vec<Vec<usize>>, Vec<usize>)> {
    // 2–4 attributes: (domain, levels, fan)
    prop::collection::vec((2usize..9, 2usize..5, 2usize..4), 2..5).prop_flat_map(|attrs| {
        let n_attr = attrs.len();
        let domains: Vec<usize> = attrs.iter().map(|a| a.0).collect();
        let rows = prop::collection::vec(
            prop::collection::vec(0usize..100, n_attr).prop_map(move |r| {
                r.iter()
                    .zip(&domains)
                    .map(|(x, d)| x % d)
                    .collect::<Vec<_>>()
            }),
            5..120,
        );
        let sens = prop::collection::vec(0usize..4, 120);
        (Just(attrs), rows, sens)
    })
}

fn dataset(
    attrs: &[(usize, usize, usize)],
    rows: &[Vec<usize>],
    sens: &[usize],
    with_sens: bool,
) -> Dataset {
    let mut ds = Dataset::new(rows.len());
    for (j, &(d, l, f)) in attrs.iter().enumerate() {
        let h = hierarchy(&format!("a{j}"), d, l, f);
        ds.add_quasi_identifier(
            &format!("a{j}"),
            h,
            rows.iter().map(|r| format!("v{}", r[j])),
        )
        .unwrap();
    }
    if with_sens {
        let h = hierarchy("s", 4, 3, 2);
        ds.set_sensitive(
            "s",
            sens[..rows.len()].iter().map(|v| format!("v{v}")),
            Some(h),
        )
        .unwrap();
    }
    ds
}

fn brute_force(
    ds: &Dataset,
    models: &PrivacyModels,
    metric: Metric,
) -> Option<(Vec<u8>, f64, u64)> {
    let lattice = Lattice::new(&ds.heights());
    let checker = Checker::new(ds, models).unwrap();
    let tables = tsunagu_anon::metric::MetricTables::new(ds, metric);
    let mut best: Option<(f64, u32, u64, Vec<u8>, u64)> = None;
    for idx in 0..lattice.size() as u64 {
        let lv = lattice.levels(idx);
        let e = evaluate(&classes::from_records(ds, &lv), &checker, &tables);
        if !e.solution {
            continue;
        }
        let h: u32 = lv.iter().map(|&l| u32::from(l)).sum();
        let cand = (e.score, h, idx, lv, e.suppressed);
        if best
            .as_ref()
            .is_none_or(|b| (cand.0, cand.1, cand.2) < (b.0, b.1, b.2))
        {
            best = Some(cand);
        }
    }
    best.map(|b| (b.3, b.0, b.4))
}

const METRICS: [Metric; 7] = [
    Metric::Loss,
    Metric::Entropy,
    Metric::EntropyMonotonic,
    Metric::Discernibility,
    Metric::Precision,
    Metric::Aecs,
    Metric::Height,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn optimal_search_equals_brute_force(
        (attrs, rows, sens) in table(),
        k in 1u32..6,
        limit in prop::sample::select(vec![0.0, 0.02, 0.1, 0.3]),
        metric in prop::sample::select(METRICS.to_vec()),
        model in 0usize..5,
    ) {
        let with_sens = model > 0;
        let ds = dataset(&attrs, &rows, &sens, with_sens);
        let models = PrivacyModels {
            k,
            suppression_limit: limit,
            l_diversity: match model {
                1 => Some(LDiversity::Distinct { l: 2 }),
                2 => Some(LDiversity::Entropy { l: 1.5 }),
                3 => Some(LDiversity::Recursive { c: 3.0, l: 2 }),
                _ => None,
            },
            t_closeness: (model == 4).then_some(TCloseness { t: 0.4, distance: TDistance::Hierarchical }),
        };
        let expected = brute_force(&ds, &models, metric);
        let got = search(&ds, &models, &SearchConfig::optimal(metric));
        match (expected, got) {
            (None, Err(tsunagu_anon::AnonError::NoSolution)) => {}
            (Some((lv, score, supp)), Ok(out)) => {
                prop_assert!(out.optimal);
                prop_assert_eq!(&out.best.levels, &lv);
                prop_assert_eq!(out.best.score, score);
                prop_assert_eq!(out.best.suppressed, supp);
            }
            (e, g) => prop_assert!(false, "brute force {:?} vs search {:?}", e, g.map(|o| o.best)),
        }
    }

    #[test]
    fn rolled_up_classes_equal_counted_classes((attrs, rows, sens) in table(), with_sens in any::<bool>(), seed in any::<u64>()) {
        let ds = dataset(&attrs, &rows, &sens, with_sens);
        let g = Grouping::new(&ds);
        let heights = ds.heights();
        let lattice = Lattice::new(&heights);
        let a = lattice.levels(seed % lattice.size() as u64);
        let b: Vec<u8> = a.iter().zip(&heights).enumerate()
            .map(|(j, (&l, &h))| if (seed >> j) & 1 == 1 { (h - 1) as u8 } else { l }).collect();
        let norm = |c: &tsunagu_anon::classes::Classes| {
            let mut v: Vec<(Vec<u32>, u32, Vec<(u32, u32)>)> = (0..c.len()).map(|i| {
                let mut codes = vec![0u32; heights.len()];
                c.codes(i, &mut codes);
                (codes, c.counts[i], c.hists.get(i).cloned().unwrap_or_default())
            }).collect();
            v.sort();
            v
        };
        let direct = classes::from_records(&ds, &b);
        let fast = g.classes(&b);
        let rolled = g.roll_up(&g.scan(&a), &b);
        prop_assert_eq!(norm(&direct), norm(&fast));
        prop_assert_eq!(norm(&direct), norm(&rolled));
    }
}
