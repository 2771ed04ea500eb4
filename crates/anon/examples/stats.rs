#![allow(missing_docs, clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;
use tsunagu_anon::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = &args[1];
    let k: u32 = args[2].parse().unwrap();
    let lim: f64 = args[3].parse().unwrap();
    let (ds, _, _) = common::load(name, None);
    let models = PrivacyModels {
        k,
        suppression_limit: lim,
        ..Default::default()
    };
    let metric = match args[4].as_str() {
        "loss" => Metric::Loss,
        "entropy" => Metric::Entropy,
        _ => Metric::EntropyMonotonic,
    };
    let cpu0 = cpu_ns();
    let t = std::time::Instant::now();
    let mut cfg = SearchConfig::optimal(metric);
    if let Some(secs) = args.get(5) {
        cfg.strategy = Strategy::Heuristic;
        cfg.time_limit = Some(std::time::Duration::from_secs_f64(secs.parse().unwrap()));
    }
    let out = search(&ds, &models, &cfg).unwrap();
    println!(
        "{:?} {} supp {} checked {} {:?} total {:?} cpu {:.1} ms",
        out.best.levels,
        out.best.score,
        out.best.suppressed,
        out.transformations_checked,
        out.elapsed,
        t.elapsed(),
        (cpu_ns() - cpu0) as f64 / 1e6
    );
    if std::env::var_os("STATS_FULL").is_none() {
        return;
    }
    // stats over the whole lattice
    let heights = ds.heights();
    let lat = search::Lattice::new(&heights);
    let checker = Checker::new(&ds, &models).unwrap();
    let tables = metric::MetricTables::new(&ds, metric);
    let mut sol_lb = 0;
    let mut non_lb = 0;
    let mut total_classes = 0usize;
    let mut non = std::collections::HashSet::new();
    let t = std::time::Instant::now();
    for idx in 0..lat.size() as u64 {
        let lv = lat.levels(idx);
        let lb = tables.lower_bound(&lv);
        if lb < out.best.score {
            let c = classes::from_records(&ds, &lv);
            total_classes += c.len();
            let e = search::evaluate(&c, &checker, &tables);
            if e.solution {
                sol_lb += 1
            } else {
                non_lb += 1;
                non.insert(idx);
            }
        }
    }
    let mut maximal = 0;
    let mut maxcls = 0usize;
    for &idx in &non {
        let lv = lat.levels(idx);
        let mut any = false;
        for j in 0..lv.len() {
            if (lv[j] as usize) < heights[j] - 1 {
                let mut s = lv.clone();
                s[j] += 1;
                if non.contains(&lat.index(&s)) {
                    any = true;
                }
            }
        }
        if !any {
            maximal += 1;
            maxcls += classes::from_records(&ds, &lv).len();
        }
    }
    println!("maximal non-solutions {maximal} classes {maxcls}");
    println!(
        "LB<best: solutions {sol_lb}, non-solutions {non_lb}, classes {total_classes} ({:?} from records)",
        t.elapsed()
    );
}
#[allow(dead_code)]
fn bench_group() {}

fn cpu_ns() -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path().join("schedstat");
        if let Ok(t) = std::fs::read_to_string(p) {
            total += t.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    total
}
