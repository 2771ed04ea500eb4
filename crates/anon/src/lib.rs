//! tsunagu's anonymization engine: pure computation, no I/O, deterministic.
//!
//! * [`Hierarchy`]: generalization hierarchies in ARX's CSV format, stored as per-level lookup tables.
//! * [`Dataset`]: the table, dictionary-encoded (`u32` leaf indexes per quasi-identifier cell).
//! * [`PrivacyModels`]: k-anonymity, l-diversity (distinct, entropy, recursive), t-closeness (equal and hierarchical
//!   distance), with suppression up to a limit counted as ARX counts it; with a [`Population`] table,
//!   δ-presence and k-map ([`PopulationModels`]).
//! * [`Metric`]: loss, non-uniform entropy (and its monotonic variant), discernibility, precision, AECS, height, as
//!   ARX defines them.
//! * [`search()`]: optimal search of the generalization lattice with bound pruning and class roll-up (parallel), or a
//!   heuristic for lattices too large to enumerate.
//! * [`risk`]: re-identification risk (prosecutor, journalist, marketer) and population uniqueness (Pitman, Zayatz,
//!   SNB, Dankar's rule).
//!
//! The engine never sees files: callers parse CSV and hand over columns. Errors name columns and records, never
//! values (a value may be personal data).

pub mod classes;
pub mod data;
pub mod error;
pub mod hierarchy;
pub mod metric;
pub mod model;
pub mod population;
pub mod risk;
pub mod search;
pub mod setvalued;

pub use data::Dataset;
pub use error::AnonError;
pub use hierarchy::Hierarchy;
pub use metric::Metric;
pub use model::{Checker, LDiversity, PrivacyModels, TCloseness, TDistance};
pub use population::{DeltaPresence, Population, PopulationModels, PopulationSummary};
pub use search::{Evaluation, SearchConfig, SearchOutcome, Strategy, search, search_population};

/// Apply a transformation: evaluate it and say, per record, whether it is suppressed (its class breaks a model).
/// Fails with [`AnonError::NoSolution`] when the suppression would exceed the limit.
pub fn apply(
    data: &Dataset,
    models: &PrivacyModels,
    metric: Metric,
    levels: &[u8],
) -> Result<(Evaluation, Vec<bool>), AnonError> {
    apply_impl(data, models, None, metric, levels)
}

/// [`apply`] with models checked against a population table (δ-presence, k-map); the evaluation's `population`
/// holds the δ range and the smallest population class of the kept classes.
pub fn apply_population(
    data: &Dataset,
    models: &PrivacyModels,
    population: &Population,
    population_models: &PopulationModels,
    metric: Metric,
    levels: &[u8],
) -> Result<(Evaluation, Vec<bool>), AnonError> {
    apply_impl(
        data,
        models,
        Some((population, population_models)),
        metric,
        levels,
    )
}

fn apply_impl(
    data: &Dataset,
    models: &PrivacyModels,
    population: Option<(&Population, &PopulationModels)>,
    metric: Metric,
    levels: &[u8],
) -> Result<(Evaluation, Vec<bool>), AnonError> {
    if levels.len() != data.quasi_identifiers().len() {
        return Err(AnonError::Config(
            "one level per quasi-identifier is needed".into(),
        ));
    }
    for (q, &l) in data.quasi_identifiers().iter().zip(levels) {
        if l as usize >= q.hierarchy.height() {
            return Err(AnonError::Config(format!(
                "level {l} of {} is above its hierarchy",
                q.name
            )));
        }
    }
    if let Some((p, _)) = population {
        p.check_matches(data)?;
    }
    let checker = match population {
        Some((_, pm)) => Checker::with_population(data, models, pm)?,
        None => Checker::new(data, models)?,
    };
    let tables = metric::MetricTables::new(data, metric);
    let cls = classes::from_records(data, levels);
    let pop_counts = population
        .map(|(p, _)| classes::matching_counts(&cls, &classes::from_records(p.dataset(), levels)));
    let ev = search::evaluate_with(&cls, pop_counts.as_deref(), &checker, &tables);
    if !ev.solution {
        return Err(AnonError::NoSolution);
    }
    let empty: [(u32, u32); 0] = [];
    let bad: Vec<bool> = (0..cls.len())
        .map(|c| {
            let h: &[(u32, u32)] = if cls.hists.is_empty() {
                &empty
            } else {
                &cls.hists[c]
            };
            let p = pop_counts.as_ref().map(|p| p[c]);
            !checker.class_ok_with(cls.counts[c], h, p)
        })
        .collect();
    let of = classes::class_of_records(data, &cls);
    let suppressed = of
        .iter()
        .map(|&c| bad.get(c as usize).copied().unwrap_or(true))
        .collect();
    Ok((ev, suppressed))
}
