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
    // Term frequencies need the tables only: counted while the u sample is compared, so that
    // their serial parts (each field's map) overlap the sample's parallel work.
    let (u_sample, tf) = rayon::join(
        || model::sample_u(&cmp, dedupe, opts.u_samples, opts.seed),
        || {
            kinds
                .par_iter()
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
                .collect::<Vec<_>>()
        },
    );
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
        .par_runs()
        .filter_map(|(i, a, b)| {
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

/// The comparison patterns of the candidates, in their order, each kept as its index among
/// the distinct patterns: a 100k × 100k linkage has about a million candidates but a few
/// thousand distinct patterns, so a candidate costs 2 bytes instead of 4 or 8, and counting
/// patterns for EM is a histogram of small integers instead of a hash lookup per candidate.
struct Patterns {
    /// The distinct packed patterns (see [`Comparator::pattern`]), by index.
    distinct: Vec<u64>,
    ids: PatternIds,
}

/// Candidates' indices into [`Patterns::distinct`]: 16 bits while there are at most 65,536
/// distinct patterns, 32 beyond.
enum PatternIds {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

/// Candidates whose patterns one task computes and numbers (a chunk has at most 65,536
/// distinct patterns, so its own numbers fit 16 bits).
const PATTERN_CHUNK: usize = 1 << 16;

/// Pairs one task reorders by right record at a time (a divisor of [`PATTERN_CHUNK`]; the
/// order costs 12 bytes a pair while it is sorted).
const SORT_SLICE: usize = 1 << 14;

/// Candidate pairs whose records are touched together before they are compared.
const TOUCH_GROUP: usize = 16;

type PatternMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<crate::record::MulHasher>>;

impl Patterns {
    fn of(cmp: &Comparator<'_>, pairs: &block::Candidates) -> Patterns {
        Patterns::of_sized(cmp, pairs, PATTERN_CHUNK, SORT_SLICE)
    }

    /// [`Patterns::of`] with tasks of `chunk` pairs (at most 2¹⁶) reordered `slice` pairs at a
    /// time (at most `chunk`).
    fn of_sized(
        cmp: &Comparator<'_>,
        pairs: &block::Candidates,
        chunk: usize,
        slice: usize,
    ) -> Patterns {
        let chunk = chunk.clamp(1, PATTERN_CHUNK);
        let slice = slice.clamp(1, chunk);
        // Each chunk numbers its patterns itself, in place; the chunks' numbers are then
        // mapped to global ones (few distinct patterns per chunk, so merging is cheap).
        let mut ids = vec![0u16; pairs.len()];
        let locals: Vec<Vec<u64>> = ids
            .par_chunks_mut(chunk)
            .enumerate()
            .map(|(c, out)| {
                let mut seen: PatternMap<u16> = PatternMap::default();
                let mut local = Vec::new();
                // Pairs come sorted by left record, so their right records are scattered over
                // the right table and each costs a few cache misses. Compared in the order of
                // their right records instead, slice by slice, both sides are read nearly in
                // table order (the left ones from a small window): patterns took a third less
                // time on 100k × 100k.
                let mut order: Vec<u64> = Vec::with_capacity(slice.min(out.len()));
                let mut lefts: Vec<u32> = Vec::with_capacity(slice.min(out.len()));
                for (s, part) in out.chunks_mut(slice).enumerate() {
                    let lo = c * chunk + s * slice;
                    order.clear();
                    lefts.clear();
                    for (k, (a, b)) in pairs.pairs_in(lo..lo + part.len()).enumerate() {
                        // k < slice ≤ 2¹⁶.
                        order.push(u64::from(b) << 16 | k as u64);
                        lefts.push(a);
                    }
                    order.sort_unstable();
                    // A group's records are touched before any of its pairs is compared, so
                    // that their cache misses overlap instead of following one another (the
                    // patterns of 100k x 100k took 15 % less time).
                    for group in order.chunks(TOUCH_GROUP) {
                        let mut touched = 0u32;
                        for &x in group {
                            let (b, k) = ((x >> 16) as usize, (x & 0xFFFF) as usize);
                            let a = lefts.get(k).map_or(0, |&a| a as usize);
                            touched ^= cmp.left().touch(a) ^ cmp.right().touch(b);
                        }
                        std::hint::black_box(touched);
                        for &x in group {
                            let (b, k) = ((x >> 16) as usize, (x & 0xFFFF) as usize);
                            let (Some(&a), Some(id)) = (lefts.get(k), part.get_mut(k)) else {
                                continue;
                            };
                            let p = cmp.pattern(a as usize, b);
                            *id = *seen.entry(p).or_insert_with(|| {
                                local.push(p);
                                // At most PATTERN_CHUNK entries: the index fits.
                                (local.len() - 1) as u16
                            });
                        }
                    }
                }
                // Renumbered in the order of first appearance among the pairs as they are
                // sorted, so that the distinct patterns (and EM's sums over them) come in the
                // same order whatever order they were computed in.
                let mut renumber = vec![u32::MAX; local.len()];
                let mut ordered = Vec::with_capacity(local.len());
                for id in out.iter_mut() {
                    let Some(n) = renumber.get_mut(usize::from(*id)) else {
                        continue;
                    };
                    if *n == u32::MAX {
                        *n = ordered.len() as u32;
                        ordered.push(local[usize::from(*id)]);
                    }
                    *id = *n as u16;
                }
                ordered
            })
            .collect();
        let mut global: PatternMap<u32> = PatternMap::default();
        let mut distinct = Vec::new();
        let remaps: Vec<Vec<u32>> = locals
            .iter()
            .map(|local| {
                local
                    .iter()
                    .map(|&p| {
                        *global.entry(p).or_insert_with(|| {
                            distinct.push(p);
                            (distinct.len() - 1) as u32
                        })
                    })
                    .collect()
            })
            .collect();
        let n = ids.len();
        let chunks = ids.par_chunks_mut(chunk).zip(remaps.par_iter());
        let ids = if distinct.len() <= 1 << 16 {
            chunks.for_each(|(out, remap)| {
                for id in out {
                    *id = remap[usize::from(*id)] as u16;
                }
            });
            PatternIds::Narrow(ids)
        } else {
            let mut wide = vec![0u32; n];
            wide.par_chunks_mut(chunk)
                .zip(chunks)
                .for_each(|(w, (out, remap))| {
                    for (x, id) in w.iter_mut().zip(out.iter()) {
                        *x = remap[usize::from(*id)];
                    }
                });
            PatternIds::Wide(wide)
        };
        Patterns { distinct, ids }
    }

    /// The pattern of candidate `i`.
    #[inline]
    fn get(&self, i: usize) -> u64 {
        let id = match &self.ids {
            PatternIds::Narrow(v) => v.get(i).map(|&x| usize::from(x)),
            PatternIds::Wide(v) => v.get(i).map(|&x| x as usize),
        };
        id.and_then(|x| self.distinct.get(x)).copied().unwrap_or(0)
    }

    /// Distinct patterns with their counts, with the fields in `mask` (bit per field) set to
    /// "missing".
    fn counts(&self, mask: u64) -> Vec<(u64, f64)> {
        self.merge(self.histogram(|_| true), mask)
    }

    /// As [`Patterns::counts`], over the candidates whose rule mask has `bit`.
    fn counts_where(&self, rules: &[u16], bit: u16, mask: u64) -> Vec<(u64, f64)> {
        self.merge(
            self.histogram(|i| rules.get(i).is_some_and(|r| r & bit != 0)),
            mask,
        )
    }

    /// How many of the candidates `keep` accepts have each distinct pattern.
    fn histogram(&self, keep: impl Fn(usize) -> bool + Sync) -> Vec<u64> {
        fn count<I: Copy + Sync>(
            ids: &[I],
            n: usize,
            index: impl Fn(I) -> usize + Sync,
            keep: &(impl Fn(usize) -> bool + Sync),
        ) -> Vec<u64> {
            ids.par_chunks(PATTERN_CHUNK)
                .enumerate()
                .map(|(c, chunk)| {
                    let mut h = vec![0u64; n];
                    for (k, &id) in chunk.iter().enumerate() {
                        if keep(c * PATTERN_CHUNK + k)
                            && let Some(x) = h.get_mut(index(id))
                        {
                            *x += 1;
                        }
                    }
                    h
                })
                .reduce(
                    || vec![0u64; n],
                    |mut a, b| {
                        for (x, y) in a.iter_mut().zip(b) {
                            *x += y;
                        }
                        a
                    },
                )
        }
        let n = self.distinct.len();
        match &self.ids {
            PatternIds::Narrow(v) => count(v, n, usize::from, &keep),
            PatternIds::Wide(v) => count(v, n, |x| x as usize, &keep),
        }
    }

    /// Counts per distinct pattern after masking, sorted by pattern.
    fn merge(&self, histogram: Vec<u64>, mask: u64) -> Vec<(u64, f64)> {
        let mut counts: PatternMap<u64> = PatternMap::default();
        for (&p, n) in self.distinct.iter().zip(histogram) {
            if n > 0 {
                *counts.entry(p & !mask).or_default() += n;
            }
        }
        let mut out: Vec<(u64, f64)> = counts.into_iter().map(|(p, n)| (p, n as f64)).collect();
        out.sort_unstable_by_key(|p| p.0);
        out
    }
}

/// Estimate m as Splink does: EM sessions, each on the pairs of one blocking rule, with u fixed
/// (random sampling) and the rule's own fields left out — on pairs chosen because they agree
/// on a field, that field's agreement says nothing about m, and treating it as evidence makes
/// EM call every candidate a match. Sessions are added until every field has been estimated
/// at least once; a field estimated in several sessions gets the mean.
///
/// A rule's pairs are those of the candidates that the rule produced (blocking records which
/// rules gave each pair), so their patterns are already known; only a rule it did not record is
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
        let (n_pairs, distinct) = if r < all.recorded_rules {
            let distinct = all_patterns.counts_where(&all.rules, 1u16 << r, mask);
            // The counts are of this rule's pairs, each once.
            let n_pairs = distinct.iter().map(|&(_, n)| n as usize).sum();
            (n_pairs, distinct)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Encoder, RawRecord};
    use crate::schema::{Role, Schema};
    use crate::simulate::{self, NamePools};
    use crate::token::LinkageKey;

    fn tables(n: usize, overlap: usize, seed: u64) -> (TokenTable, TokenTable) {
        let pools = NamePools::from_csv(
            include_str!("../tests/data/family_names.csv"),
            include_str!("../tests/data/given_names.csv"),
        );
        let (left, right) = simulate::two_sources(&pools, n, overlap, 1.0, seed);
        let schema = Schema::from_roles(|r| simulate::HEADER.contains(&r) && r != Role::Id);
        let enc = Encoder::new(&LinkageKey::from_bytes([5; 32]), schema);
        let table = |recs: &[simulate::SimRecord]| {
            let raws: Vec<RawRecord> = recs.iter().map(|r| r.record.clone()).collect();
            TokenTable::encode(&enc, &crate::source::normalise_all(&raws).0)
        };
        (table(&left), table(&right))
    }

    /// However the candidates are cut into tasks and reordered for locality, each candidate
    /// gets its own pattern and the distinct patterns come in order of first appearance.
    /// Records gathered into views (as the u sample compares them) give the patterns that
    /// reading each pair in place gives, for candidates (mostly close pairs) and for unrelated
    /// pairs alike.
    #[test]
    fn gathered_records_compare_as_records_read_in_place() {
        let (lt, rt) = tables(600, 400, 33);
        let cmp = Comparator::new(&lt, &rt).unwrap();
        let cands = block::candidates(&lt, &rt, false, &block::default_rules(lt.schema()), 250_000);
        let unrelated = (0..600).map(|i| (i as u32, ((i * 7 + 3) % 600) as u32));
        let mut levels_seen = std::collections::HashSet::new();
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        for (a, b) in cands.pairs().chain(unrelated) {
            let (a, b) = (a as usize, b as usize);
            va.clear();
            vb.clear();
            cmp.view(false, a, &mut va);
            cmp.view(true, b, &mut vb);
            let p = cmp.pattern(a, b);
            assert_eq!(cmp.pattern_of_views(&va, &vb), p, "pair {a}, {b}");
            for f in 0..lt.schema().fields.len() {
                levels_seen.insert((f, crate::compare::level_of(p, f)));
            }
        }
        // Every field was seen at several levels, so the comparison was exercised.
        for f in 0..lt.schema().fields.len() {
            assert!(
                levels_seen.iter().filter(|(g, _)| *g == f).count() >= 2,
                "field {f}"
            );
        }
    }

    #[test]
    fn patterns_do_not_depend_on_how_they_are_computed() {
        let (lt, rt) = tables(3000, 2000, 21);
        let cmp = Comparator::new(&lt, &rt).unwrap();
        let rules = block::default_rules(lt.schema());
        let cands = block::candidates(&lt, &rt, false, &rules, 250_000);
        assert!(cands.len() > 1500, "{} candidates", cands.len());
        let want: Vec<u64> = cands
            .pairs()
            .map(|(a, b)| cmp.pattern(a as usize, b as usize))
            .collect();
        let mut first_seen = Vec::new();
        for &p in &want {
            if !first_seen.contains(&p) {
                first_seen.push(p);
            }
        }
        assert!(first_seen.len() > 20);
        for (chunk, slice) in [
            (PATTERN_CHUNK, SORT_SLICE),
            (64, 16),
            (48, 48),
            (1000, 7),
            (1, 1),
        ] {
            let p = Patterns::of_sized(&cmp, &cands, chunk, slice);
            assert_eq!(p.distinct, first_seen, "chunk {chunk}, slice {slice}");
            for (k, &w) in want.iter().enumerate() {
                assert_eq!(p.get(k), w, "pair {k}, chunk {chunk}, slice {slice}");
            }
        }
    }
}
