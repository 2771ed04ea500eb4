//! Blocking: candidate pairs are the union of pairs that agree on at least one blocking rule.
//! A rule is a conjunction of tokens (e.g. phonetic 姓 + phonetic 名); records are joined on
//! a 64-bit hash of those tokens by sorting both sides and merging, rule by rule in parallel.

use rayon::prelude::*;
use serde::Serialize;

use crate::record::TokenTable;
use crate::schema::{FieldKind, Role, Schema};
use crate::token::Token;

/// Which token of a field a rule uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyPart {
    /// The whole value of field `.0`.
    Whole(usize),
    /// Variant token `.1` of field `.0` (see the encoder).
    Alt(usize, usize),
}

/// A conjunction of tokens that candidate pairs must share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockingRule {
    /// Human-readable name (field names; no data).
    pub name: String,
    /// The tokens that must all be present and equal.
    pub parts: Vec<KeyPart>,
}

impl BlockingRule {
    /// The fields the rule uses.
    pub fn fields(&self) -> Vec<usize> {
        let mut f: Vec<usize> = self
            .parts
            .iter()
            .map(|p| match *p {
                KeyPart::Whole(f) | KeyPart::Alt(f, _) => f,
            })
            .collect();
        f.sort_unstable();
        f.dedup();
        f
    }

    fn key(&self, t: &TokenTable, i: usize) -> Option<u64> {
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
        for p in &self.parts {
            let tok: Token = match *p {
                KeyPart::Whole(f) => t.column(f).whole(i),
                KeyPart::Alt(f, k) => t.column(f).alt(i)[k],
            };
            if tok.is_none() {
                return None;
            }
            h = splitmix(h ^ tok.bits());
        }
        Some(h)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The default rules for a schema: each strong identifier alone, and names combined with a
/// second attribute, so that one typo in any single field does not lose a true pair.
pub fn default_rules(schema: &Schema) -> Vec<BlockingRule> {
    let pos = |k: FieldKind| schema.position(k);
    let mut rules = Vec::new();
    let mut add = |name: &str, parts: Vec<KeyPart>| {
        rules.push(BlockingRule {
            name: name.to_owned(),
            parts,
        })
    };
    let fam = pos(FieldKind::FamilyName);
    let giv = pos(FieldKind::GivenName);
    let dob = pos(FieldKind::BirthDate);
    if let (Some(f), Some(g)) = (fam, giv) {
        add(
            "family_name.phonetic+given_name.phonetic",
            vec![KeyPart::Alt(f, 1), KeyPart::Alt(g, 1)],
        );
        add(
            "family_name+given_name",
            vec![KeyPart::Whole(f), KeyPart::Whole(g)],
        );
    }
    if let Some(d) = dob {
        add("birth_date", vec![KeyPart::Whole(d)]);
        if let Some(f) = fam {
            add(
                "birth_date.year+family_name.phonetic",
                vec![KeyPart::Alt(d, 1), KeyPart::Alt(f, 1)],
            );
        }
        if let Some(g) = giv {
            add(
                "birth_date.year+given_name.phonetic",
                vec![KeyPart::Alt(d, 1), KeyPart::Alt(g, 1)],
            );
            add(
                "birth_date.month_day+given_name.phonetic",
                vec![KeyPart::Alt(d, 2), KeyPart::Alt(d, 3), KeyPart::Alt(g, 1)],
            );
        }
    }
    if let Some(i) = pos(FieldKind::Insurance) {
        add("insurance", vec![KeyPart::Whole(i)]);
        add("insurance.insurer+number", vec![KeyPart::Alt(i, 1)]);
    }
    for role in [Role::Phone, Role::NationalId] {
        if let Some(p) = pos(FieldKind::Text(role)) {
            add(role.name(), vec![KeyPart::Whole(p)]);
        }
    }
    if let Some(name) = fam.or(giv) {
        if let Some(p) = pos(FieldKind::PostalCode) {
            add(
                "postal_code+name.phonetic",
                vec![KeyPart::Whole(p), KeyPart::Alt(name, 1)],
            );
        }
        if let Some(a) = pos(FieldKind::JpAddress) {
            add(
                "address.town+name.phonetic",
                vec![KeyPart::Alt(a, 0), KeyPart::Alt(name, 1)],
            );
        }
        for role in [Role::Suburb, Role::Address1] {
            if let Some(p) = pos(FieldKind::Text(role)) {
                add(
                    &format!("{}+name.phonetic", role.name()),
                    vec![KeyPart::Whole(p), KeyPart::Alt(name, 1)],
                );
            }
        }
    }
    if let (Some(g), Some(p)) = (giv, pos(FieldKind::PostalCode)) {
        add(
            "postal_code+given_name.phonetic",
            vec![KeyPart::Whole(p), KeyPart::Alt(g, 1)],
        );
    }
    rules
}

/// Candidate pairs and what blocking did.
///
/// The pairs are sorted and unique (in deduplication `left < right`), kept as each left
/// record's run of right records: `right[starts[a]..starts[a + 1]]` for left record `a`, four
/// bytes a pair instead of eight.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    starts: Vec<u32>,
    right: Vec<u32>,
    /// For each pair, the rules that produced it (bit `r` for rule `r` < `recorded_rules`; the
    /// default sets have at most a dozen rules, and 16 bits per pair instead of 32 are 1.6 MB
    /// fewer for a typical million candidates).
    pub rules: Vec<u16>,
    /// Rules whose bit `rules` holds: the first 16, fewer only when the record numbers are so
    /// wide (over 2²⁴ records a side) that blocking cannot pack a pair and 16 bits into 64.
    pub recorded_rules: usize,
    /// Pairs each rule produced (before the union), in rule order.
    pub per_rule: Vec<u64>,
    /// Key groups skipped because they alone would give more than the cap.
    pub skipped_blocks: u64,
}

impl Candidates {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.right.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.right.is_empty()
    }

    /// Pair `k` (in sorted order).
    #[inline]
    pub fn pair(&self, k: usize) -> (u32, u32) {
        // The left record whose run holds `k`: the last start at or before it.
        let a = self
            .starts
            .partition_point(|&s| s as usize <= k)
            .saturating_sub(1);
        (a as u32, self.right.get(k).copied().unwrap_or(0))
    }

    /// Pairs `range` (in sorted order), walking the left records' runs: one search for the
    /// first pair's left record instead of one per pair as [`Candidates::pair`] does.
    pub fn pairs_in(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = (u32, u32)> + '_ {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let mut a = self.pair(start).0 as usize;
        self.right
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .zip(start..)
            .map(move |(&b, k)| {
                // Runs can be empty: skip every left record whose run ends at or before `k`.
                while self.starts.get(a + 1).is_some_and(|&s| s as usize <= k) {
                    a += 1;
                }
                (a as u32, b)
            })
    }

    /// Each left record's pairs, in parallel: `(index of the pair, left, right)`.
    pub fn par_runs(&self) -> impl ParallelIterator<Item = (usize, u32, u32)> + '_ {
        let lefts = self.starts.len().saturating_sub(1);
        (0..lefts).into_par_iter().flat_map_iter(move |a| {
            let lo = self.starts.get(a).map_or(0, |&s| s as usize);
            let hi = self.starts.get(a + 1).map_or(lo, |&s| s as usize);
            self.right
                .get(lo..hi.max(lo))
                .unwrap_or(&[])
                .iter()
                .zip(lo..)
                .map(move |(&b, k)| (k, a as u32, b))
        })
    }

    /// The pairs in sorted order.
    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.starts.windows(2).enumerate().flat_map(move |(a, w)| {
            let run = self.right.get(w[0] as usize..w[1] as usize).unwrap_or(&[]);
            run.iter().map(move |&b| (a as u32, b))
        })
    }

    /// The pairs in sorted order, in parallel.
    pub fn par_pairs(&self) -> impl IndexedParallelIterator<Item = (u32, u32)> + '_ {
        (0..self.len()).into_par_iter().map(move |k| self.pair(k))
    }

    /// Keep the sorted union (see [`candidates`]) as runs of right records and a rule mask per
    /// pair, emptying it from the back as they fill, so that they never take their full size at
    /// once.
    fn from_union(
        mut union: Vec<u64>,
        pack: Pack,
        n_left: usize,
    ) -> (Vec<u32>, Vec<u32>, Vec<u16>) {
        let mut starts = vec![0u32; n_left + 1];
        for &x in &union {
            if let Some(s) = starts.get_mut(pack.pair(x).0 as usize + 1) {
                *s += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut right = Vec::with_capacity(union.len());
        let mut masks = Vec::with_capacity(union.len());
        const STEP: usize = 1 << 16;
        while !union.is_empty() {
            let keep = union.len().saturating_sub(STEP);
            for &x in union[keep..].iter().rev() {
                right.push(pack.pair(x).1);
                masks.push(pack.mask(x));
            }
            union.truncate(keep);
            union.shrink_to_fit();
        }
        right.reverse();
        masks.reverse();
        (starts, right, masks)
    }
}

/// How blocking packs a pair and its rule mask into one 64-bit word: left record, right record,
/// mask, from the high bits down, so that words sort as their pairs do.
#[derive(Debug, Clone, Copy)]
struct Pack {
    /// Bits of a record number.
    index: u32,
    /// Bits of the rule mask (16, or what two record numbers leave).
    mask: u32,
}

impl Pack {
    fn new(records: usize) -> Pack {
        let index = index_bits(records);
        Pack {
            index,
            mask: (64 - 2 * index).min(16),
        }
    }

    /// The word of a pair with no rule recorded.
    #[inline]
    fn word(self, (a, b): (u32, u32)) -> u64 {
        ((u64::from(a) << self.index) | u64::from(b)) << self.mask
    }

    #[inline]
    fn pair(self, x: u64) -> (u32, u32) {
        let p = x >> self.mask;
        (
            (p >> self.index) as u32,
            (p & ((1u64 << self.index) - 1)) as u32,
        )
    }

    #[inline]
    fn mask(self, x: u64) -> u16 {
        (x & ((1u64 << self.mask) - 1)) as u16
    }

    /// The bit of rule `r` (0 if it is not recorded).
    fn bit(self, r: usize) -> u64 {
        if r < self.mask as usize { 1 << r } else { 0 }
    }
}

/// The rule's keys of a table's records, sorted: each one 64-bit word, the key's hash in the
/// high bits and the record in the low `index_bits` (8 bytes per record instead of a 16-byte
/// pair). For 100,000 records a side the hash keeps 47 bits: two different keys of a rule
/// share one with probability about 2⁻¹³ per run, far below the chance that two values share
/// a 32-bit token (see `TokenTable`), and either only adds pairs that comparison rejects.
fn keys(t: &TokenTable, rule: &BlockingRule, index_bits: u32) -> Vec<u64> {
    // Sequential: a key is a few loads and multiplications, and collecting in parallel would
    // hold the keys twice.
    let mut k: Vec<u64> = Vec::with_capacity(t.len());
    k.extend((0..t.len()).filter_map(|i| rule.key(t, i).map(|h| (h << index_bits) | i as u64)));
    k.par_sort_unstable();
    k
}

/// Bits that hold a record number in a packed key (at least one, at most 32).
fn index_bits(records: usize) -> u32 {
    (usize::BITS - records.saturating_sub(1).leading_zeros()).clamp(1, 32)
}

/// The pairs of one rule as `pack`ed words with no rule bit, sorted, and the number of key
/// groups skipped.
fn rule_pairs(
    left: &TokenTable,
    right: &TokenTable,
    dedupe: bool,
    rule: &BlockingRule,
    max_block_pairs: u64,
    pack: Pack,
) -> (Vec<u64>, u64) {
    let bits = pack.index;
    let (lk, rk) = rayon::join(
        || keys(left, rule, bits),
        || {
            if dedupe {
                Vec::new()
            } else {
                keys(right, rule, bits)
            }
        },
    );
    let hash = |k: u64| k >> bits;
    let record = |k: u64| (k & ((1u64 << bits) - 1)) as u32;
    let mut out = Vec::new();
    let mut skipped = 0u64;
    let group_end = |v: &[u64], s: usize| {
        let mut e = s;
        while e < v.len() && hash(v[e]) == hash(v[s]) {
            e += 1;
        }
        e
    };
    if dedupe {
        let mut s = 0;
        while s < lk.len() {
            let e = group_end(&lk, s);
            let n = (e - s) as u64;
            if n * (n - 1) / 2 > max_block_pairs {
                skipped += 1;
            } else {
                for x in s..e {
                    for y in x + 1..e {
                        let (p, q) = (record(lk[x]), record(lk[y]));
                        out.push(pack.word((p.min(q), p.max(q))));
                    }
                }
            }
            s = e;
        }
    } else {
        let (mut i, mut j) = (0, 0);
        while i < lk.len() && j < rk.len() {
            match hash(lk[i]).cmp(&hash(rk[j])) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let ie = group_end(&lk, i);
                    let je = group_end(&rk, j);
                    if ((ie - i) as u64) * ((je - j) as u64) > max_block_pairs {
                        skipped += 1;
                    } else {
                        for &x in &lk[i..ie] {
                            for &y in &rk[j..je] {
                                out.push(pack.word((record(x), record(y))));
                            }
                        }
                    }
                    i = ie;
                    j = je;
                }
            }
        }
    }
    drop((lk, rk));
    out.par_sort_unstable();
    // A rule gives each pair once (one key per record); sorting makes it mergeable.
    out.dedup();
    (out, skipped)
}

/// Candidate pairs between two tables (`dedupe = false`) or within one (`right` ignored,
/// `dedupe = true`). A key group contributing more than `max_block_pairs` pairs is skipped:
/// a value shared by that many records (a placeholder date, a common name alone) says nothing.
///
/// Rules are joined one after another and merged into the sorted union as they come, so that
/// memory holds the union and one rule's pairs, never every rule's pairs at once.
pub fn candidates(
    left: &TokenTable,
    right: &TokenTable,
    dedupe: bool,
    rules: &[BlockingRule],
    max_block_pairs: u64,
) -> Candidates {
    // The union holds each pair with its rule mask in one word (see `Pack`): 8 bytes a pair
    // instead of 10 while blocking, when the union is largest.
    let pack = Pack::new(left.len().max(right.len()));
    let mut union: Vec<u64> = Vec::new();
    let mut per_rule = Vec::with_capacity(rules.len());
    let mut skipped_blocks = 0;
    for (r, rule) in rules.iter().enumerate() {
        let (mut rp, skipped) = rule_pairs(left, right, dedupe, rule, max_block_pairs, pack);
        per_rule.push(rp.len() as u64);
        skipped_blocks += skipped;
        let bit = pack.bit(r);
        if union.is_empty() {
            rp.iter_mut().for_each(|x| *x |= bit);
            union = rp;
            continue;
        }
        // Merge the rule's sorted pairs into the sorted union in place, from the back (the
        // union's size is known once the overlap is counted), so that the union is never held
        // twice. A rule's words have no rule bit, so they compare with the union's pairs as
        // they are.
        let key = |x: u64| x >> pack.mask;
        let (mut i, mut j, mut common) = (0, 0, 0usize);
        while i < union.len() && j < rp.len() {
            match key(union[i]).cmp(&key(rp[j])) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    common += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let old = union.len();
        let n = old + rp.len() - common;
        union.resize(n, 0);
        let (mut i, mut j, mut k) = (old, rp.len(), n);
        // Invariant: k - i = (new pairs left to place) ≥ 0, so writes never pass unread
        // entries of the union.
        while j > 0 {
            k -= 1;
            let theirs = rp[j - 1];
            if i > 0 && key(union[i - 1]) > key(theirs) {
                union[k] = union[i - 1];
                i -= 1;
            } else if i > 0 && key(union[i - 1]) == key(theirs) {
                union[k] = union[i - 1] | bit;
                i -= 1;
                j -= 1;
            } else {
                union[k] = theirs | bit;
                j -= 1;
            }
        }
    }
    let (starts, right, masks) = Candidates::from_union(union, pack, left.len());
    Candidates {
        starts,
        right,
        rules: masks,
        recorded_rules: pack.mask as usize,
        per_rule,
        skipped_blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::{Candidates, Pack, index_bits};
    use rayon::iter::ParallelIterator;

    proptest::proptest! {
        /// Walking runs gives the pairs (and their indices) that looking each pair up gives,
        /// empty runs included.
        #[test]
        fn run_walks_agree_with_lookups(
            runs in proptest::collection::vec(0usize..5, 0..40),
            from in 0usize..200,
            len in 0usize..200,
        ) {
            let mut starts = vec![0u32];
            let mut right = Vec::new();
            for (a, &n) in runs.iter().enumerate() {
                right.extend((0..n).map(|j| (a * 7 + j) as u32));
                starts.push(right.len() as u32);
            }
            let c = Candidates { starts, right, ..Candidates::default() };
            let all: Vec<(u32, u32)> = c.pairs().collect();
            proptest::prop_assert_eq!(all.len(), c.len());
            for (k, &p) in all.iter().enumerate() {
                proptest::prop_assert_eq!(c.pair(k), p);
            }
            let want: Vec<(u32, u32)> = all.iter().copied().skip(from).take(len).collect();
            let got: Vec<(u32, u32)> = c.pairs_in(from..from + len).collect();
            proptest::prop_assert_eq!(got, want);
            let runs: Vec<(usize, u32, u32)> = c.par_runs().collect();
            let want: Vec<(usize, u32, u32)> =
                all.iter().enumerate().map(|(k, &(a, b))| (k, a, b)).collect();
            proptest::prop_assert_eq!(runs, want);
        }
    }

    proptest::proptest! {
        /// A packed word gives back its pair and mask, and words sort as their pairs do; the
        /// mask keeps 16 bits up to 2²⁴ records a side and what is left beyond.
        #[test]
        fn packed_pairs_keep_pair_mask_and_order(
            records in proptest::sample::select(vec![2usize, 100_000, 1 << 24, (1 << 24) + 1, 1 << 32]),
            pairs in proptest::collection::vec((0u64..u64::MAX, 0u64..u64::MAX, 0usize..20), 2..20),
        ) {
            let pack = Pack::new(records);
            proptest::prop_assert_eq!(pack.mask, if records <= 1 << 24 { 16 } else { 64 - 2 * index_bits(records) });
            let n = records as u64;
            let words: Vec<((u32, u32), u64, u64)> = pairs
                .iter()
                .map(|&(a, b, r)| {
                    let p = ((a % n) as u32, (b % n) as u32);
                    (p, pack.bit(r), pack.word(p) | pack.bit(r))
                })
                .collect();
            for &(p, bit, w) in &words {
                proptest::prop_assert_eq!(pack.pair(w), p);
                proptest::prop_assert_eq!(u64::from(pack.mask(w)), bit);
            }
            for x in &words {
                for y in &words {
                    proptest::prop_assert_eq!((x.2 >> pack.mask).cmp(&(y.2 >> pack.mask)), x.0.cmp(&y.0));
                }
            }
        }
    }

    #[test]
    fn record_numbers_fit_their_bits() {
        for n in [
            1usize,
            2,
            3,
            4,
            5,
            1000,
            100_000,
            1 << 20,
            (1 << 20) + 1,
            1 << 32,
        ] {
            let b = index_bits(n);
            assert!((1..=32).contains(&b));
            // The last record's number fits, and no bit is wasted beyond one.
            assert!((n as u64 - 1) < (1u64 << b), "{n}");
            assert!(b == 1 || (n as u64 - 1) >= (1u64 << (b - 1)), "{n}");
        }
    }
}
