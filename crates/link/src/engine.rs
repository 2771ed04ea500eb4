//! The linkage run: blocking → comparison → u by sampling → m by EM → scoring → clustering.
//! Takes token tables only.

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::block::{self, BlockingRule};
use crate::cluster;
use crate::compare::{Comparator, CompareError};
use crate::model::{self, FieldWeight, Model, TermFrequencies};
use crate::record::TokenTable;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Pairs at or above this match probability are links.
    pub threshold: f64,
    /// Two sources: keep at most one link per record (greedy by probability).
    pub one_to_one: bool,
    /// Random pairs sampled to estimate u.
    pub u_samples: usize,
    /// EM iteration cap.
    pub max_em_iterations: usize,
    /// A blocking key group producing more pairs than this is skipped.
    pub max_block_pairs: u64,
    /// Seed of the u sample (runs are deterministic for a seed).
    pub seed: u64,
    /// Blocking rules; `None` for [`block::default_rules`].
    pub rules: Option<Vec<BlockingRule>>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            threshold: 0.5,
            one_to_one: false,
            u_samples: 1_000_000,
            max_em_iterations: 100,
            max_block_pairs: 250_000,
            seed: 0x0074_7375_6e61_6775,
            rules: None,
        }
    }
}

/// A scored candidate pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    /// Row in the left table.
    pub left: u32,
    /// Row in the right table (the same table when deduplicating).
    pub right: u32,
    /// Match probability.
    pub probability: f64,
    /// Packed comparison levels.
    pub pattern: u64,
}

/// One EM session that estimated m (Splink-style: on one blocking rule's pairs).
#[derive(Debug, Clone, Serialize)]
pub struct TrainingSession {
    /// The blocking rule whose pairs were used (its fields were not estimated).
    pub rule: String,
    /// Pairs in the session.
    pub pairs: usize,
    /// EM iterations.
    pub iterations: usize,
    /// Whether EM converged.
    pub converged: bool,
}

/// What a run did (counts and timings; no data).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStats {
    /// Records on the left.
    pub left_records: usize,
    /// Records on the right.
    pub right_records: usize,
    /// Candidate pairs after blocking.
    pub candidates: usize,
    /// Pairs per blocking rule (name, count).
    pub per_rule: Vec<(String, u64)>,
    /// Key groups skipped for size.
    pub skipped_blocks: u64,
    /// EM sessions that estimated m.
    pub training_sessions: Vec<TrainingSession>,
    /// Iterations of the final EM (λ only).
    pub em_iterations: usize,
    /// EM converged.
    pub em_converged: bool,
    /// Share of matches among candidates (final EM).
    pub lambda_candidates: f64,
    /// Expected number of matches.
    pub expected_matches: f64,
    /// Links at or above the threshold.
    pub links: usize,
    /// Seconds in blocking.
    pub seconds_blocking: f64,
    /// Seconds in comparing and training.
    pub seconds_training: f64,
    /// Seconds in scoring.
    pub seconds_scoring: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct LinkOutcome {
    /// Links at or above the threshold, sorted by (left, right).
    pub links: Vec<ScoredPair>,
    /// The fitted model.
    pub model: Model,
    /// Counts and timings.
    pub stats: LinkStats,
}

impl LinkOutcome {
    /// Per-field weights of a link.
    pub fn explain(
        &self,
        left: &TokenTable,
        right: &TokenTable,
        pair: &ScoredPair,
    ) -> Result<Vec<FieldWeight>, CompareError> {
        let cmp = Comparator::new(left, right)?;
        Ok(self.model.explain(&cmp, pair.left as usize, pair.pattern))
    }
}

/// Link two sources.
pub fn link(
    left: &TokenTable,
    right: &TokenTable,
    opts: &LinkOptions,
) -> Result<LinkOutcome, CompareError> {
    run(left, right, false, opts)
}

/// Deduplicate one source: links within it and a cluster label per record.
pub fn dedupe(
    table: &TokenTable,
    opts: &LinkOptions,
) -> Result<(LinkOutcome, Vec<u32>), CompareError> {
    let out = run(table, table, true, opts)?;
    let labels =
        cluster::connected_components(table.len(), out.links.iter().map(|p| (p.left, p.right)));
    Ok((out, labels))
}

fn run(
    left: &TokenTable,
    right: &TokenTable,
    dedupe: bool,
    opts: &LinkOptions,
) -> Result<LinkOutcome, CompareError> {
    let cmp = Comparator::new(left, right)?;
    let kinds = left.schema().fields.clone();
    let mut stats = LinkStats {
        left_records: left.len(),
        right_records: right.len(),
        ..LinkStats::default()
    };

    let t0 = Instant::now();
    let rules = opts
        .rules
        .clone()
        .unwrap_or_else(|| block::default_rules(left.schema()));
    let mut cands = block::candidates(left, right, dedupe, &rules, opts.max_block_pairs);
    stats.candidates = cands.len();
    stats.per_rule = rules
        .iter()
        .map(|r| r.name.clone())
        .zip(cands.per_rule.iter().copied())
        .collect();
    stats.skipped_blocks = cands.skipped_blocks;
    stats.seconds_blocking = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let patterns = Patterns::of(&cmp, &cands);
    let distinct = patterns.counts(0);
    let u_sample = model::sample_u(&cmp, dedupe, opts.u_samples, opts.seed);
    let n_total_pairs = if dedupe {
        (left.len() as f64) * (left.len().saturating_sub(1) as f64) / 2.0
    } else {
        (left.len() as f64) * (right.len() as f64)
    };
    let (m, sessions) = train_m(&cmp, dedupe, &rules, &cands, &patterns, &u_sample, opts);
    stats.training_sessions = sessions;
    // Which rules gave each pair matters to training only.
    cands.rules = Vec::new();
    // λ among all candidates with m and u fixed.
    let lambda0 = if cands.is_empty() {
        0.1
    } else {
        let expected0 = if dedupe {
            left.len() as f64 * 0.1
        } else {
            left.len().min(right.len()) as f64 * 0.5
        };
        (expected0 / cands.len() as f64).clamp(1e-4, 0.5)
    };
    let only_lambda = model::EmSettings {
        fix: model::Fix { m: true, u: true },
        max_iter: opts.max_em_iterations,
        tol: 1e-7,
    };
    let fit = model::em(&kinds, &distinct, m, u_sample.clone(), lambda0, only_lambda);
    stats.em_iterations = fit.iterations;
    stats.em_converged = fit.converged;
    stats.lambda_candidates = fit.lambda;
    let expected = fit.lambda * cands.len() as f64;
    stats.expected_matches = expected;
    let prior = if n_total_pairs > 0.0 {
        (expected / n_total_pairs).clamp(1e-12, 0.5)
    } else {
        0.5
    };
    // The random sample holds matches too (share `prior`); take them out of u.
    let u: Vec<Vec<f64>> = u_sample
        .iter()
        .zip(&fit.m)
        .map(|(us, ms)| {
            let floor = 1.0 / (opts.u_samples.max(1) as f64 * 10.0);
            us.iter()
                .zip(ms)
                .map(|(u, m)| ((u - prior * m) / (1.0 - prior)).max(floor.min(*u)))
                .collect()
        })
        .collect();
    let tf = kinds
        .iter()
        .enumerate()
        .map(|(f, k)| {
            k.term_frequency().then(|| {
                if dedupe {
                    TermFrequencies::count(&[left], f)
                } else {
                    TermFrequencies::count(&[left, right], f)
                }
            })
        })
        .collect();
    let model = Model {
        kinds,
        m: fit.m,
        u,
        prior,
        tf,
    };
    stats.seconds_training = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let mut links: Vec<ScoredPair> = cands
        .par_pairs()
        .enumerate()
        .filter_map(|(i, (a, b))| {
            let p = patterns.get(i);
            let probability = model.match_probability(&cmp, a as usize, p);
            (probability >= opts.threshold).then_some(ScoredPair {
                left: a,
                right: b,
                probability,
                pattern: p,
            })
        })
        .collect();
    if opts.one_to_one && !dedupe {
        let triples: Vec<(u32, u32, f64)> = links
            .iter()
            .map(|p| (p.left, p.right, p.probability))
            .collect();
        let keep = cluster::one_to_one(&triples);
        links = keep.into_iter().map(|i| links[i]).collect();
    }
    stats.links = links.len();
    stats.seconds_scoring = t2.elapsed().as_secs_f64();
    Ok(LinkOutcome {
        links,
        model,
        stats,
    })
}

/// The packed comparison patterns of the candidates, in their order: 32 bits each when the
/// schema has at most eight fields (the Japanese layout has eight), else 64.
enum Patterns {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Patterns {
    fn of(cmp: &Comparator<'_>, pairs: &block::Candidates) -> Patterns {
        let fields = cmp.left().schema().fields.len() as u32;
        if fields * crate::compare::LEVEL_BITS <= 32 {
            // The pattern has only the low 32 bits set.
            Patterns::Narrow(
                pairs
                    .par_pairs()
                    .map(|(a, b)| cmp.pattern(a as usize, b as usize) as u32)
                    .collect(),
            )
        } else {
            Patterns::Wide(
                pairs
                    .par_pairs()
                    .map(|(a, b)| cmp.pattern(a as usize, b as usize))
                    .collect(),
            )
        }
    }

    #[inline]
    fn get(&self, i: usize) -> u64 {
        match self {
            Patterns::Narrow(v) => v.get(i).map_or(0, |&p| u64::from(p)),
            Patterns::Wide(v) => v.get(i).copied().unwrap_or(0),
        }
    }

    /// See [`pattern_counts`].
    fn counts(&self, mask: u64) -> Vec<(u64, f64)> {
        match self {
            Patterns::Narrow(v) => pattern_counts(v, mask),
            Patterns::Wide(v) => pattern_counts(v, mask),
        }
    }

    /// See [`pattern_counts_where`].
    fn counts_where(&self, rules: &[u16], bit: u16, mask: u64) -> Vec<(u64, f64)> {
        match self {
            Patterns::Narrow(v) => pattern_counts_where(v, rules, bit, mask),
            Patterns::Wide(v) => pattern_counts_where(v, rules, bit, mask),
        }
    }
}

/// Distinct patterns with their counts, with the fields in `mask` (bit per field) set to
/// "missing".
fn pattern_counts<P: Copy + Into<u64> + Sync>(patterns: &[P], mask: u64) -> Vec<(u64, f64)> {
    let counts: HashMap<u64, f64> = patterns
        .par_iter()
        .fold(HashMap::new, |mut m: HashMap<u64, f64>, &p| {
            *m.entry(p.into() & !mask).or_default() += 1.0;
            m
        })
        .reduce(HashMap::new, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
            a
        });
    let mut distinct: Vec<(u64, f64)> = counts.into_iter().collect();
    distinct.sort_unstable_by_key(|p| p.0);
    distinct
}

/// As [`pattern_counts`], over the pairs whose rule mask has `bit`.
fn pattern_counts_where<P: Copy + Into<u64> + Sync>(
    patterns: &[P],
    rules: &[u16],
    bit: u16,
    mask: u64,
) -> Vec<(u64, f64)> {
    let counts: HashMap<u64, f64> = patterns
        .par_iter()
        .zip(rules.par_iter())
        .fold(HashMap::new, |mut m: HashMap<u64, f64>, (&p, r)| {
            if r & bit != 0 {
                *m.entry(p.into() & !mask).or_default() += 1.0;
            }
            m
        })
        .reduce(HashMap::new, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
            a
        });
    let mut distinct: Vec<(u64, f64)> = counts.into_iter().collect();
    distinct.sort_unstable_by_key(|p| p.0);
    distinct
}

/// Estimate m as Splink does: EM sessions, each on the pairs of one blocking rule, with u fixed
/// (random sampling) and the rule's own fields left out — on pairs chosen because they agree
/// on a field, that field's agreement says nothing about m, and treating it as evidence makes
/// EM call every candidate a match. Sessions are added until every field has been estimated
/// at least once; a field estimated in several sessions gets the mean.
///
/// A rule's pairs are those of the candidates that the rule produced (blocking records which
/// rules gave each pair), so their patterns are already known; only a rule past the 16th is
/// joined again.
fn train_m(
    cmp: &Comparator<'_>,
    dedupe: bool,
    rules: &[BlockingRule],
    all: &block::Candidates,
    all_patterns: &Patterns,
    u: &[Vec<f64>],
    opts: &LinkOptions,
) -> (Vec<Vec<f64>>, Vec<TrainingSession>) {
    let kinds = &cmp.left().schema().fields;
    let nf = kinds.len();
    let mut sum: Vec<Vec<f64>> = kinds.iter().map(|k| vec![0.0; k.levels().len()]).collect();
    let mut n = vec![0usize; nf];
    let mut sessions = Vec::new();
    for (r, rule) in rules.iter().enumerate() {
        let used: Vec<usize> = rule.fields();
        if (0..nf).all(|f| used.contains(&f) || n[f] > 0) {
            continue;
        }
        let mask = used.iter().fold(0u64, |m, &f| {
            m | (0xF << (f as u32 * crate::compare::LEVEL_BITS))
        });
        let (n_pairs, distinct) = if r < 16 {
            let bit = 1u16 << r;
            let n_pairs = all.rules.par_iter().filter(|&&m| m & bit != 0).count();
            (n_pairs, all_patterns.counts_where(&all.rules, bit, mask))
        } else {
            let cands = block::candidates(
                cmp.left(),
                cmp.right(),
                dedupe,
                std::slice::from_ref(rule),
                opts.max_block_pairs,
            );
            let patterns = Patterns::of(cmp, &cands);
            (cands.len(), patterns.counts(mask))
        };
        if n_pairs == 0 {
            continue;
        }
        let m0 = kinds.iter().map(|k| model::initial_m(*k)).collect();
        let settings = model::EmSettings {
            fix: model::Fix { m: false, u: true },
            max_iter: opts.max_em_iterations,
            tol: 1e-6,
        };
        let fit = model::em(kinds, &distinct, m0, u.to_vec(), 0.3, settings);
        for f in (0..nf).filter(|f| !used.contains(f)) {
            for (s, x) in sum[f].iter_mut().zip(&fit.m[f]) {
                *s += x;
            }
            n[f] += 1;
        }
        sessions.push(TrainingSession {
            rule: rule.name.clone(),
            pairs: n_pairs,
            iterations: fit.iterations,
            converged: fit.converged,
        });
    }
    let m = kinds
        .iter()
        .enumerate()
        .map(|(f, k)| {
            if n[f] == 0 {
                model::initial_m(*k)
            } else {
                sum[f].iter().map(|x| x / n[f] as f64).collect()
            }
        })
        .collect();
    (m, sessions)
}
