//! Equivalence classes of a transformation, counted by hashing packed keys.
//!
//! A transformation assigns each quasi-identifier a level. At that level each attribute's codes need
//! `ceil(log2(level size))` bits; when the sum fits in 128 bits a class key is those codes packed into one `u128`
//! (the common case: adult needs 32 bits at the bottom). Wider keys fall back to boxed code slices. Classes of a
//! coarser transformation are computed by *rolling up* the classes of a finer one — one lookup per attribute per
//! class instead of a scan of the records.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::data::Dataset;

/// A small multiplicative hasher (the Fx hash of rustc) for integer keys: class keys are not attacker-chosen
/// in a way that matters here (the worst case is slower counting, never a wrong count).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut a = [0u8; 8];
            a[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(a));
        }
    }
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.add(v as u64);
        self.add((v >> 64) as u64);
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes the top 7 bits as a tag and the low bits as the bucket: fold high into low.
        self.0.rotate_left(26)
    }
}

/// Build-hasher for maps keyed by class keys.
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// How codes of one transformation are packed into a `u128`.
#[derive(Debug, Clone, PartialEq)]
pub struct Packing {
    shifts: Vec<u32>,
    masks: Vec<u128>,
}

impl Packing {
    /// Packing for `levels` of `data`, or `None` when the codes need more than 128 bits.
    pub fn new(data: &Dataset, levels: &[u8]) -> Option<Packing> {
        let mut shifts = Vec::with_capacity(levels.len());
        let mut masks = Vec::with_capacity(levels.len());
        let mut total = 0u32;
        for (q, &l) in data.quasi_identifiers().iter().zip(levels) {
            let size = q.hierarchy.level_size(l as usize) as u64;
            let bits = if size <= 1 {
                0
            } else {
                64 - (size - 1).leading_zeros()
            };
            shifts.push(total);
            masks.push(if bits == 0 { 0 } else { (1u128 << bits) - 1 });
            total += bits;
        }
        (total <= 128).then_some(Packing { shifts, masks })
    }

    #[inline]
    fn pack(&self, codes: &[u32]) -> u128 {
        let mut k = 0u128;
        for (i, &c) in codes.iter().enumerate() {
            k |= u128::from(c) << self.shifts[i];
        }
        k
    }

    #[inline]
    fn unpack(&self, key: u128, out: &mut [u32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = ((key >> self.shifts[i]) & self.masks[i]) as u32;
        }
    }
}

/// Class keys: in the fixed 64-bit layout, packed per transformation in 128 bits, or, for very wide
/// transformations, the codes themselves.
#[derive(Debug, Clone)]
enum Keys {
    Fixed(Layout, Vec<u64>),
    Packed(Packing, Vec<u128>),
    Wide(Vec<u32>),
}

/// A sparse histogram of sensitive codes, sorted by code.
pub type Histogram = Vec<(u32, u32)>;

/// The equivalence classes of one transformation.
#[derive(Debug, Clone)]
pub struct Classes {
    /// Levels of the transformation.
    pub levels: Vec<u8>,
    keys: Keys,
    /// Records per class.
    pub counts: Vec<u32>,
    /// Sensitive-value histogram per class (empty when there is no sensitive attribute).
    pub hists: Vec<Histogram>,
    n_attr: usize,
}

impl Classes {
    /// Number of classes.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether there are no classes (an empty table).
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Write the codes (at `self.levels`) of class `c` into `out`.
    #[inline]
    pub fn codes(&self, c: usize, out: &mut [u32]) {
        match &self.keys {
            Keys::Fixed(l, k) => l.unpack(k[c], out),
            Keys::Packed(p, k) => p.unpack(k[c], out),
            Keys::Wide(r) => out.copy_from_slice(&r[c * self.n_attr..(c + 1) * self.n_attr]),
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let keys = match &self.keys {
            Keys::Fixed(_, k) => k.len() * 8,
            Keys::Packed(_, k) => k.len() * 16,
            Keys::Wide(r) => r.len() * 4,
        };
        keys + self.counts.len() * 4 + self.hists.iter().map(|h| 24 + h.len() * 8).sum::<usize>()
    }
}

fn merge_hist(into: &mut Histogram, from: &[(u32, u32)]) {
    for &(code, n) in from {
        match into.binary_search_by_key(&code, |e| e.0) {
            Ok(i) => into[i].1 += n,
            Err(i) => into.insert(i, (code, n)),
        }
    }
}

struct Grouper<K> {
    map: HashMap<K, u32, FxBuild>,
    keys: Vec<K>,
    counts: Vec<u32>,
    hists: Vec<Histogram>,
    with_hist: bool,
}

impl<K: Hash + Eq + Clone> Grouper<K> {
    fn new(capacity: usize, with_hist: bool) -> Self {
        Grouper {
            map: HashMap::with_capacity_and_hasher(capacity, FxBuild::default()),
            keys: Vec::with_capacity(capacity),
            counts: Vec::with_capacity(capacity),
            hists: Vec::new(),
            with_hist,
        }
    }

    #[inline]
    fn add(&mut self, key: K, count: u32, hist: &[(u32, u32)]) {
        let next = self.counts.len() as u32;
        let idx = *self.map.entry(key.clone()).or_insert(next);
        if idx == next {
            self.keys.push(key);
            self.counts.push(count);
            if self.with_hist {
                self.hists.push(hist.to_vec());
            }
        } else {
            self.counts[idx as usize] += count;
            if self.with_hist {
                merge_hist(&mut self.hists[idx as usize], hist);
            }
        }
    }
}

/// Count the classes of `levels` by scanning the records.
pub fn from_records(data: &Dataset, levels: &[u8]) -> Classes {
    let qis = data.quasi_identifiers();
    let n_attr = qis.len();
    let tables: Vec<&[u32]> = qis
        .iter()
        .zip(levels)
        .map(|(q, &l)| q.hierarchy.level_codes(l as usize))
        .collect();
    let sens = data.sensitive().map(|s| &s.codes);
    let with_hist = sens.is_some();
    let mut codes = vec![0u32; n_attr];
    let records = data.records();
    let mut one = [(0u32, 1u32)];
    let hist_of = |r: usize, one: &mut [(u32, u32); 1]| {
        if let Some(s) = sens {
            one[0].0 = s[r];
        }
    };
    match Packing::new(data, levels) {
        Some(p) => {
            let mut g: Grouper<u128> = Grouper::new(1024, with_hist);
            for r in 0..records {
                for (j, c) in codes.iter_mut().enumerate() {
                    *c = tables[j][qis[j].leaves[r] as usize];
                }
                hist_of(r, &mut one);
                g.add(p.pack(&codes), 1, &one);
            }
            Classes {
                levels: levels.to_vec(),
                keys: Keys::Packed(p, g.keys),
                counts: g.counts,
                hists: g.hists,
                n_attr,
            }
        }
        None => {
            let mut g: Grouper<Box<[u32]>> = Grouper::new(1024, with_hist);
            for r in 0..records {
                for (j, c) in codes.iter_mut().enumerate() {
                    *c = tables[j][qis[j].leaves[r] as usize];
                }
                hist_of(r, &mut one);
                g.add(codes.clone().into_boxed_slice(), 1, &one);
            }
            let reps = g.keys.iter().flat_map(|k| k.iter().copied()).collect();
            Classes {
                levels: levels.to_vec(),
                keys: Keys::Wide(reps),
                counts: g.counts,
                hists: g.hists,
                n_attr,
            }
        }
    }
}

/// Roll the classes of a finer transformation up to `levels` (every level ≥ the source's).
/// `up[j][from][to]` maps codes of attribute `j` between levels.
pub fn roll_up(data: &Dataset, source: &Classes, levels: &[u8], up: &UpTables) -> Classes {
    let n_attr = source.n_attr;
    let changed: Vec<(usize, &[u32])> = (0..n_attr)
        .filter(|&j| levels[j] != source.levels[j])
        .map(|j| (j, up.get(j, source.levels[j] as usize, levels[j] as usize)))
        .collect();
    let with_hist = !source.hists.is_empty();
    let mut codes = vec![0u32; n_attr];
    let empty: [(u32, u32); 0] = [];
    let cap = source.len().min(1 << 16);
    match Packing::new(data, levels) {
        Some(p) => {
            let mut g: Grouper<u128> = Grouper::new(cap, with_hist);
            for c in 0..source.len() {
                source.codes(c, &mut codes);
                for &(j, t) in &changed {
                    codes[j] = t[codes[j] as usize];
                }
                let h: &[(u32, u32)] = if with_hist { &source.hists[c] } else { &empty };
                g.add(p.pack(&codes), source.counts[c], h);
            }
            Classes {
                levels: levels.to_vec(),
                keys: Keys::Packed(p, g.keys),
                counts: g.counts,
                hists: g.hists,
                n_attr,
            }
        }
        None => {
            let mut g: Grouper<Box<[u32]>> = Grouper::new(cap, with_hist);
            for c in 0..source.len() {
                source.codes(c, &mut codes);
                for &(j, t) in &changed {
                    codes[j] = t[codes[j] as usize];
                }
                let h: &[(u32, u32)] = if with_hist { &source.hists[c] } else { &empty };
                g.add(codes.clone().into_boxed_slice(), source.counts[c], h);
            }
            let reps = g.keys.iter().flat_map(|k| k.iter().copied()).collect();
            Classes {
                levels: levels.to_vec(),
                keys: Keys::Wide(reps),
                counts: g.counts,
                hists: g.hists,
                n_attr,
            }
        }
    }
}

/// Precomputed code maps between levels of every quasi-identifier.
#[derive(Debug, Clone)]
pub struct UpTables {
    /// `tables[j][from * height + to]`.
    tables: Vec<Vec<Vec<u32>>>,
    heights: Vec<usize>,
}

impl UpTables {
    /// Build for all quasi-identifiers of `data`.
    pub fn new(data: &Dataset) -> Self {
        let mut tables = Vec::new();
        let mut heights = Vec::new();
        for q in data.quasi_identifiers() {
            let h = q.hierarchy.height();
            let mut t = vec![Vec::new(); h * h];
            for from in 0..h {
                for to in from..h {
                    t[from * h + to] = q.hierarchy.up_table(from, to);
                }
            }
            tables.push(t);
            heights.push(h);
        }
        UpTables { tables, heights }
    }

    /// Map of attribute `j` from level `from` to level `to`.
    #[inline]
    pub fn get(&self, j: usize, from: usize, to: usize) -> &[u32] {
        &self.tables[j][from * self.heights[j] + to]
    }
}

/// For each record, the index of its class in `classes` (which must be of `classes.levels`).
pub fn class_of_records(data: &Dataset, classes: &Classes) -> Vec<u32> {
    let qis = data.quasi_identifiers();
    let n_attr = qis.len();
    let levels = &classes.levels;
    let mut codes = vec![0u32; n_attr];
    let mut out = Vec::with_capacity(data.records());
    let tables: Vec<&[u32]> = qis
        .iter()
        .zip(levels)
        .map(|(q, &l)| q.hierarchy.level_codes(l as usize))
        .collect();
    match &classes.keys {
        Keys::Fixed(l, keys) => {
            let mut map = U64Map::with_capacity(keys.len());
            for (i, &k) in keys.iter().enumerate() {
                map.get_or_insert(k, i as u32);
            }
            for r in 0..data.records() {
                for (j, c) in codes.iter_mut().enumerate() {
                    *c = tables[j][qis[j].leaves[r] as usize];
                }
                out.push(map.get(l.pack(&codes)).unwrap_or(u32::MAX));
            }
        }
        Keys::Packed(p, keys) => {
            let index: HashMap<u128, u32, FxBuild> = keys
                .iter()
                .enumerate()
                .map(|(i, &k)| (k, i as u32))
                .collect();
            for r in 0..data.records() {
                for (j, c) in codes.iter_mut().enumerate() {
                    *c = tables[j][qis[j].leaves[r] as usize];
                }
                out.push(index.get(&p.pack(&codes)).copied().unwrap_or(u32::MAX));
            }
        }
        Keys::Wide(reps) => {
            let index: HashMap<&[u32], u32, FxBuild> = reps
                .chunks(n_attr.max(1))
                .enumerate()
                .map(|(i, k)| (k, i as u32))
                .collect();
            for r in 0..data.records() {
                for (j, c) in codes.iter_mut().enumerate() {
                    *c = tables[j][qis[j].leaves[r] as usize];
                }
                out.push(index.get(codes.as_slice()).copied().unwrap_or(u32::MAX));
            }
        }
    }
    out
}

/// For each class of `data`, the records of `population`'s class with the same generalized values (0 when the
/// population has no such class).
///
/// Both must be classes of the same levels over datasets with the same hierarchies (as a
/// [`crate::population::Population`] is built), so their keys are packed alike: the data's classes (the smaller
/// side: the data is a subset of the population) go into a hash table once and every population class costs one
/// lookup. When the two packings differ (never for a population built from the data's hierarchies) the codes are
/// compared instead.
pub fn matching_counts(data: &Classes, population: &Classes) -> Vec<u32> {
    debug_assert_eq!(data.levels, population.levels);
    let mut out = vec![0u32; data.len()];
    match (&data.keys, &population.keys) {
        (Keys::Fixed(dl, dk), Keys::Fixed(pl, pk)) if dl == pl => {
            let mut map = U64Map::with_capacity(dk.len());
            for (i, &k) in dk.iter().enumerate() {
                map.get_or_insert(k, i as u32);
            }
            for (&k, &n) in pk.iter().zip(&population.counts) {
                if let Some(i) = map.get(k) {
                    out[i as usize] = n;
                }
            }
        }
        (Keys::Packed(dp, dk), Keys::Packed(pp, pk)) if dp == pp => {
            let index: HashMap<u128, u32, FxBuild> =
                dk.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
            for (k, &n) in pk.iter().zip(&population.counts) {
                if let Some(&i) = index.get(k) {
                    out[i as usize] = n;
                }
            }
        }
        _ => {
            let n_attr = data.n_attr;
            let mut codes = vec![0u32; n_attr];
            let mut index: HashMap<Box<[u32]>, u32, FxBuild> = HashMap::default();
            for i in 0..data.len() {
                data.codes(i, &mut codes);
                index.insert(codes.clone().into_boxed_slice(), i as u32);
            }
            for (c, &n) in population.counts.iter().enumerate() {
                population.codes(c, &mut codes);
                if let Some(&i) = index.get(codes.as_slice()) {
                    out[i as usize] = n;
                }
            }
        }
    }
    out
}

/// The fixed layout: attribute `j` always occupies the bits of its level-0 domain, so generalizing one attribute
/// rewrites one field of a `u64` key in place (a code never needs more bits at a higher level: a tree's levels
/// only shrink).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    shifts: Vec<u32>,
    masks: Vec<u64>,
}

impl Layout {
    /// The layout of `data`, or `None` when the level-0 codes need more than 63 bits.
    pub fn new(data: &Dataset) -> Option<Layout> {
        let mut shifts = Vec::new();
        let mut masks = Vec::new();
        let mut total = 0u32;
        for q in data.quasi_identifiers() {
            let size = q.hierarchy.level_size(0) as u64;
            let bits = if size <= 1 {
                0
            } else {
                64 - (size - 1).leading_zeros()
            };
            shifts.push(total);
            masks.push(if bits == 0 { 0 } else { (1u64 << bits) - 1 });
            total += bits;
        }
        // 63 so that u64::MAX stays free as the hash table's empty marker.
        (total <= 63).then_some(Layout { shifts, masks })
    }

    #[inline]
    fn pack(&self, codes: &[u32]) -> u64 {
        let mut k = 0u64;
        for (i, &c) in codes.iter().enumerate() {
            k |= u64::from(c) << self.shifts[i];
        }
        k
    }

    #[inline]
    fn unpack(&self, key: u64, out: &mut [u32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = ((key >> self.shifts[i]) & self.masks[i]) as u32;
        }
    }
}

const EMPTY: u64 = u64::MAX;

/// Open-addressing map from `u64` keys (never `u64::MAX`) to class indexes; Fibonacci hashing, linear probing.
struct U64Map {
    keys: Vec<u64>,
    vals: Vec<u32>,
    shift: u32,
    len: usize,
}

impl U64Map {
    fn with_capacity(n: usize) -> Self {
        let cap = (n.max(8) * 2).next_power_of_two();
        U64Map {
            keys: vec![EMPTY; cap],
            vals: vec![0; cap],
            shift: 64 - cap.trailing_zeros(),
            len: 0,
        }
    }

    #[inline]
    fn slot(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The value of `k`, inserting `next` when absent; returns (value, inserted).
    #[inline]
    fn get_or_insert(&mut self, k: u64, next: u32) -> (u32, bool) {
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let mask = self.keys.len() - 1;
        let mut i = self.slot(k);
        loop {
            let cur = self.keys[i];
            if cur == k {
                return (self.vals[i], false);
            }
            if cur == EMPTY {
                self.keys[i] = k;
                self.vals[i] = next;
                self.len += 1;
                return (next, true);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn get(&self, k: u64) -> Option<u32> {
        let mask = self.keys.len() - 1;
        let mut i = self.slot(k);
        loop {
            let cur = self.keys[i];
            if cur == k {
                return Some(self.vals[i]);
            }
            if cur == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old_keys = std::mem::take(&mut self.keys);
        let old_vals = std::mem::take(&mut self.vals);
        let cap = old_keys.len() * 2;
        self.keys = vec![EMPTY; cap];
        self.vals = vec![0; cap];
        self.shift = 64 - cap.trailing_zeros();
        self.len = 0;
        for (k, v) in old_keys.into_iter().zip(old_vals) {
            if k != EMPTY {
                self.get_or_insert(k, v);
            }
        }
    }
}

struct FixedGrouper {
    map: U64Map,
    keys: Vec<u64>,
    counts: Vec<u32>,
    hists: Vec<Histogram>,
    with_hist: bool,
}

impl FixedGrouper {
    fn new(capacity: usize, with_hist: bool) -> Self {
        FixedGrouper {
            map: U64Map::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
            counts: Vec::with_capacity(capacity),
            hists: Vec::new(),
            with_hist,
        }
    }

    #[inline]
    fn add(&mut self, key: u64, count: u32, hist: &[(u32, u32)]) {
        let next = self.counts.len() as u32;
        let (idx, inserted) = self.map.get_or_insert(key, next);
        if inserted {
            self.keys.push(key);
            self.counts.push(count);
            if self.with_hist {
                self.hists.push(hist.to_vec());
            }
        } else {
            self.counts[idx as usize] += count;
            if self.with_hist {
                merge_hist(&mut self.hists[idx as usize], hist);
            }
        }
    }
}

/// Class counting for one dataset: the fixed 64-bit layout when it fits (records pre-packed at level 0), the
/// general paths otherwise.
pub struct Grouping<'a> {
    data: &'a Dataset,
    layout: Option<Layout>,
    base: Vec<u64>,
    /// Code maps between levels.
    pub up: UpTables,
    /// Classes of transformations that generalize at most one attribute (the bottom included), used as roll-up
    /// sources: any transformation is coarser than several of them, and they hold fewer classes than there are
    /// records. Empty without the fixed layout or with a sensitive attribute.
    anchors: Vec<Classes>,
}

impl<'a> Grouping<'a> {
    /// Prepare `data` (packs every record once).
    pub fn new(data: &'a Dataset) -> Self {
        let layout = Layout::new(data);
        let mut base = Vec::new();
        if let Some(l) = &layout {
            let qis = data.quasi_identifiers();
            base = (0..data.records())
                .map(|r| {
                    qis.iter()
                        .enumerate()
                        .map(|(j, q)| u64::from(q.hierarchy.code(0, q.leaves[r])) << l.shifts[j])
                        .fold(0, |a, b| a | b)
                })
                .collect();
        }
        let mut g = Grouping {
            data,
            layout,
            base,
            up: UpTables::new(data),
            anchors: Vec::new(),
        };
        if g.layout.is_some() && data.sensitive().is_none() {
            let n_attr = data.quasi_identifiers().len();
            let bottom = g.scan(&vec![0u8; n_attr]);
            let mut singles: Vec<Vec<u8>> = Vec::new();
            for (j, h) in data.heights().into_iter().enumerate() {
                for l in 1..h.saturating_sub(1) {
                    let mut lv = vec![0u8; n_attr];
                    lv[j] = l as u8;
                    singles.push(lv);
                }
            }
            use rayon::prelude::*;
            let mut anchors: Vec<Classes> = singles
                .par_iter()
                .map(|lv| g.roll_up(&bottom, lv))
                .collect();
            anchors.push(bottom);
            // Only anchors smaller than the records are worth rolling up from.
            anchors.retain(|a| a.len() * 4 < data.records() * 3);
            anchors.sort_by_key(Classes::len);
            g.anchors = anchors;
        }
        g
    }

    /// Classes of `levels`, rolled up from the smallest anchor below it, else counted from the records.
    pub fn classes(&self, levels: &[u8]) -> Classes {
        let below = |a: &&Classes| a.levels.iter().zip(levels).all(|(x, y)| x <= y);
        let Some(single) = self.anchors.iter().find(below) else {
            return self.scan(levels);
        };
        self.roll_up(single, levels)
    }

    /// Classes of `levels` counted from the records.
    pub fn scan(&self, levels: &[u8]) -> Classes {
        let Some(l) = &self.layout else {
            return from_records(self.data, levels);
        };
        let n_attr = levels.len();
        let changed: Vec<(u32, u64, Vec<u64>)> = (0..n_attr)
            .filter(|&j| levels[j] > 0)
            .map(|j| {
                let t = self
                    .up
                    .get(j, 0, levels[j] as usize)
                    .iter()
                    .map(|&c| u64::from(c) << l.shifts[j])
                    .collect();
                (l.shifts[j], l.masks[j], t)
            })
            .collect();
        let keep = changed
            .iter()
            .fold(u64::MAX, |m, &(s, mask, _)| m & !(mask << s));
        let key_of = |b: u64| {
            let mut k = b & keep;
            for (s, mask, t) in &changed {
                k |= t[((b >> s) & mask) as usize];
            }
            k
        };
        let (keys, counts, hists) = match self.data.sensitive() {
            None => {
                // Sized for many classes up front: rehashing a growing table costs more than scanning a sparse one.
                let hint = (self.base.len() / 2).clamp(1024, 1 << 20);
                let (keys, counts) = count_keys(self.base.iter().map(|&b| (key_of(b), 1)), hint);
                (keys, counts, Vec::new())
            }
            Some(s) => {
                let mut g = FixedGrouper::new(1024, true);
                for (r, &b) in self.base.iter().enumerate() {
                    g.add(key_of(b), 1, &[(s.codes[r], 1)]);
                }
                (g.keys, g.counts, g.hists)
            }
        };
        Classes {
            levels: levels.to_vec(),
            keys: Keys::Fixed(l.clone(), keys),
            counts,
            hists,
            n_attr,
        }
    }

    /// Classes of `levels` rolled up from a finer transformation's classes.
    pub fn roll_up(&self, source: &Classes, levels: &[u8]) -> Classes {
        let (Some(l), Keys::Fixed(_, src_keys)) = (&self.layout, &source.keys) else {
            return roll_up(self.data, source, levels, &self.up);
        };
        let n_attr = levels.len();
        let changed: Vec<(u32, u64, &[u32])> = (0..n_attr)
            .filter(|&j| levels[j] != source.levels[j])
            .map(|j| {
                (
                    l.shifts[j],
                    l.masks[j],
                    self.up
                        .get(j, source.levels[j] as usize, levels[j] as usize),
                )
            })
            .collect();
        let keep = changed
            .iter()
            .fold(u64::MAX, |m, &(s, mask, _)| m & !(mask << s));
        let key_of = |b: u64| {
            let mut k = b & keep;
            for &(s, mask, t) in &changed {
                k |= u64::from(t[((b >> s) & mask) as usize]) << s;
            }
            k
        };
        if source.hists.is_empty() {
            let (keys, counts) = count_keys(
                src_keys
                    .iter()
                    .zip(&source.counts)
                    .map(|(&b, &n)| (key_of(b), n)),
                source.len(),
            );
            return Classes {
                levels: levels.to_vec(),
                keys: Keys::Fixed(l.clone(), keys),
                counts,
                hists: Vec::new(),
                n_attr,
            };
        }
        let mut g = FixedGrouper::new(source.len() / 2, true);
        for (c, &b) in src_keys.iter().enumerate() {
            g.add(key_of(b), source.counts[c], &source.hists[c]);
        }
        Classes {
            levels: levels.to_vec(),
            keys: Keys::Fixed(l.clone(), g.keys),
            counts: g.counts,
            hists: g.hists,
            n_attr,
        }
    }
}

/// Count weighted keys in an open-addressing table whose values are the counts themselves; the classes come out
/// in table order (a function of the keys only, so deterministic).
fn count_keys(items: impl Iterator<Item = (u64, u32)>, capacity: usize) -> (Vec<u64>, Vec<u32>) {
    let mut cap = (capacity.max(8) * 2).next_power_of_two();
    let mut keys = vec![EMPTY; cap];
    let mut counts = vec![0u32; cap];
    let mut shift = 64 - cap.trailing_zeros();
    let mut len = 0usize;
    for (k, n) in items {
        let mut mask = cap - 1;
        let mut i = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
        loop {
            let cur = keys[i];
            if cur == k {
                counts[i] += n;
                break;
            }
            if cur == EMPTY {
                keys[i] = k;
                counts[i] = n;
                len += 1;
                if len * 2 > cap {
                    // grow and rehash
                    let old_k = std::mem::take(&mut keys);
                    let old_c = std::mem::take(&mut counts);
                    cap *= 2;
                    mask = cap - 1;
                    shift = 64 - cap.trailing_zeros();
                    keys = vec![EMPTY; cap];
                    counts = vec![0u32; cap];
                    for (ok, oc) in old_k.into_iter().zip(old_c) {
                        if ok != EMPTY {
                            let mut j = (ok.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
                            while keys[j] != EMPTY {
                                j = (j + 1) & mask;
                            }
                            keys[j] = ok;
                            counts[j] = oc;
                        }
                    }
                }
                break;
            }
            i = (i + 1) & mask;
        }
    }
    let mut out_k = Vec::with_capacity(len);
    let mut out_c = Vec::with_capacity(len);
    for (k, c) in keys.into_iter().zip(counts) {
        if k != EMPTY {
            out_k.push(k);
            out_c.push(c);
        }
    }
    (out_k, out_c)
}
