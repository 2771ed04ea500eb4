#![allow(missing_docs, clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;
use tsunagu_anon::*;
fn main() {
    let name = std::env::args().nth(1).unwrap_or("adult".into());
    let (ds, _, _) = common::load(&name, None);
    let g = classes::Grouping::new(&ds);
    let models = PrivacyModels {
        k: 5,
        suppression_limit: 0.05,
        ..Default::default()
    };
    let checker = Checker::new(&ds, &models).unwrap();
    let tables = metric::MetricTables::new(&ds, Metric::Loss);
    for lv in [
        vec![0u8; ds.heights().len()],
        ds.heights().iter().map(|h| (h / 2) as u8).collect(),
    ] {
        let t = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..100 {
            n += g.from_records(&lv).len();
        }
        let t1 = t.elapsed() / 100;
        let c = g.from_records(&lv);
        let t = std::time::Instant::now();
        for _ in 0..100 {
            std::hint::black_box(search::evaluate(&c, &checker, &tables));
        }
        println!(
            "{lv:?} classes {} group {:?} eval {:?}",
            n / 100,
            t1,
            t.elapsed() / 100
        );
    }
}
