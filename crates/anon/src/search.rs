//! Search of the full-domain generalization lattice: optimal (exhaustive with pruning) and heuristic.
//!
//! **Optimal search.** Every transformation gets a lower bound of its score that depends on its levels only and
//! never decreases upwards in the lattice ([`MetricTables::lower_bound`]). We walk the lattice level by level
//! (level = sum of the generalization levels), bottom first. A node whose bound is not below the best score found
//! so far cannot be strictly better, and neither can any node above it, so it is never evaluated. Every evaluated
//! node's classes are rolled up from an evaluated direct predecessor (the one with the fewest classes) instead of
//! rescanning the records, and the nodes of one level are evaluated in parallel. The bound is exact for metrics that
//! depend on levels only (height, monotonic entropy, loss and precision without suppression), so for those the
//! search stops at the first level whose solutions dominate; for the non-monotonic metrics (loss with suppression,
//! entropy with its suppression term) it is the pruning of Flash's information-loss bound. Solutions are exactly the
//! nodes whose suppressed records (records in classes that break a model) are at most `floor(limit·N)`; the optimum is
//! the solution with the lowest score, suppressed records included, ties going to the lower node, then to the
//! first in lattice order (attribute 0 most significant).
//!
//! **Population models.** With δ-presence or k-map ([`search_population`]) the population table is grouped by the
//! same machinery as the data (same hierarchies, hence the same packed keys): each node's population classes are
//! rolled up alongside the data's and matched with them by key. k-map is monotonic and keeps predictive tagging;
//! δ-presence is not monotonic, so with it the search walks bottom-up with bound pruning only, as ARX does not
//! prune on it either.
//!
//! **Heuristic search.** For lattices too large to enumerate: steepest descent from the top node (always the
//! coarsest solution) through direct predecessors, evaluated in parallel, then lateral moves (one attribute down,
//! another up), then an iterated local search: restarts from seeded perturbations of a base local optimum (the
//! best, or a slightly worse one accepted by a random walk), with a perturbation that widens as restarts fail and
//! every third restart re-drawing up to every attribute, until the time limit or the evaluation budget. For a seed,
//! an evaluation budget and a thread count (lateral moves are evaluated in batches sized by the thread count) the
//! result is deterministic; with a wall-clock limit, how far it gets depends on the machine. Its result is not
//! proven optimal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::classes::{self, Classes, Grouping};
use crate::data::Dataset;
use crate::error::AnonError;
use crate::metric::{ClassSummary, Metric, MetricTables};
use crate::model::{Checker, PrivacyModels};
use crate::population::{Population, PopulationModels, PopulationSummary};

/// Largest lattice that optimal search accepts (its per-node state must fit in memory).
pub const MAX_OPTIMAL_LATTICE: u128 = 1 << 26;

/// Which search to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Exhaustive with pruning; proven optimal unless the time limit stops it.
    Optimal,
    /// Descent with restarts; never proven optimal.
    Heuristic,
}

/// Search configuration.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Strategy.
    pub strategy: Strategy,
    /// Metric to minimize.
    pub metric: Metric,
    /// Stop after this long (the heuristic always needs one; optimal search then reports `optimal = false`).
    pub time_limit: Option<Duration>,
    /// Stop the heuristic after this many evaluations (makes runs reproducible regardless of speed).
    pub max_evaluations: Option<u64>,
    /// Seed of the heuristic's perturbations.
    pub seed: u64,
}

impl SearchConfig {
    /// Optimal search for `metric`.
    pub fn optimal(metric: Metric) -> Self {
        SearchConfig {
            strategy: Strategy::Optimal,
            metric,
            time_limit: None,
            max_evaluations: None,
            seed: 0,
        }
    }
}

/// The outcome of evaluating one transformation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Generalization level per quasi-identifier (column order).
    pub levels: Vec<u8>,
    /// Whether the models hold within the suppression limit.
    pub solution: bool,
    /// Records suppressed.
    pub suppressed: u64,
    /// Score (lower is better); infinite for non-solutions.
    pub score: f64,
    /// Equivalence classes kept.
    pub classes: u64,
    /// Smallest kept class (0 when every record is suppressed).
    pub min_class_size: u32,
    /// With a population table: δ range and smallest population class of the kept classes (`None` without a
    /// population, for non-solutions, and when every record is suppressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population: Option<PopulationSummary>,
}

/// The result of a search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    /// The best transformation found.
    pub best: Evaluation,
    /// Whether it is proven optimal.
    pub optimal: bool,
    /// Transformations whose classes were computed.
    pub transformations_checked: u64,
    /// Size of the lattice.
    pub lattice_size: u128,
    /// Wall time of the search.
    pub elapsed: Duration,
}

/// Evaluate the classes of a transformation.
pub fn evaluate(classes: &Classes, checker: &Checker, tables: &MetricTables) -> Evaluation {
    evaluate_with(classes, None, checker, tables)
}

/// Evaluate the classes of a transformation, with, when the checker has population models, the population
/// records of each class (`population[c]` for class `c`, from [`classes::matching_counts`]).
pub fn evaluate_with(
    classes: &Classes,
    population: Option<&[u32]>,
    checker: &Checker,
    tables: &MetricTables,
) -> Evaluation {
    let n_attr = classes.levels.len();
    let mut sum = ClassSummary::default();
    let shares = tables.needs_shares();
    let supp_entropy = tables.needs_suppressed_entropy();
    if shares {
        sum.leaf_sums = vec![0; n_attr];
    }
    let mut supp_counts: Vec<HashMap<u32, u64>> = if supp_entropy {
        vec![HashMap::new(); n_attr]
    } else {
        Vec::new()
    };
    let mut codes = vec![0u32; n_attr];
    let mut min_class = u32::MAX;
    let empty: [(u32, u32); 0] = [];
    let with_hist = !classes.hists.is_empty();
    let mut pop = population.map(|_| PopulationSummary {
        min_delta: f64::INFINITY,
        max_delta: f64::NEG_INFINITY,
        min_population_class_size: u32::MAX,
    });
    for c in 0..classes.len() {
        let count = classes.counts[c];
        let hist: &[(u32, u32)] = if with_hist { &classes.hists[c] } else { &empty };
        let p = population.and_then(|p| p.get(c).copied());
        if checker.class_ok_with(count, hist, p) {
            if let (Some(s), Some(p)) = (pop.as_mut(), p) {
                let delta = if p == 0 {
                    f64::INFINITY
                } else {
                    f64::from(count) / f64::from(p)
                };
                s.min_delta = s.min_delta.min(delta);
                s.max_delta = s.max_delta.max(delta);
                s.min_population_class_size = s.min_population_class_size.min(p);
            }
            sum.kept += u64::from(count);
            sum.kept_classes += 1;
            sum.sum_sq += u128::from(count) * u128::from(count);
            min_class = min_class.min(count);
            if shares {
                classes.codes(c, &mut codes);
                for (j, s) in sum.leaf_sums.iter_mut().enumerate() {
                    *s += u64::from(count)
                        * tables.leaves[j][classes.levels[j] as usize][codes[j] as usize];
                }
            }
        } else {
            sum.suppressed += u64::from(count);
            if sum.suppressed > checker.max_suppressed {
                return Evaluation {
                    levels: classes.levels.clone(),
                    solution: false,
                    suppressed: sum.suppressed,
                    score: f64::INFINITY,
                    classes: sum.kept_classes,
                    min_class_size: 0,
                    population: None,
                };
            }
            if supp_entropy {
                classes.codes(c, &mut codes);
                for (j, m) in supp_counts.iter_mut().enumerate() {
                    *m.entry(codes[j]).or_insert(0) += u64::from(count);
                }
            }
        }
    }
    if supp_entropy && sum.suppressed > 0 {
        sum.suppressed_entropy = supp_counts
            .iter()
            .map(|m| MetricTables::suppressed_term(m, sum.suppressed))
            .collect();
    }
    let score = tables.score(&classes.levels, &sum);
    Evaluation {
        levels: classes.levels.clone(),
        solution: true,
        suppressed: sum.suppressed,
        score,
        classes: sum.kept_classes,
        min_class_size: if min_class == u32::MAX { 0 } else { min_class },
        population: pop.filter(|_| sum.kept_classes > 0),
    }
}

/// The classes of one transformation: the data's and, with population models, the population's (same levels).
struct NodeClasses {
    data: Classes,
    population: Option<Classes>,
}

impl NodeClasses {
    fn len(&self) -> usize {
        self.data.len() + self.population.as_ref().map_or(0, Classes::len)
    }
}

/// Counting and judging transformations: the data's grouping, the population's when a population model is set
/// (counted and rolled up by the same machinery, so a population class is never rescanned from the records when
/// a finer transformation's or an anchor's classes are at hand), the checks and the metric.
struct Evaluator<'a> {
    g: Grouping<'a>,
    pop: Option<Grouping<'a>>,
    checker: &'a Checker,
    tables: &'a MetricTables,
}

impl Evaluator<'_> {
    fn classes(&self, levels: &[u8]) -> NodeClasses {
        NodeClasses {
            data: self.g.classes(levels),
            population: self.pop.as_ref().map(|p| p.classes(levels)),
        }
    }

    fn roll_up(&self, source: &NodeClasses, levels: &[u8]) -> NodeClasses {
        NodeClasses {
            data: self.g.roll_up(&source.data, levels),
            population: match (&self.pop, &source.population) {
                (Some(p), Some(s)) => Some(p.roll_up(s, levels)),
                (Some(p), None) => Some(p.classes(levels)),
                (None, _) => None,
            },
        }
    }

    fn evaluate(&self, n: &NodeClasses) -> Evaluation {
        let counts = n
            .population
            .as_ref()
            .map(|p| classes::matching_counts(&n.data, p));
        evaluate_with(&n.data, counts.as_deref(), self.checker, self.tables)
    }

    fn evaluate_levels(&self, levels: &[u8]) -> Evaluation {
        self.evaluate(&self.classes(levels))
    }
}

/// The lattice's shape: levels per attribute and mixed-radix node indexes (attribute 0 most significant).
#[derive(Debug, Clone)]
pub struct Lattice {
    heights: Vec<usize>,
    strides: Vec<u64>,
    size: u128,
}

impl Lattice {
    /// Lattice of the given hierarchy heights.
    pub fn new(heights: &[usize]) -> Self {
        let mut strides = vec![0u64; heights.len()];
        let mut s: u128 = 1;
        for j in (0..heights.len()).rev() {
            strides[j] = s.min(u128::from(u64::MAX)) as u64;
            s = s.saturating_mul(heights[j] as u128);
        }
        Lattice {
            heights: heights.to_vec(),
            strides,
            size: s,
        }
    }

    /// Number of transformations.
    pub fn size(&self) -> u128 {
        self.size
    }

    /// Index of a node.
    pub fn index(&self, levels: &[u8]) -> u64 {
        levels
            .iter()
            .zip(&self.strides)
            .map(|(&l, &s)| u64::from(l) * s)
            .sum()
    }

    /// Levels of a node index.
    pub fn levels(&self, mut index: u64) -> Vec<u8> {
        self.strides
            .iter()
            .map(|&s| {
                let l = (index / s) as u8;
                index %= s;
                l
            })
            .collect()
    }

    /// The top node (every attribute at its root).
    pub fn top(&self) -> Vec<u8> {
        self.heights.iter().map(|&h| (h - 1) as u8).collect()
    }
}

fn validate(data: &Dataset) -> Result<(), AnonError> {
    if data.quasi_identifiers().is_empty() {
        return Err(AnonError::NoQuasiIdentifier);
    }
    if data
        .quasi_identifiers()
        .iter()
        .any(|q| q.hierarchy.height() > 255)
    {
        return Err(AnonError::Config(
            "a hierarchy has more than 255 levels".into(),
        ));
    }
    Ok(())
}

/// Find the best transformation of `data` under `models`.
pub fn search(
    data: &Dataset,
    models: &PrivacyModels,
    config: &SearchConfig,
) -> Result<SearchOutcome, AnonError> {
    search_impl(data, models, None, config)
}

/// Find the best transformation of `data` under `models` and the population models (δ-presence, k-map) checked
/// against `population`. With δ-presence, which is not monotonic, the optimal search never tags nodes below a
/// non-solution (see [`PopulationModels::monotonic`]); the heuristic starts from the top, so it finds nothing
/// when the top breaks δ-presence even if a finer transformation would not.
pub fn search_population(
    data: &Dataset,
    models: &PrivacyModels,
    population: &Population,
    population_models: &PopulationModels,
    config: &SearchConfig,
) -> Result<SearchOutcome, AnonError> {
    search_impl(data, models, Some((population, population_models)), config)
}

fn search_impl(
    data: &Dataset,
    models: &PrivacyModels,
    population: Option<(&Population, &PopulationModels)>,
    config: &SearchConfig,
) -> Result<SearchOutcome, AnonError> {
    validate(data)?;
    if let Some((p, _)) = population {
        p.check_matches(data)?;
    }
    let checker = match population {
        Some((_, pm)) => Checker::with_population(data, models, pm)?,
        None => Checker::new(data, models)?,
    };
    let tables = MetricTables::new(data, config.metric);
    let ev = Evaluator {
        g: Grouping::new(data),
        pop: population
            .filter(|(_, pm)| !pm.is_empty())
            .map(|(p, _)| Grouping::new(p.dataset())),
        checker: &checker,
        tables: &tables,
    };
    match config.strategy {
        Strategy::Optimal => optimal(data, &ev, config),
        Strategy::Heuristic => heuristic(data, &ev, config),
    }
}

fn height_of(levels: &[u8]) -> u32 {
    levels.iter().map(|&l| u32::from(l)).sum()
}

/// Ordering of solutions: score, then the lower node, then lattice order.
fn better(a: &Evaluation, a_idx: u64, b: &Evaluation, b_idx: u64) -> bool {
    (a.score, height_of(&a.levels), a_idx) < (b.score, height_of(&b.levels), b_idx)
}

/// Whether a node with lower bound `lb` could still beat `best` under [`better`].
fn may_beat(lb: f64, levels: &[u8], idx: u64, best: Option<&(u64, Evaluation)>) -> bool {
    match best {
        None => true,
        Some((bi, b)) => {
            lb < b.score
                || (lb == b.score && (height_of(levels), idx) < (height_of(&b.levels), *bi))
        }
    }
}

/// Evaluate the direct predecessors of `node` in parallel: the classes of their meet (every attribute one level
/// lower) are counted once from the records, and each predecessor is rolled up from them.
fn eval_predecessors(ev: &Evaluator, node: &[u8], skip: &dyn Fn(&[u8]) -> bool) -> Vec<Evaluation> {
    let preds: Vec<Vec<u8>> = (0..node.len())
        .filter(|&j| node[j] > 0)
        .map(|j| {
            let mut p = node.to_vec();
            p[j] -= 1;
            p
        })
        .filter(|p| !skip(p))
        .collect();
    if preds.is_empty() {
        return Vec::new();
    }
    let meet: Vec<u8> = node.iter().map(|&l| l.saturating_sub(1)).collect();
    let base = if preds.len() > 1 {
        Some(ev.classes(&meet))
    } else {
        None
    };
    preds
        .into_par_iter()
        .map(|p| {
            let cls = match &base {
                Some(b) => ev.roll_up(b, &p),
                None => ev.classes(&p),
            };
            ev.evaluate(&cls)
        })
        .collect()
}

/// Steepest descent from `start` (a solution) through solutions that improve the score. Every evaluation is
/// recorded in `seen`.
fn descend(
    ev: &Evaluator,
    start: Vec<u8>,
    seen: &mut HashMap<Vec<u8>, Evaluation>,
    stop: &dyn Fn(usize) -> bool,
) -> Vec<u8> {
    let mut current = start;
    while !stop(seen.len()) {
        let cur_score = seen.get(&current).map_or(f64::INFINITY, |e| e.score);
        let fresh = eval_predecessors(ev, &current, &|p| {
            seen.contains_key(p) || ev.tables.lower_bound(p) >= cur_score
        });
        for e in fresh {
            seen.insert(e.levels.clone(), e);
        }
        let step = (0..current.len())
            .filter(|&j| current[j] > 0)
            .filter_map(|j| {
                let mut p = current.clone();
                p[j] -= 1;
                seen.get(&p)
            })
            .filter(|e| e.solution && e.score < cur_score)
            .min_by(|a, b| {
                a.score
                    .total_cmp(&b.score)
                    .then_with(|| a.levels.cmp(&b.levels))
            });
        match step {
            Some(e) => current = e.levels.clone(),
            None => break,
        }
    }
    current
}

fn optimal(
    data: &Dataset,
    ev: &Evaluator,
    config: &SearchConfig,
) -> Result<SearchOutcome, AnonError> {
    let (checker, tables) = (ev.checker, ev.tables);
    let start = Instant::now();
    let heights = data.heights();
    let lattice = Lattice::new(&heights);
    if lattice.size() > MAX_OPTIMAL_LATTICE {
        return Err(AnonError::LatticeTooLarge {
            nodes: lattice.size(),
            max: MAX_OPTIMAL_LATTICE,
        });
    }
    let max_height: usize = heights.iter().map(|h| h - 1).sum();
    // Nodes grouped by level (sum of generalization levels), each in increasing index order.
    let mut by_level: Vec<Vec<u64>> = vec![Vec::new(); max_height + 1];
    for idx in 0..lattice.size() as u64 {
        let h: usize = lattice.levels(idx).iter().map(|&l| l as usize).sum();
        by_level[h].push(idx);
    }
    let timed_out = || config.time_limit.is_some_and(|t| start.elapsed() > t);

    // An upper bound first: one steepest descent from the top, so that the bound prunes from the start.
    let mut seen: HashMap<Vec<u8>, Evaluation> = HashMap::new();
    let top = lattice.top();
    let top_eval = ev.evaluate_levels(&top);
    seen.insert(top.clone(), top_eval.clone());
    if !top_eval.solution && checker.monotonic {
        return Err(AnonError::NoSolution);
    }
    let mut best: Option<(u64, Evaluation)> = None;
    if top_eval.solution {
        descend(ev, top, &mut seen, &|_| timed_out());
    }
    for e in seen.values() {
        if e.solution {
            let idx = lattice.index(&e.levels);
            if best.as_ref().is_none_or(|(bi, b)| better(e, idx, b, *bi)) {
                best = Some((idx, e.clone()));
            }
        }
    }
    let mut checked = seen.len() as u64;
    let mut stopped = false;

    if checker.monotonic {
        // Top-down with predictive tagging: a non-solution makes every node below it a non-solution.
        const UNKNOWN: u8 = 0;
        const NON_SOLUTION: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![UNKNOWN; lattice.size() as usize];
        let tag_down = |state: &mut Vec<u8>, idx: u64| {
            let mut stack = vec![idx];
            while let Some(i) = stack.pop() {
                let lv = lattice.levels(i);
                for (j, &l) in lv.iter().enumerate() {
                    if l > 0 {
                        let p = i - lattice.strides[j];
                        if state[p as usize] == UNKNOWN {
                            state[p as usize] = NON_SOLUTION;
                            stack.push(p);
                        }
                    }
                }
            }
        };
        for e in seen.values() {
            let idx = lattice.index(&e.levels);
            state[idx as usize] = DONE;
        }
        for e in seen.values() {
            if !e.solution {
                tag_down(&mut state, lattice.index(&e.levels));
            }
        }
        for level_nodes in by_level.iter().rev() {
            if timed_out() {
                stopped = true;
                break;
            }
            // Candidates in increasing bound order, in chunks, so that solutions found early prune the rest of the
            // level before it is counted.
            let mut cand: Vec<(f64, u64, Vec<u8>)> = level_nodes
                .iter()
                .filter(|&&i| state[i as usize] == UNKNOWN)
                .map(|&i| {
                    let lv = lattice.levels(i);
                    (tables.lower_bound(&lv), i, lv)
                })
                .collect();
            cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let chunk = 4 * rayon::current_num_threads().max(1);
            let mut pos = 0;
            while pos < cand.len() {
                let mut batch = Vec::with_capacity(chunk);
                while pos < cand.len() && batch.len() < chunk {
                    let (lb, i, lv) = &cand[pos];
                    pos += 1;
                    if may_beat(*lb, lv, *i, best.as_ref()) {
                        batch.push((*i, lv.clone()));
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let evals: Vec<(u64, Evaluation)> = batch
                    .into_par_iter()
                    .map(|(i, lv)| (i, ev.evaluate_levels(&lv)))
                    .collect();
                checked += evals.len() as u64;
                for (i, e) in evals {
                    state[i as usize] = DONE;
                    if e.solution {
                        if best.as_ref().is_none_or(|(bi, b)| better(&e, i, b, *bi)) {
                            best = Some((i, e));
                        }
                    } else {
                        tag_down(&mut state, i);
                    }
                }
            }
        }
    } else {
        // Bottom-up, rolling each node up from an evaluated direct predecessor.
        let mut prev: HashMap<u64, NodeClasses> = HashMap::new();
        for level_nodes in &by_level {
            if timed_out() {
                stopped = true;
                break;
            }
            let candidates: Vec<(u64, Vec<u8>)> = level_nodes
                .iter()
                .map(|&idx| (idx, lattice.levels(idx)))
                .filter(|(i, lv)| may_beat(tables.lower_bound(lv), lv, *i, best.as_ref()))
                .collect();
            if candidates.is_empty() {
                break;
            }
            let results: Vec<(u64, NodeClasses, Evaluation)> = candidates
                .into_par_iter()
                .map(|(idx, lv)| {
                    let source = (0..lv.len())
                        .filter(|&j| lv[j] > 0)
                        .filter_map(|j| prev.get(&(idx - lattice.strides[j])))
                        .min_by_key(|c| c.len());
                    let cls = match source {
                        Some(s) => ev.roll_up(s, &lv),
                        None => ev.classes(&lv),
                    };
                    let e = ev.evaluate(&cls);
                    (idx, cls, e)
                })
                .collect();
            checked += results.len() as u64;
            let mut next = HashMap::with_capacity(results.len());
            for (idx, cls, e) in results {
                if e.solution && best.as_ref().is_none_or(|(bi, b)| better(&e, idx, b, *bi)) {
                    best = Some((idx, e));
                }
                next.insert(idx, cls);
            }
            prev = next;
        }
    }
    let (_, best) = best.ok_or(AnonError::NoSolution)?;
    Ok(SearchOutcome {
        best,
        optimal: !stopped,
        transformations_checked: checked,
        lattice_size: lattice.size(),
        elapsed: start.elapsed(),
    })
}

/// splitmix64: a tiny deterministic generator for the heuristic's perturbations.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Relative score tolerance within which the heuristic's random walk accepts a worse local optimum as its base.
const ACCEPT_TOLERANCE: f64 = 0.01;
/// The heuristic returns to the best node after this many restarts without improvement.
const RETURN_TO_BEST: usize = 24;

fn heuristic(
    data: &Dataset,
    ev: &Evaluator,
    config: &SearchConfig,
) -> Result<SearchOutcome, AnonError> {
    let tables = ev.tables;
    let start = Instant::now();
    let heights = data.heights();
    let lattice = Lattice::new(&heights);
    let time_limit = config.time_limit.unwrap_or(Duration::from_secs(30));
    let budget = config.max_evaluations.unwrap_or(u64::MAX);
    let stop = |n: usize| start.elapsed() >= time_limit || n as u64 >= budget;
    let mut seen: HashMap<Vec<u8>, Evaluation> = HashMap::new();
    let mut rng = SplitMix(config.seed ^ 0x0074_7375_6e61_6775);

    let top = lattice.top();
    let top_eval = ev.evaluate_levels(&top);
    seen.insert(top.clone(), top_eval.clone());
    if !top_eval.solution {
        return Err(AnonError::NoSolution);
    }
    let mut best = top_eval.clone();
    let mut base = top_eval;
    let mut fails = 0usize;
    let mut start_node = top;
    loop {
        let mut end = descend(ev, start_node, &mut seen, &stop);
        // Lateral moves from the local optimum: one attribute one level down and another one level up. Only
        // neighbours whose lower bound could beat the current score are evaluated; the best improving one is
        // taken, followed by a new descent, until no lateral move improves.
        while !stop(seen.len()) {
            let cur = seen.get(&end).map_or(f64::INFINITY, |e| e.score);
            let mut moves = Vec::new();
            for a in 0..end.len() {
                for b in 0..end.len() {
                    if a != b && end[a] > 0 && (end[b] as usize) < heights[b] - 1 {
                        let mut n = end.clone();
                        n[a] -= 1;
                        n[b] += 1;
                        if !seen.contains_key(&n) && tables.lower_bound(&n) < cur {
                            moves.push(n);
                        }
                    }
                }
            }
            moves.sort_by(|x, y| {
                tables
                    .lower_bound(x)
                    .total_cmp(&tables.lower_bound(y))
                    .then_with(|| x.cmp(y))
            });
            let mut improved = None;
            for chunk in moves.chunks(4 * rayon::current_num_threads().max(1)) {
                if stop(seen.len()) {
                    break;
                }
                let evals: Vec<Evaluation> =
                    chunk.par_iter().map(|n| ev.evaluate_levels(n)).collect();
                for e in evals {
                    if e.solution
                        && e.score < cur
                        && improved
                            .as_ref()
                            .is_none_or(|b: &Evaluation| e.score < b.score)
                    {
                        improved = Some(e.clone());
                    }
                    seen.insert(e.levels.clone(), e);
                }
                if improved.is_some() {
                    break;
                }
            }
            match improved {
                Some(e) => end = descend(ev, e.levels, &mut seen, &stop),
                None => break,
            }
        }
        // Iterated local search: the local optimum just reached becomes the new base when it improves on the
        // best, or (random walk among local optima) when it is within a tolerance of the base that shrinks as
        // failures accumulate; after many failures the walk returns to the best node.
        if let Some(e) = seen.get(&end)
            && e.solution
        {
            if (e.score, &e.levels) < (best.score, &best.levels) {
                best = e.clone();
                base = e.clone();
                fails = 0;
            } else {
                fails += 1;
                let tolerance = ACCEPT_TOLERANCE / (1.0 + fails as f64 / 8.0);
                if e.levels != base.levels && e.score <= base.score * (1.0 + tolerance) {
                    base = e.clone();
                }
            }
        } else {
            fails += 1;
        }
        if fails > 0 && fails.is_multiple_of(RETURN_TO_BEST) {
            base = best.clone();
        }
        if stop(seen.len()) {
            break;
        }
        // Restart: perturb the base node (set attributes to random levels; more of them as failures accumulate,
        // so that the search reaches farther from a local optimum it cannot leave, and every third restart up to
        // all of them, a nearly fresh start), then raise random attributes until the node is a solution.
        let mut node = base.levels.clone();
        let reach = if (fails + 1).is_multiple_of(3) {
            node.len()
        } else {
            (3 + fails / 4).min(node.len())
        }
        .max(1);
        let changes = 1 + rng.below(reach as u64) as usize;
        for _ in 0..changes {
            let j = rng.below(node.len() as u64) as usize;
            node[j] = rng.below(heights[j] as u64) as u8;
        }
        loop {
            if !seen.contains_key(&node) {
                let e = ev.evaluate_levels(&node);
                seen.insert(node.clone(), e);
            }
            if seen.get(&node).is_some_and(|e| e.solution) || stop(seen.len()) {
                break;
            }
            let raisable: Vec<usize> = (0..node.len())
                .filter(|&j| (node[j] as usize) < heights[j] - 1)
                .collect();
            if raisable.is_empty() {
                break;
            }
            let j = raisable[rng.below(raisable.len() as u64) as usize];
            node[j] += 1;
        }
        start_node = node;
    }
    Ok(SearchOutcome {
        best,
        optimal: false,
        transformations_checked: seen.len() as u64,
        lattice_size: lattice.size(),
        elapsed: start.elapsed(),
    })
}
