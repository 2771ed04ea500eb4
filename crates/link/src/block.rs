//! Blocking: candidate pairs are the union of pairs that agree on at least one blocking rule.
//! A rule is a conjunction of tokens (e.g. phonetic 姓 + phonetic 名); records are joined on
//! a 64-bit hash of those tokens by sorting both sides and merging, rule after rule, each rule
//! in parallel parts, and merged into the union segment by segment in parallel.

use rayon::prelude::*;
use serde::Serialize;

use crate::record::TokenTable;
use crate::schema::{FieldKind, Role, Schema};
use crate::token::{Token, splitmix};

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
    sort_uniform(&mut k);
    k
}

/// Sort words whose top bits are uniform (hashes): one in-place pass puts each word in the
/// bucket of its top 8 bits, then the buckets (each small enough for a core's cache) are
/// sorted in parallel. This does in one pass what a comparison sort's first eight levels of
/// partitioning do, and needs no second buffer as a radix sort from the low digits would.
fn sort_uniform(v: &mut [u64]) {
    const BITS: u32 = 8;
    let digit = |x: u64| (x >> (64 - BITS)) as usize;
    let mut counts = [0usize; 1 << BITS];
    for &x in v.iter() {
        counts[digit(x)] += 1;
    }
    let ends = offsets(counts);
    let mut next: Vec<usize> = ends[..1 << BITS].to_vec();
    // American flag sort: every word is swapped straight into its bucket's next free place.
    for b in 0..1 << BITS {
        while next[b] < ends[b + 1] {
            let x = v[next[b]];
            let d = digit(x);
            if d == b {
                next[b] += 1;
            } else {
                v.swap(next[b], next[d]);
                next[d] += 1;
            }
        }
    }
    cut_mut(v, counts)
        .into_par_iter()
        .for_each(|bucket| bucket.sort_unstable());
}

/// Bits that hold a record number in a packed key (at least one, at most 32).
fn index_bits(records: usize) -> u32 {
    (usize::BITS - records.saturating_sub(1).leading_zeros()).clamp(1, 32)
}

/// The pair space cut by left record into segments of `1 << shift` records (at most
/// [`SEGMENTS`]). A rule's pairs are written grouped by segment, and each segment is sorted
/// and merged into the union on its own, in parallel and within a core's cache, instead of
/// one global sort and one serial merge per rule.
#[derive(Debug, Clone, Copy)]
struct Segments {
    shift: u32,
    count: usize,
}

/// Segments of the pair space: 256 keep each one's work in cache (about 3,000 pairs for
/// 100,000 records a side) and give every core many to take.
const SEGMENTS: usize = 256;

impl Segments {
    fn new(n_left: usize) -> Segments {
        let shift = index_bits(n_left).saturating_sub(SEGMENTS.trailing_zeros());
        Segments {
            shift,
            count: (n_left.max(1) - 1) / (1usize << shift) + 1,
        }
    }

    #[inline]
    fn of(self, left: u32) -> usize {
        (left >> self.shift) as usize
    }
}

/// `v` cut into consecutive mutable slices of the given lengths (their sum at most its length).
fn cut_mut(mut v: &mut [u64], lens: impl IntoIterator<Item = usize>) -> Vec<&mut [u64]> {
    let mut out = Vec::new();
    for n in lens {
        let n = n.min(v.len());
        let (head, tail) = std::mem::take(&mut v).split_at_mut(n);
        out.push(head);
        v = tail;
    }
    out
}

/// Offsets from lengths: `[0, l0, l0 + l1, …]`.
fn offsets(lens: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut out = vec![0];
    let mut at = 0;
    for n in lens {
        at += n;
        out.push(at);
    }
    out
}

/// One rule's pairs as `pack`ed words with no rule bit, grouped by segment and sorted within
/// each (segment `s` is `words[starts[s]..starts[s + 1]]`).
struct RulePairs {
    words: Vec<u64>,
    starts: Vec<usize>,
    skipped: u64,
}

/// The pairs of one rule. The sorted keys are cut into parts at hash values (no key group
/// straddles two) that are joined in parallel: each part first counts its pairs per segment,
/// so that every pair is then written straight into its place in one vector of the rule's
/// exact size; each segment is then sorted on its own.
fn rule_pairs(
    left: &TokenTable,
    right: &TokenTable,
    dedupe: bool,
    rule: &BlockingRule,
    max_block_pairs: u64,
    pack: Pack,
    segs: Segments,
) -> RulePairs {
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
    pairs_of_keys(&lk, &rk, dedupe, max_block_pairs, pack, segs)
}

/// [`rule_pairs`] from the sides' sorted keys (`rk` unused when deduplicating).
fn pairs_of_keys(
    lk: &[u64],
    rk: &[u64],
    dedupe: bool,
    max_block_pairs: u64,
    pack: Pack,
    segs: Segments,
) -> RulePairs {
    let bits = pack.index;
    // Hashes are uniform: equal ranges of them hold about equal shares of the keys.
    let n_parts = (rayon::current_num_threads() * 4).clamp(1, 64);
    let bound = |v: &[u64], p: usize| {
        if p >= n_parts {
            return v.len();
        }
        // p / n_parts of the hash range, which is the key's top 64 - bits bits.
        let h = ((p as u128) << (64 - bits)) / n_parts as u128;
        v.partition_point(|&k| u128::from(k >> bits) < h)
    };
    let parts: Vec<Join<'_>> = (0..n_parts)
        .map(|p| Join {
            l: &lk[bound(lk, p)..bound(lk, p + 1)],
            r: if dedupe {
                &[]
            } else {
                &rk[bound(rk, p)..bound(rk, p + 1)]
            },
            dedupe,
            max_block_pairs,
            pack,
            segs,
        })
        .collect();
    let counts: Vec<(Vec<usize>, u64)> = parts.par_iter().map(Join::count).collect();
    let skipped = counts.iter().map(|c| c.1).sum();
    // Segment-major: segment s holds part 0's pairs of s, then part 1's, and so on.
    let lens = (0..segs.count).flat_map(|s| counts.iter().map(move |c| c.0[s]));
    let starts = offsets((0..segs.count).map(|s| counts.iter().map(|c| c.0[s]).sum()));
    let mut words = vec![0u64; starts.last().copied().unwrap_or(0)];
    let mut regions: Vec<Vec<&mut [u64]>> = (0..n_parts).map(|_| Vec::new()).collect();
    for (k, slice) in cut_mut(&mut words, lens).into_iter().enumerate() {
        regions[k % n_parts].push(slice);
    }
    parts
        .par_iter()
        .zip(regions)
        .for_each(|(part, mut regions)| part.fill(&mut regions));
    cut_mut(&mut words, starts.windows(2).map(|w| w[1] - w[0]))
        .into_par_iter()
        .for_each(|seg| seg.sort_unstable());
    RulePairs {
        words,
        starts,
        skipped,
    }
}

/// One part of a rule's sorted keys to join (`r` unused when deduplicating).
struct Join<'a> {
    l: &'a [u64],
    r: &'a [u64],
    dedupe: bool,
    max_block_pairs: u64,
    pack: Pack,
    segs: Segments,
}

impl Join<'_> {
    fn record(&self, k: u64) -> u32 {
        (k & ((1u64 << self.pack.index) - 1)) as u32
    }

    /// Calls `each(left group, right group)` for every key group within the cap (the right
    /// group is the left one when deduplicating) and returns how many the cap skipped.
    fn groups(&self, mut each: impl FnMut(&[u64], &[u64])) -> u64 {
        let bits = self.pack.index;
        let hash = |k: u64| k >> bits;
        let group_end = |v: &[u64], s: usize| {
            let mut e = s;
            while e < v.len() && hash(v[e]) == hash(v[s]) {
                e += 1;
            }
            e
        };
        let (l, r) = (self.l, self.r);
        let mut skipped = 0;
        if self.dedupe {
            let mut s = 0;
            while s < l.len() {
                let e = group_end(l, s);
                let n = (e - s) as u64;
                if n * (n - 1) / 2 > self.max_block_pairs {
                    skipped += 1;
                } else {
                    each(&l[s..e], &l[s..e]);
                }
                s = e;
            }
        } else {
            let (mut i, mut j) = (0, 0);
            while i < l.len() && j < r.len() {
                match hash(l[i]).cmp(&hash(r[j])) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        let ie = group_end(l, i);
                        let je = group_end(r, j);
                        if ((ie - i) as u64) * ((je - j) as u64) > self.max_block_pairs {
                            skipped += 1;
                        } else {
                            each(&l[i..ie], &r[j..je]);
                        }
                        i = ie;
                        j = je;
                    }
                }
            }
        }
        skipped
    }

    /// The part's pairs per segment, and the groups skipped.
    fn count(&self) -> (Vec<usize>, u64) {
        let mut n = vec![0usize; self.segs.count];
        let skipped = self.groups(|lg, rg| {
            for (x, &k) in lg.iter().enumerate() {
                // When deduplicating, keys sort by record within a group: each record pairs
                // with the later ones, as the smaller record of those pairs.
                let others = if self.dedupe {
                    lg.len() - x - 1
                } else {
                    rg.len()
                };
                if let Some(c) = n.get_mut(self.segs.of(self.record(k))) {
                    *c += others;
                }
            }
        });
        (n, skipped)
    }

    /// Write the part's pairs into its region of each segment (sized by [`Join::count`]).
    fn fill(&self, regions: &mut [&mut [u64]]) {
        let mut at = vec![0usize; regions.len()];
        self.groups(|lg, rg| {
            for (x, &k) in lg.iter().enumerate() {
                let a = self.record(k);
                let s = self.segs.of(a);
                let (Some(region), Some(w)) = (regions.get_mut(s), at.get_mut(s)) else {
                    continue;
                };
                let others = if self.dedupe { &lg[x + 1..] } else { rg };
                for &o in others {
                    if let Some(slot) = region.get_mut(*w) {
                        *slot = self.pack.word((a, self.record(o)));
                    }
                    *w += 1;
                }
            }
        });
    }
}

/// Segment `s` of `v` as `starts` cuts it.
fn seg<'a>(v: &'a [u64], starts: &[usize], s: usize) -> &'a [u64] {
    let lo = starts.get(s).copied().unwrap_or(0);
    let hi = starts.get(s + 1).copied().unwrap_or(lo);
    v.get(lo..hi).unwrap_or(&[])
}

/// The sorted union of the rules' pairs, one vector grouped by segment (segment `s` is
/// `words[starts[s]..starts[s + 1]]`), each word a pair and the bits of the rules that gave it.
struct Union {
    words: Vec<u64>,
    starts: Vec<usize>,
}

impl Union {
    /// Merge a rule's pairs in, in place: first each segment's new pairs are counted, then the
    /// segments are moved (from the last, so none overwrites another) to the ends of their new
    /// places, and each is merged forward into its place, all segments in parallel. The union
    /// is never held twice.
    fn merge(&mut self, rule: &RulePairs, bit: u64, pack: Pack) {
        let key = |x: u64| x >> pack.mask;
        let old = &self.starts;
        let added: Vec<usize> = (0..old.len() - 1)
            .into_par_iter()
            .map(|s| {
                let (u, t) = (seg(&self.words, old, s), seg(&rule.words, &rule.starts, s));
                t.len() - crate::compare::common_by(u, t, key)
            })
            .collect();
        let new = offsets((0..added.len()).map(|s| old[s + 1] - old[s] + added[s]));
        let total = new.last().copied().unwrap_or(0);
        self.words.resize(total, 0);
        for s in (0..added.len()).rev() {
            let len = old[s + 1] - old[s];
            self.words.copy_within(old[s]..old[s + 1], new[s + 1] - len);
        }
        let lens: Vec<usize> = new.windows(2).map(|w| w[1] - w[0]).collect();
        cut_mut(&mut self.words, lens)
            .into_par_iter()
            .enumerate()
            .for_each(|(s, out)| {
                let theirs = seg(&rule.words, &rule.starts, s);
                // The segment's old pairs sit at the end of `out`: writing from the front
                // never passes them (k ≤ i: what is written is what was read of both, and
                // the pairs read of the old are behind i by the new pairs not yet read).
                let mut i = added[s];
                let (mut j, mut k) = (0, 0);
                while k < out.len() {
                    let t = theirs.get(j).copied();
                    let o = if i < out.len() { Some(out[i]) } else { None };
                    let w = match (o, t) {
                        (Some(o), Some(t)) if key(o) < key(t) => {
                            i += 1;
                            o
                        }
                        (Some(o), Some(t)) if key(o) == key(t) => {
                            i += 1;
                            j += 1;
                            o | bit
                        }
                        (_, Some(t)) => {
                            j += 1;
                            t | bit
                        }
                        (Some(o), None) => {
                            i += 1;
                            o
                        }
                        (None, None) => break,
                    };
                    out[k] = w;
                    k += 1;
                }
            });
        self.starts = new;
    }
}

/// Candidate pairs between two tables (`dedupe = false`) or within one (`right` ignored,
/// `dedupe = true`). A key group contributing more than `max_block_pairs` pairs is skipped:
/// a value shared by that many records (a placeholder date, a common name alone) says nothing.
///
/// Rules are joined one after another, each in parallel parts, and merged into the sorted
/// union segment by segment in parallel, so that memory holds the union and one rule's pairs,
/// never every rule's pairs at once.
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
    let segs = Segments::new(left.len());
    let mut union = Union {
        words: Vec::new(),
        starts: vec![0; segs.count + 1],
    };
    let mut per_rule = Vec::with_capacity(rules.len());
    let mut skipped_blocks = 0;
    for (r, rule) in rules.iter().enumerate() {
        let rp = rule_pairs(left, right, dedupe, rule, max_block_pairs, pack, segs);
        // A rule gives each pair once: a record has one key per rule.
        per_rule.push(rp.words.len() as u64);
        skipped_blocks += rp.skipped;
        union.merge(&rp, pack.bit(r), pack);
    }
    let (starts, right, masks) = Candidates::from_union(union.words, pack, left.len());
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
    use super::{Candidates, Pack, Segments, Union, index_bits, pairs_of_keys, sort_uniform};
    use rayon::iter::ParallelIterator;
    use std::collections::BTreeMap;

    /// Sorted keys of records `0..n` (hash in the high bits, record in the low `bits`) with
    /// hashes drawn from `hashes` (spread over the whole range, so that every part of a
    /// rule's join gets some).
    fn sorted_keys(groups: &[usize], hashes: &[u64], bits: u32) -> Vec<u64> {
        let mut k: Vec<u64> = groups
            .iter()
            .enumerate()
            .map(|(i, &g)| (hashes[g % hashes.len()] >> bits << bits) | i as u64)
            .collect();
        k.sort_unstable();
        k
    }

    proptest::proptest! {
        /// A rule's pairs, joined in parts and written by segment, are the pairs of records
        /// with equal hashes (each once, in dedupe as smaller record first), key groups over
        /// the cap left out and counted; each segment sorted.
        #[test]
        fn rule_pairs_are_those_of_equal_hashes(
            left in proptest::collection::vec(0usize..12, 0..300),
            right in proptest::collection::vec(0usize..12, 0..300),
            hashes in proptest::collection::vec(proptest::num::u64::ANY, 1..12),
            cap in proptest::sample::select(vec![0u64, 6, 40, u64::MAX]),
            dedupe in proptest::bool::ANY,
        ) {
            let n = left.len().max(right.len());
            let pack = Pack::new(n);
            let segs = Segments::new(left.len());
            let bits = pack.index;
            let lk = sorted_keys(&left, &hashes, bits);
            let rk = sorted_keys(&right, &hashes, bits);
            let got = pairs_of_keys(&lk, &rk, dedupe, cap, pack, segs);
            let mut want = Vec::new();
            let mut skipped = 0;
            let h = |side: &[usize], i: usize| hashes[side[i] % hashes.len()] >> bits;
            let mut hs: Vec<u64> = hashes.iter().map(|&x| x >> bits).collect();
            hs.sort_unstable();
            hs.dedup();
            for &g in &hs {
                let l: Vec<u32> = (0..left.len()).filter(|&i| h(&left, i) == g).map(|i| i as u32).collect();
                let r: Vec<u32> = (0..right.len()).filter(|&i| h(&right, i) == g).map(|i| i as u32).collect();
                let pairs: Vec<(u32, u32)> = if dedupe {
                    l.iter().flat_map(|&a| l.iter().filter(move |&&b| a < b).map(move |&b| (a, b))).collect()
                } else if l.is_empty() || r.is_empty() {
                    continue;
                } else {
                    l.iter().flat_map(|&a| r.iter().map(move |&b| (a, b))).collect()
                };
                if l.len() < 2 && dedupe {
                    continue;
                }
                if pairs.len() as u64 > cap {
                    skipped += 1;
                } else {
                    want.extend(pairs);
                }
            }
            want.sort_unstable();
            proptest::prop_assert_eq!(got.skipped, skipped);
            let mut flat = Vec::new();
            for s in 0..segs.count {
                let seg = super::seg(&got.words, &got.starts, s);
                let pairs: Vec<(u32, u32)> = seg.iter().map(|&w| pack.pair(w)).collect();
                proptest::prop_assert!(pairs.windows(2).all(|w| w[0] < w[1]));
                proptest::prop_assert!(pairs.iter().all(|&(a, _)| segs.of(a) == s));
                proptest::prop_assert!(seg.iter().all(|&w| pack.mask(w) == 0));
                flat.extend(pairs);
            }
            proptest::prop_assert_eq!(flat, want);
        }
    }

    proptest::proptest! {
        /// Rules merged one after another into the union give every pair once, in order,
        /// with the bits of exactly the rules that gave it.
        #[test]
        fn union_holds_each_pair_with_its_rules(
            n in 1usize..600,
            rules in proptest::collection::vec(
                proptest::collection::btree_set((0u32..600, 0u32..600), 0..200), 1..6),
        ) {
            let pack = Pack::new(n);
            let segs = Segments::new(n);
            let mut union = Union { words: Vec::new(), starts: vec![0; segs.count + 1] };
            let mut want: BTreeMap<(u32, u32), u16> = BTreeMap::new();
            for (r, pairs) in rules.iter().enumerate() {
                let pairs: Vec<(u32, u32)> = pairs
                    .iter()
                    .map(|&(a, b)| (a % n as u32, b % n as u32))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                for &p in &pairs {
                    *want.entry(p).or_default() |= 1 << r;
                }
                let mut starts = vec![0usize; segs.count + 1];
                for &(a, _) in &pairs {
                    starts[segs.of(a) + 1] += 1;
                }
                for s in 1..starts.len() {
                    starts[s] += starts[s - 1];
                }
                let words: Vec<u64> = pairs.iter().map(|&p| pack.word(p)).collect();
                union.merge(&super::RulePairs { words, starts, skipped: 0 }, pack.bit(r), pack);
            }
            let got: Vec<((u32, u32), u16)> =
                union.words.iter().map(|&w| (pack.pair(w), pack.mask(w))).collect();
            let want: Vec<((u32, u32), u16)> = want.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
            for s in 0..segs.count {
                let seg = super::seg(&union.words, &union.starts, s);
                proptest::prop_assert!(seg.iter().all(|&w| segs.of(pack.pair(w).0) == s));
            }
        }
    }

    proptest::proptest! {
        /// Sorting by the top bits first, then within buckets, sorts, whatever the bits hold.
        #[test]
        fn uniform_sort_sorts(
            mut v in proptest::collection::vec(proptest::num::u64::ANY, 0..2000),
            narrow in proptest::bool::ANY,
        ) {
            if narrow {
                // Top bits all alike: one bucket holds everything.
                v.iter_mut().for_each(|x| *x >>= 12);
            }
            let mut want = v.clone();
            want.sort_unstable();
            sort_uniform(&mut v);
            proptest::prop_assert_eq!(v, want);
        }
    }

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
