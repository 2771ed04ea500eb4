//! The Fellegi–Sunter model: per field and level, `m` = P(level | match) and
//! `u` = P(level | non-match). `u` is estimated from random record pairs (almost all
//! non-matches), `m` by expectation–maximisation on the candidate pairs, and an exact agreement
//! on a value is weighted by that value's frequency (term-frequency adjustment).
//!
//! A pair's match weight is `log2(prior odds) + Σ log2(m/u)` over fields not missing on either
//! side; its probability is `2^w / (1 + 2^w)`.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::compare::{Comparator, level_of};
use crate::record::TokenTable;
use crate::schema::FieldKind;
use crate::token::Token;

const FLOOR: f64 = 1e-7;

/// Level frequencies per field from `samples` random pairs (proportions over non-missing
/// pairs; index 0, "missing", is kept at 0). Deterministic for a seed.
pub fn sample_u(cmp: &Comparator<'_>, dedupe: bool, samples: usize, seed: u64) -> Vec<Vec<f64>> {
    let kinds = &cmp.left().schema().fields;
    let (nl, nr) = (cmp.left().len(), cmp.right().len());
    let nf = kinds.len();
    if nf == 0 || nl == 0 || nr == 0 || (dedupe && nl < 2) {
        return kinds.iter().map(|k| vec![0.0; k.levels().len()]).collect();
    }
    // Pairs are drawn in tiles: SIDE random left records × SIDE random right records. Every
    // pair of a tile is still a uniformly random pair (cluster sampling: u stays unbiased), but
    // a tile's records stay in the core's cache while all its pairs are compared, where pairs
    // drawn one by one each fetched a record from anywhere in the table (this was half the
    // training time). 64 × 64 keeps both sides of a tile within L1 and, for a million pairs,
    // draws about 16,000 records per side.
    const SIDE: usize = 64;
    const TILE: usize = SIDE * SIDE;
    let tiles = samples.div_ceil(TILE);
    let counts = (0..tiles)
        .into_par_iter()
        .map(|c| {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut counts = vec![[0u64; 16]; nf];
            let n = TILE.min(samples - c * TILE);
            let mut side = |len: usize| {
                let mut v: Vec<usize> = (0..SIDE).map(|_| rng.random_range(0..len)).collect();
                // Visited in table order: neighbouring records share cache lines.
                v.sort_unstable();
                v
            };
            let (ls, rs) = (side(nl), side(nr));
            // Each record of the tile is compared with SIDE others: its tokens are gathered
            // once instead of being looked up again for every pair.
            let mut views = Vec::with_capacity(2 * SIDE * nf);
            for &a in &ls {
                cmp.view(false, a, &mut views);
            }
            for &b in &rs {
                cmp.view(true, b, &mut views);
            }
            let (lv, rv) = views.split_at(SIDE * nf);
            let mut taken = 0;
            'tile: for (&a, va) in ls.iter().zip(lv.chunks(nf)) {
                for (&b, vb) in rs.iter().zip(rv.chunks(nf)) {
                    if taken == n {
                        break 'tile;
                    }
                    if dedupe && a == b {
                        continue;
                    }
                    let p = cmp.pattern_of_views(va, vb);
                    for (f, row) in counts.iter_mut().enumerate() {
                        row[level_of(p, f) as usize] += 1;
                    }
                    taken += 1;
                }
            }
            counts
        })
        .reduce(
            || vec![[0u64; 16]; nf],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    for (p, q) in x.iter_mut().zip(y) {
                        *p += q;
                    }
                }
                a
            },
        );
    kinds
        .iter()
        .zip(&counts)
        .map(|(k, c)| {
            let nl = k.levels().len();
            let total: u64 = c[1..nl].iter().sum();
            let mut u = vec![0.0; nl];
            for l in 1..nl {
                // Add-half smoothing: a level never seen in the sample is rare, not impossible.
                u[l] = (c[l] as f64 + 0.5) / (total as f64 + 0.5 * (nl - 1) as f64);
            }
            u
        })
        .collect()
}

/// Which parameters EM keeps fixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fix {
    /// Keep m.
    pub m: bool,
    /// Keep u.
    pub u: bool,
}

/// What EM fixes and when it stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmSettings {
    /// Parameters kept fixed.
    pub fix: Fix,
    /// Iteration cap.
    pub max_iter: usize,
    /// Stop when no parameter moves more than this.
    pub tol: f64,
}

/// The result of expectation–maximisation.
#[derive(Debug, Clone, Serialize)]
pub struct EmResult {
    /// m per field and level.
    pub m: Vec<Vec<f64>>,
    /// u among candidate pairs per field and level.
    pub u: Vec<Vec<f64>>,
    /// Share of matches among the pairs.
    pub lambda: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the largest parameter change fell below the tolerance.
    pub converged: bool,
}

fn normalise(v: &mut [f64]) {
    let s: f64 = v[1..].iter().sum();
    if s > 0.0 {
        for x in &mut v[1..] {
            *x = (*x / s).max(FLOOR);
        }
    }
    v[0] = 0.0;
}

/// EM for the two-class mixture under conditional independence, on distinct patterns with their
/// counts. Missing levels (0) contribute nothing. With `fix_u`, u stays at `u0` (estimated
/// elsewhere, from random pairs) and only m and λ are fitted, as Splink does: it keeps the
/// non-match class from absorbing true matches whose correlated fields (postal code and address
/// after a move) both disagree. With `fix.m` as well, only λ is fitted.
pub fn em(
    kinds: &[FieldKind],
    patterns: &[(u64, f64)],
    m0: Vec<Vec<f64>>,
    u0: Vec<Vec<f64>>,
    lambda0: f64,
    settings: EmSettings,
) -> EmResult {
    let EmSettings { fix, max_iter, tol } = settings;
    let nf = kinds.len();
    let (mut m, mut u, mut lambda) = (m0, u0, lambda0.clamp(1e-6, 1.0 - 1e-6));
    for v in m.iter_mut().chain(u.iter_mut()) {
        normalise(v);
    }
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        iterations += 1;
        let lm: Vec<Vec<f64>> = m
            .iter()
            .map(|v| v.iter().map(|x| x.max(FLOOR).ln()).collect())
            .collect();
        let lu: Vec<Vec<f64>> = u
            .iter()
            .map(|v| v.iter().map(|x| x.max(FLOOR).ln()).collect())
            .collect();
        let (la, lb) = (lambda.ln(), (1.0 - lambda).ln());
        let mut sm: Vec<Vec<f64>> = m.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut su: Vec<Vec<f64>> = sm.clone();
        let (mut total, mut matched) = (0.0, 0.0);
        for &(p, count) in patterns {
            let (mut a, mut b) = (la, lb);
            for f in 0..nf {
                let l = level_of(p, f) as usize;
                if l > 0 {
                    a += lm[f][l];
                    b += lu[f][l];
                }
            }
            // Posterior of "match" computed stably in log space.
            let g = 1.0 / (1.0 + (b - a).exp());
            total += count;
            matched += count * g;
            for f in 0..nf {
                let l = level_of(p, f) as usize;
                if l > 0 {
                    sm[f][l] += count * g;
                    su[f][l] += count * (1.0 - g);
                }
            }
        }
        for v in sm.iter_mut().chain(su.iter_mut()) {
            normalise(v);
        }
        let new_lambda = if total > 0.0 {
            (matched / total).clamp(1e-9, 1.0 - 1e-9)
        } else {
            lambda
        };
        if fix.u {
            su = u.clone();
        }
        if fix.m {
            sm = m.clone();
        }
        let mut delta = (new_lambda - lambda).abs();
        for (old, new) in m.iter().chain(u.iter()).zip(sm.iter().chain(su.iter())) {
            for (x, y) in old.iter().zip(new) {
                delta = delta.max((x - y).abs());
            }
        }
        m = sm;
        u = su;
        lambda = new_lambda;
        if delta < tol {
            converged = true;
            break;
        }
    }
    EmResult {
        m,
        u,
        lambda,
        iterations,
        converged,
    }
}

/// Starting values for m: agreement levels likelier the stronger they are.
pub fn initial_m(kind: FieldKind) -> Vec<f64> {
    let n = kind.levels().len();
    let mut v = vec![0.0; n];
    for (l, x) in v.iter_mut().enumerate().skip(1) {
        *x = if l == n - 1 {
            0.85
        } else {
            0.15 * (l as f64) / ((n - 1) * (n - 2) / 2).max(1) as f64
        };
    }
    normalise(&mut v);
    v
}

type TfMap = HashMap<u32, u32, std::hash::BuildHasherDefault<crate::record::MulHasher>>;

/// Counts of exact values of one field across both inputs. Only values held by two records or
/// more are kept: an exact agreement always involves two records, and most values (phone
/// numbers, postal codes) are held by one, so this keeps the map a fraction of the input.
#[derive(Debug, Clone, Default)]
pub struct TermFrequencies {
    /// Keyed by the token's 32-bit form, as tables hold it. Scoring asks once per candidate and
    /// exactly agreeing field: the keys are keyed-hash values already, so a multiply mixes
    /// them enough, where SipHash took most of the scoring time.
    counts: TfMap,
    total: f64,
}

impl TermFrequencies {
    /// Count the whole-value tokens of field `f` in the tables.
    pub fn count(tables: &[&TokenTable], f: usize) -> Self {
        let mut all: Vec<u32> = Vec::with_capacity(tables.iter().map(|t| t.len()).sum());
        for t in tables {
            let c = t.column(f);
            all.extend(
                (0..t.len())
                    .map(|i| c.whole(i))
                    .filter(|w| w.is_some())
                    .map(Token::short),
            );
        }
        let total = all.len() as f64;
        all.par_sort_unstable();
        let runs = |all: &[u32], mut f: Box<dyn FnMut(u32, u32) + '_>| {
            let mut s = 0;
            while s < all.len() {
                let mut e = s + 1;
                while e < all.len() && all[e] == all[s] {
                    e += 1;
                }
                if e - s >= 2 {
                    f(all[s], u32::try_from(e - s).unwrap_or(u32::MAX));
                }
                s = e;
            }
        };
        let mut repeated = 0usize;
        runs(&all, Box::new(|_, _| repeated += 1));
        let mut counts = TfMap::with_capacity_and_hasher(repeated, Default::default());
        runs(
            &all,
            Box::new(|t, n| {
                counts.insert(t, n);
            }),
        );
        TermFrequencies { counts, total }
    }

    /// Relative frequency of a value held by two records or more (0 for any other value); the
    /// token may be a full one or the 32-bit form a table holds.
    pub fn frequency(&self, t: Token) -> f64 {
        if self.total == 0.0 {
            return 0.0;
        }
        // Tables hold tokens in their 32-bit form; a full token asks for the same value.
        f64::from(self.counts.get(&t.short()).copied().unwrap_or(0)) / self.total
    }
}

/// A fitted model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Field kinds, in schema order.
    pub kinds: Vec<FieldKind>,
    /// m per field and level.
    pub m: Vec<Vec<f64>>,
    /// u per field and level (random sampling, corrected for the matches in the sample).
    pub u: Vec<Vec<f64>>,
    /// Probability that a random pair matches.
    pub prior: f64,
    /// Term frequencies per field (for those that use them).
    pub tf: Vec<Option<TermFrequencies>>,
}

/// One field's contribution to a pair's match weight.
#[derive(Debug, Clone, Serialize)]
pub struct FieldWeight {
    /// Field name.
    pub field: &'static str,
    /// Comparison level name.
    pub level: &'static str,
    /// log2 Bayes factor.
    pub weight: f64,
}

impl Model {
    /// The log2 Bayes factor of field `f` at `level` for pair (a, b).
    pub fn field_weight(&self, cmp: &Comparator<'_>, f: usize, level: u8, a: usize) -> f64 {
        self.bayes_factor(cmp, f, level, a).log2()
    }

    /// The Bayes factor m/u of field `f` at `level` for pair (a, b) (1 when missing).
    #[inline]
    fn bayes_factor(&self, cmp: &Comparator<'_>, f: usize, level: u8, a: usize) -> f64 {
        if level == 0 {
            return 1.0;
        }
        let l = level as usize;
        let m = self.m[f][l].max(FLOOR);
        let mut u = self.u[f][l].max(FLOOR);
        if level == self.kinds[f].exact_level()
            && let Some(tf) = &self.tf[f]
        {
            let p = tf.frequency(cmp.left().column(f).whole(a));
            if p > 0.0 {
                u = p;
            }
        }
        m / u
    }

    /// Match weight (log2 odds) of a pair with its packed pattern.
    pub fn match_weight(&self, cmp: &Comparator<'_>, a: usize, pattern: u64) -> f64 {
        let mut w = (self.prior / (1.0 - self.prior)).log2();
        for f in 0..self.kinds.len() {
            w += self.field_weight(cmp, f, level_of(pattern, f), a);
        }
        w
    }

    /// Match probability of a pair with its packed pattern: [`Model::probability`] of
    /// [`Model::match_weight`], computed as the product of the prior odds and the fields'
    /// Bayes factors, without a logarithm per field (scoring a million candidates took more
    /// time in `log2` than in anything else it does).
    pub fn match_probability(&self, cmp: &Comparator<'_>, a: usize, pattern: u64) -> f64 {
        let mut odds = self.prior / (1.0 - self.prior);
        for f in 0..self.kinds.len() {
            odds *= self.bayes_factor(cmp, f, level_of(pattern, f), a);
        }
        if odds.is_infinite() {
            1.0
        } else {
            odds / (1.0 + odds)
        }
    }

    /// Match probability from a match weight.
    pub fn probability(weight: f64) -> f64 {
        let o = weight.exp2();
        if o.is_infinite() { 1.0 } else { o / (1.0 + o) }
    }

    /// Per-field explanation of a pair.
    pub fn explain(&self, cmp: &Comparator<'_>, a: usize, pattern: u64) -> Vec<FieldWeight> {
        self.kinds
            .iter()
            .enumerate()
            .map(|(f, k)| {
                let l = level_of(pattern, f);
                FieldWeight {
                    field: k.name(),
                    level: k.levels().get(l as usize).copied().unwrap_or("?"),
                    weight: self.field_weight(cmp, f, l, a),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::LEVEL_BITS;
    use crate::schema::Role;

    fn draw(rng: &mut ChaCha8Rng, dist: &[f64]) -> usize {
        let r: f64 = rng.random();
        let mut acc = 0.0;
        for (i, p) in dist.iter().enumerate() {
            acc += p;
            if r < acc {
                return i;
            }
        }
        dist.len() - 1
    }

    #[test]
    fn em_recovers_known_parameters() {
        // Three fields with known m and u (levels 1.. ; level 0 is "missing", unused here).
        let kinds = [
            FieldKind::Sex,
            FieldKind::BirthDate,
            FieldKind::Text(Role::Suburb),
        ];
        let m_true = [
            vec![0.0, 0.05, 0.95],
            vec![0.0, 0.05, 0.05, 0.1, 0.8],
            vec![0.0, 0.1, 0.05, 0.1, 0.15, 0.6],
        ];
        let u_true = [
            vec![0.0, 0.5, 0.5],
            vec![0.0, 0.9, 0.07, 0.02, 0.01],
            vec![0.0, 0.7, 0.15, 0.08, 0.05, 0.02],
        ];
        let lambda_true = 0.2;
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut counts: HashMap<u64, f64> = HashMap::new();
        for _ in 0..200_000 {
            let is_match = rng.random::<f64>() < lambda_true;
            let mut p = 0u64;
            for f in 0..kinds.len() {
                let dist = if is_match { &m_true[f] } else { &u_true[f] };
                let l = draw(&mut rng, dist) as u64;
                p |= l << (f as u32 * LEVEL_BITS);
            }
            *counts.entry(p).or_default() += 1.0;
        }
        let patterns: Vec<(u64, f64)> = counts.into_iter().collect();
        // Start far from the truth: flat-ish m, u uniform.
        let m0 = kinds.iter().map(|k| initial_m(*k)).collect();
        let u0 = kinds.iter().map(|k| vec![1.0; k.levels().len()]).collect();
        let r = em(
            &kinds,
            &patterns,
            m0,
            u0,
            0.5,
            EmSettings {
                fix: Fix::default(),
                max_iter: 500,
                tol: 1e-7,
            },
        );
        assert!(r.converged);
        assert!((r.lambda - lambda_true).abs() < 0.01, "lambda {}", r.lambda);
        for f in 0..kinds.len() {
            for l in 1..m_true[f].len() {
                assert!(
                    (r.m[f][l] - m_true[f][l]).abs() < 0.02,
                    "m[{f}][{l}] = {} vs {}",
                    r.m[f][l],
                    m_true[f][l]
                );
                assert!(
                    (r.u[f][l] - u_true[f][l]).abs() < 0.02,
                    "u[{f}][{l}] = {} vs {}",
                    r.u[f][l],
                    u_true[f][l]
                );
            }
        }
        // With u known (as from random sampling) only m and λ are fitted, and u stays put.
        let m0 = kinds.iter().map(|k| initial_m(*k)).collect();
        let fixed_u = EmSettings {
            fix: Fix { m: false, u: true },
            max_iter: 500,
            tol: 1e-7,
        };
        let r = em(&kinds, &patterns, m0, u_true.to_vec(), 0.5, fixed_u);
        assert!(r.converged);
        assert!((r.lambda - lambda_true).abs() < 0.01, "lambda {}", r.lambda);
        for f in 0..kinds.len() {
            for l in 1..m_true[f].len() {
                assert!(
                    (r.m[f][l] - m_true[f][l]).abs() < 0.02,
                    "fixed u: m[{f}][{l}] = {} vs {}",
                    r.m[f][l],
                    m_true[f][l]
                );
                assert!((r.u[f][l] - u_true[f][l]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn term_frequencies_keep_repeated_values() {
        use crate::record::{Encoder, Identity, RawRecord, TokenTable};
        use crate::schema::Schema;
        use crate::token::{LinkageKey, Tag};
        let names = ["サトウ", "サトウ", "スズキ", "サトウ", "タナカ", ""];
        let ids: Vec<Identity> = names
            .iter()
            .map(|n| {
                let mut r = RawRecord::default();
                r.set(Role::FamilyName, *n);
                Identity::normalise(&r).0
            })
            .collect();
        let key = LinkageKey::from_bytes([5; 32]);
        let enc = Encoder::new(&key, Schema::from_roles(|r| r == Role::FamilyName));
        let t = TokenTable::encode(&enc, &ids);
        let tf = TermFrequencies::count(&[&t], 0);
        let name = key.field_key("name");
        // Five values present; サトウ three times; values held once are not kept.
        assert!((tf.frequency(name.token(Tag::Whole, "サトウ")) - 3.0 / 5.0).abs() < 1e-12);
        assert_eq!(tf.frequency(name.token(Tag::Whole, "スズキ")), 0.0);
        assert_eq!(tf.frequency(name.token(Tag::Whole, "ヤマダ")), 0.0);
    }

    #[test]
    fn probability_is_logistic() {
        assert!((Model::probability(0.0) - 0.5).abs() < 1e-12);
        assert!(Model::probability(10.0) > 0.999);
        assert!(Model::probability(-10.0) < 0.001);
        assert_eq!(Model::probability(2000.0), 1.0);
    }
}
