//! k^m-anonymity of set-valued data (each person's set of diagnoses, drugs, …) by generalization along an item tree.
//!
//! **Model** (Terrovitis, Mamoulis & Kalnis, "Privacy-preserving anonymization of set-valued data", PVLDB 1(1),
//! 2008): a table of records that are sets of items is k^m-anonymous when every set of at most `m` items that is
//! contained in some record is contained in at least `k` records. An attacker who knows up to `m` of a person's items
//! then always finds at least `k` candidates.
//!
//! **Generalization** is global and follows a *cut* of the item tree: every occurrence of an item is replaced by the
//! same ancestor-or-self, and when a node `g` is chosen, every item in `g`'s subtree maps to `g` (so the released
//! codes never overlap). Suppression removes an item everywhere; it is the last resort for items that still break
//! the model at the top level allowed (the children of the root, e.g. ICD-10 chapters), because mapping to the root
//! would say nothing at all.
//!
//! **Algorithm** (our implementation of the paper's *Apriori Anonymization*): for `i = 1..=m`, count the support of
//! every `i`-itemset of the records under the current cut; itemsets with `0 < support < k` are handled rarest first.
//! For each, while it is still present and still rare, raise the one item of it whose move to its parent costs the
//! least information loss (ties: the rarer item, then the lower node id); when none of its items may be raised
//! (all are children of the root), suppress its rarest item. Supports under the changing cut are exact at every step
//! because each current cut node keeps the sorted list of records that contain it (merged when siblings are raised
//! together), and an itemset's support is the intersection of its items' lists (stopped as soon as `k` is reached).
//! The apriori property makes one ordered pass per level enough: generalizing only merges items (supports of the
//! merged itemsets are at least those of their parts) and suppression only removes itemsets, so levels already
//! done stay anonymous, and every itemset of the final data is the image of a counted one that was made frequent.
//! Each level is nevertheless recounted until no violation remains, and the result is verified with [`km_check`].
//!
//! Itemsets are counted by enumerating each record's sorted `i`-subsets as fixed-width packed keys (u64 or u128,
//! a vector only beyond 128 bits), sorting them in parallel (rayon) and counting runs, in chunks of first items so
//! memory stays bounded. Information loss is NCP-like: an occurrence generalized to `g` loses
//! `(leaves_under(g) − 1) / (total_leaves − 1)`, a suppressed one loses 1; costs are summed in exact integers.
//!
//! Pure and deterministic: the same input gives the same mapping regardless of the number of threads.

use rayon::prelude::*;

use crate::error::AnonError;

/// A generalization tree over items (e.g. ICD-10: subcategory → category → block → chapter → root).
#[derive(Debug, Clone)]
pub struct ItemTree {
    labels: Vec<String>,
    parent: Vec<Option<usize>>,
    depth: Vec<usize>,
    leaves: Vec<usize>,
    /// Preorder position of each node; the subtree of `n` is `order[tin[n]..tout[n]]`.
    tin: Vec<usize>,
    tout: Vec<usize>,
    /// Nodes in preorder.
    order: Vec<usize>,
    root: usize,
}

impl ItemTree {
    /// `nodes[i] = (label, parent)`; exactly one root (parent `None`); parents must form a tree (no cycles).
    /// Errors ([`AnonError::Config`]) name the node index, never its label (a label may be data).
    pub fn new(nodes: Vec<(String, Option<usize>)>) -> Result<ItemTree, AnonError> {
        let n = nodes.len();
        if n == 0 {
            return Err(AnonError::Config("item tree: no nodes".into()));
        }
        let mut root = None;
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, (_, p)) in nodes.iter().enumerate() {
            match *p {
                None => {
                    if let Some(r) = root {
                        return Err(AnonError::Config(format!(
                            "item tree: nodes {r} and {i} both have no parent; exactly one root is allowed"
                        )));
                    }
                    root = Some(i);
                }
                Some(p) if p >= n => {
                    return Err(AnonError::Config(format!(
                        "item tree: node {i} has parent {p}, which is not a node (the tree has {n})"
                    )));
                }
                Some(p) if p == i => {
                    return Err(AnonError::Config(format!(
                        "item tree: node {i} is its own parent"
                    )));
                }
                Some(p) => children[p].push(i),
            }
        }
        let Some(root) = root else {
            return Err(AnonError::Config(
                "item tree: no root (every node has a parent, so the parents form a cycle)".into(),
            ));
        };
        // Iterative preorder walk from the root; nodes not reached sit on a cycle.
        let mut depth = vec![usize::MAX; n];
        let mut tin = vec![0; n];
        let mut tout = vec![0; n];
        let mut order = Vec::with_capacity(n);
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        depth[root] = 0;
        tin[root] = 0;
        order.push(root);
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&c) = children[node].get(*next) {
                *next += 1;
                depth[c] = depth[node] + 1;
                tin[c] = order.len();
                order.push(c);
                stack.push((c, 0));
            } else {
                tout[node] = order.len();
                stack.pop();
            }
        }
        if order.len() != n {
            let lost = depth.iter().position(|&d| d == usize::MAX).unwrap_or(0);
            return Err(AnonError::Config(format!(
                "item tree: node {lost} is not below the root (its parents form a cycle)"
            )));
        }
        let mut leaves = vec![0usize; n];
        for &node in order.iter().rev() {
            if children[node].is_empty() {
                leaves[node] = 1;
            }
            if let Some(p) = nodes[node].1 {
                leaves[p] += leaves[node];
            }
        }
        let (labels, parent) = nodes.into_iter().unzip();
        Ok(ItemTree {
            labels,
            parent,
            depth,
            leaves,
            tin,
            tout,
            order,
            root,
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the tree has no nodes (never: a tree has a root).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The root node.
    pub fn root(&self) -> usize {
        self.root
    }

    /// Parent of `node` (`None` for the root).
    pub fn parent(&self, node: usize) -> Option<usize> {
        self.parent[node]
    }

    /// Label of `node`.
    pub fn label(&self, node: usize) -> &str {
        &self.labels[node]
    }

    /// Depth of `node` (the root has depth 0).
    pub fn depth(&self, node: usize) -> usize {
        self.depth[node]
    }

    /// Number of leaves under `node` (itself if it is a leaf), for NCP-style information loss.
    pub fn leaves_under(&self, node: usize) -> usize {
        self.leaves[node]
    }

    /// Whether `a` is an ancestor of `b` or `b` itself.
    pub fn is_ancestor_or_self(&self, a: usize, b: usize) -> bool {
        self.tin[a] <= self.tin[b] && self.tin[b] < self.tout[a]
    }

    /// Nodes of the subtree of `node` (itself first), in preorder.
    pub fn subtree(&self, node: usize) -> &[usize] {
        &self.order[self.tin[node]..self.tout[node]]
    }
}

/// k^m-anonymity: every set of at most `m` items that occurs in some record occurs in at least `k` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KmParams {
    /// k: the fewest records an itemset may occur in.
    pub k: usize,
    /// m: the largest itemset an attacker is assumed to know.
    pub m: usize,
}

/// Result of [`km_check`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KmCheck {
    /// Whether k^m-anonymity holds.
    pub holds: bool,
    /// Number of itemsets (size ≤ m) with 0 < support < k.
    pub violations: u64,
    /// Smallest positive support among itemsets of size ≤ m (`None` if there are no items).
    pub smallest_support: Option<usize>,
}

/// Check k^m-anonymity on records that are sets of node ids (any node, not only leaves; duplicates within a record
/// count once). Items are compared as ids only: no tree is needed.
pub fn km_check(records: &[Vec<usize>], p: KmParams) -> KmCheck {
    let recs: Vec<Vec<u32>> = records
        .par_iter()
        .map(|r| {
            let mut v: Vec<u32> = r.iter().map(|&x| x as u32).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // Ids above u32 cannot be packed; no tree is that large, but stay correct by treating them exactly.
    let wide = records.iter().flatten().any(|&x| x > u32::MAX as usize);
    if wide {
        return km_check_wide(records, p);
    }
    let max_id = recs.iter().flatten().copied().max().unwrap_or(0) as usize;
    let mut violations = 0u64;
    let mut smallest: Option<usize> = None;
    for i in 1..=p.m {
        count_itemsets(&recs, i, max_id, |_, c| {
            let c = c as usize;
            if c < p.k {
                violations += 1;
            }
            smallest = Some(smallest.map_or(c, |s| s.min(c)));
        });
    }
    KmCheck {
        holds: violations == 0,
        violations,
        smallest_support: smallest,
    }
}

/// [`km_check`] for ids that do not fit in `u32` (slow, exact; never expected in practice).
fn km_check_wide(records: &[Vec<usize>], p: KmParams) -> KmCheck {
    let mut counts: std::collections::BTreeMap<Vec<usize>, usize> = Default::default();
    for r in records {
        let mut v = r.clone();
        v.sort_unstable();
        v.dedup();
        for i in 1..=p.m.min(v.len()) {
            for_each_combination(v.len(), i, |idx| {
                let key: Vec<usize> = idx.iter().map(|&j| v[j]).collect();
                *counts.entry(key).or_insert(0) += 1;
            });
        }
    }
    let violations = counts.values().filter(|&&c| c < p.k).count() as u64;
    KmCheck {
        holds: violations == 0,
        violations,
        smallest_support: counts.values().copied().min(),
    }
}

/// The outcome of [`km_anonymize`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KmOutcome {
    /// Indexed by node id: `Some(g)` = every occurrence of this node is replaced by its ancestor-or-self `g`;
    /// `None` = suppressed (removed). Nodes that do not occur in the input map to themselves.
    pub mapping: Vec<Option<usize>>,
    /// Occurrences (record × distinct item) generalized, i.e. mapped to a strict ancestor.
    pub generalized: u64,
    /// Occurrences (record × distinct item) suppressed.
    pub suppressed: u64,
    /// Information loss in [0,1]: mean over occurrences of `(leaves_under(g) − 1) / (total_leaves − 1)`,
    /// a suppressed occurrence counting 1 (0 when there are no occurrences).
    pub information_loss: f64,
}

/// Generalize codes along the tree only as far as needed so that k^m holds (see the module documentation), then
/// verify with [`km_check`]; [`AnonError::NoSolution`] if it does not hold (not expected: suppression always can).
/// Errors: `k` or `m` zero, or a record naming a node that is not in the tree ([`AnonError::Config`] with the
/// record's 0-based index and the node id).
pub fn km_anonymize(
    records: &[Vec<usize>],
    tree: &ItemTree,
    p: KmParams,
) -> Result<KmOutcome, AnonError> {
    if p.k == 0 || p.m == 0 {
        return Err(AnonError::Config(
            "k^m-anonymity needs k ≥ 1 and m ≥ 1".into(),
        ));
    }
    if records.len() > u32::MAX as usize {
        return Err(AnonError::Config(
            "k^m-anonymity: more than 2^32 records".into(),
        ));
    }
    for (r, rec) in records.iter().enumerate() {
        if let Some(&bad) = rec.iter().find(|&&x| x >= tree.len()) {
            return Err(AnonError::Config(format!(
                "record {r}: node id {bad} is not in the item tree ({} nodes)",
                tree.len()
            )));
        }
    }
    let recs: Vec<Vec<u32>> = records
        .par_iter()
        .map(|r| {
            let mut v: Vec<u32> = r.iter().map(|&x| x as u32).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let mut st = State::new(&recs, tree, p.k);
    for i in 1..=p.m {
        loop {
            let mapped: Vec<Vec<u32>> = recs.par_iter().map(|r| st.image_record(r)).collect();
            let mut violators: Vec<(u32, Vec<u32>)> = Vec::new();
            count_itemsets(&mapped, i, tree.len().saturating_sub(1), |items, c| {
                if (c as usize) < p.k {
                    violators.push((c, items.to_vec()));
                }
            });
            if violators.is_empty() {
                break;
            }
            violators.sort_unstable();
            let mut moves = 0u64;
            for (_, items) in &violators {
                moves += st.fix(items, i);
            }
            if moves == 0 {
                // Every counted violator was already fixed by exact supports yet the recount disagrees: a defect.
                // Stop instead of looping; the verification below reports it.
                break;
            }
        }
    }
    let outcome = st.outcome(&recs);
    if !km_check(&km_apply(records, &outcome), p).holds {
        return Err(AnonError::NoSolution);
    }
    Ok(outcome)
}

/// Apply a mapping to records: replace each item, drop suppressed ones, dedupe. Items come out sorted by id.
/// Ids outside the mapping are kept as they are.
pub fn km_apply(records: &[Vec<usize>], outcome: &KmOutcome) -> Vec<Vec<usize>> {
    records
        .par_iter()
        .map(|r| {
            let mut v: Vec<usize> = r
                .iter()
                .filter_map(|&x| outcome.mapping.get(x).copied().unwrap_or(Some(x)))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect()
}

/// The search's state: the current cut, the records under each cut node, and the loss sums per subtree.
struct State<'t> {
    tree: &'t ItemTree,
    k: usize,
    /// Current image of every node (`None` = suppressed); a cut: `rep[n]` is an ancestor-or-self of `n`.
    rep: Vec<Option<u32>>,
    /// Sorted record indexes containing each current cut node (empty for others).
    postings: Vec<Vec<u32>>,
    /// Occurrences of each node in the (deduplicated) input.
    occ: Vec<u64>,
    /// Over the subtree of each node: occurrences not suppressed, and Σ occurrences × (leaves_under(image) − 1).
    /// Exact for every node at or above the cut (the only ones whose values are read).
    occ_active_sub: Vec<u64>,
    loss_sub: Vec<u128>,
}

impl<'t> State<'t> {
    fn new(recs: &[Vec<u32>], tree: &'t ItemTree, k: usize) -> Self {
        let n = tree.len();
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut occ = vec![0u64; n];
        for (r, rec) in recs.iter().enumerate() {
            for &x in rec {
                postings[x as usize].push(r as u32);
                occ[x as usize] += 1;
            }
        }
        let mut occ_active_sub = occ.clone();
        let mut loss_sub: Vec<u128> = (0..n)
            .map(|x| u128::from(occ[x]) * (tree.leaves_under(x) as u128 - 1))
            .collect();
        for &node in tree.order.iter().rev() {
            if let Some(p) = tree.parent(node) {
                occ_active_sub[p] += occ_active_sub[node];
                loss_sub[p] += loss_sub[node];
            }
        }
        State {
            tree,
            k,
            rep: (0..n as u32).map(Some).collect(),
            postings,
            occ,
            occ_active_sub,
            loss_sub,
        }
    }

    fn image_record(&self, rec: &[u32]) -> Vec<u32> {
        let mut v: Vec<u32> = rec.iter().filter_map(|&x| self.rep[x as usize]).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Make the itemset that was counted as `items` (cut nodes at counting time) frequent, or make it disappear.
    /// Returns the number of moves made.
    fn fix(&mut self, items: &[u32], size: usize) -> u64 {
        let mut moves = 0;
        loop {
            let mut cur: Vec<u32> = Vec::with_capacity(items.len());
            for &x in items {
                match self.rep[x as usize] {
                    Some(g) => cur.push(g),
                    None => return moves, // suppressed: the itemset is gone
                }
            }
            cur.sort_unstable();
            cur.dedup();
            if cur.len() < size || self.support_reaches(&cur) {
                // Collapsed into a smaller itemset (already frequent by the earlier levels) or frequent now.
                return moves;
            }
            moves += 1;
            let tree = self.tree;
            let raisable = cur
                .iter()
                .copied()
                .filter(|&g| tree.depth(g as usize) >= 2)
                .min_by_key(|&g| (self.raise_cost(g), self.postings[g as usize].len(), g));
            match raisable {
                Some(g) => {
                    let parent = tree.parent(g as usize).unwrap_or(g as usize);
                    self.raise(parent);
                }
                None => {
                    // Every item is a child of the root (or the root): suppress the rarest instead of saying nothing.
                    let rarest = cur
                        .iter()
                        .copied()
                        .min_by_key(|&g| (self.postings[g as usize].len(), g));
                    if let Some(g) = rarest {
                        self.suppress(g as usize);
                    }
                }
            }
        }
    }

    /// Whether at least `k` records contain every item of `cur` (cut nodes), stopping at `k`.
    fn support_reaches(&self, cur: &[u32]) -> bool {
        let mut lists: Vec<&[u32]> = cur
            .iter()
            .map(|&g| &self.postings[g as usize][..])
            .collect();
        lists.sort_by_key(|l| l.len());
        let Some((first, rest)) = lists.split_first() else {
            return true;
        };
        if first.len() < self.k {
            return false;
        }
        let mut pos = vec![0usize; rest.len()];
        let mut found = 0usize;
        'rec: for &r in first.iter() {
            for (l, p) in rest.iter().zip(pos.iter_mut()) {
                // Galloping forward: both lists are sorted and `r` only increases.
                let tail = &l[*p..];
                let mut step = 1;
                while step < tail.len() && tail[step] < r {
                    step *= 2;
                }
                let lo = step / 2;
                let hi = step.min(tail.len());
                let off = lo + tail[lo..hi].partition_point(|&x| x < r);
                *p += off;
                if *p >= l.len() {
                    break 'rec;
                }
                if l[*p] != r {
                    continue 'rec;
                }
            }
            found += 1;
            if found >= self.k {
                return true;
            }
        }
        false
    }

    /// Loss added by raising cut node `g` to its parent (which pulls in the parent's whole subtree).
    fn raise_cost(&self, g: u32) -> u128 {
        let Some(p) = self.tree.parent(g as usize) else {
            return u128::MAX;
        };
        let full = u128::from(self.occ_active_sub[p]) * (self.tree.leaves_under(p) as u128 - 1);
        full - self.loss_sub[p]
    }

    /// Make `p` a cut node: every node of its subtree that is not suppressed now maps to `p`.
    fn raise(&mut self, p: usize) {
        let tree = self.tree;
        let pu = p as u32;
        let mut old: Vec<u32> = Vec::new();
        for &x in tree.subtree(p) {
            if let Some(r) = self.rep[x] {
                if r != pu {
                    old.push(r);
                }
                self.rep[x] = Some(pu);
            }
        }
        old.sort_unstable();
        old.dedup();
        let mut merged = std::mem::take(&mut self.postings[p]);
        for r in old {
            merged.extend(std::mem::take(&mut self.postings[r as usize]));
        }
        merged.sort_unstable();
        merged.dedup();
        self.postings[p] = merged;
        let full = u128::from(self.occ_active_sub[p]) * (tree.leaves_under(p) as u128 - 1);
        let delta = full - self.loss_sub[p];
        let mut a = Some(p);
        while let Some(x) = a {
            self.loss_sub[x] += delta;
            a = tree.parent(x);
        }
    }

    /// Remove cut node `g` and everything that maps to it.
    fn suppress(&mut self, g: usize) {
        let tree = self.tree;
        let gu = g as u32;
        let mut occ_rm = 0u64;
        for &x in tree.subtree(g) {
            if self.rep[x] == Some(gu) {
                self.rep[x] = None;
                occ_rm += self.occ[x];
            }
        }
        let loss_rm = u128::from(occ_rm) * (tree.leaves_under(g) as u128 - 1);
        self.postings[g] = Vec::new();
        let mut a = Some(g);
        while let Some(x) = a {
            self.occ_active_sub[x] -= occ_rm;
            self.loss_sub[x] -= loss_rm;
            a = tree.parent(x);
        }
    }

    fn outcome(&self, recs: &[Vec<u32>]) -> KmOutcome {
        let tree = self.tree;
        let n = tree.len();
        let total_leaves = tree.leaves_under(tree.root());
        let mapping: Vec<Option<usize>> = (0..n)
            .map(|x| {
                if self.occ[x] > 0 {
                    self.rep[x].map(|g| g as usize)
                } else {
                    Some(x)
                }
            })
            .collect();
        let (mut generalized, mut suppressed, mut loss_num, mut total) = (0u64, 0u64, 0u128, 0u64);
        for rec in recs {
            for &x in rec {
                total += 1;
                match self.rep[x as usize] {
                    None => suppressed += 1,
                    Some(g) => {
                        if g != x {
                            generalized += 1;
                        }
                        loss_num += tree.leaves_under(g as usize) as u128 - 1;
                    }
                }
            }
        }
        let information_loss = if total == 0 {
            0.0
        } else {
            let gen_part = if total_leaves > 1 {
                loss_num as f64 / (total_leaves - 1) as f64
            } else {
                0.0
            };
            (gen_part + suppressed as f64) / total as f64
        };
        KmOutcome {
            mapping,
            generalized,
            suppressed,
            information_loss,
        }
    }
}

/// Keys of packed itemsets: fixed-width big-endian packing keeps lexicographic order.
trait PackedKey: Ord + Clone + Send + Sync {
    fn pack(items: &[u32], bits: u32) -> Self;
    fn unpack(&self, size: usize, bits: u32, out: &mut Vec<u32>);
}

impl PackedKey for u64 {
    fn pack(items: &[u32], bits: u32) -> Self {
        items
            .iter()
            .fold(0u64, |acc, &x| (acc << bits) | u64::from(x))
    }
    fn unpack(&self, size: usize, bits: u32, out: &mut Vec<u32>) {
        out.clear();
        let mask = (1u64 << bits) - 1;
        for j in (0..size).rev() {
            out.push(((self >> (bits as usize * j)) & mask) as u32);
        }
    }
}

impl PackedKey for u128 {
    fn pack(items: &[u32], bits: u32) -> Self {
        items
            .iter()
            .fold(0u128, |acc, &x| (acc << bits) | u128::from(x))
    }
    fn unpack(&self, size: usize, bits: u32, out: &mut Vec<u32>) {
        out.clear();
        let mask = (1u128 << bits) - 1;
        for j in (0..size).rev() {
            out.push(((self >> (bits as usize * j)) & mask) as u32);
        }
    }
}

impl PackedKey for Vec<u32> {
    fn pack(items: &[u32], _bits: u32) -> Self {
        items.to_vec()
    }
    fn unpack(&self, _size: usize, _bits: u32, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(self);
    }
}

/// Largest number of itemset keys materialized at once (bounds memory: 32 MB of u64 keys).
const CHUNK_KEYS: u64 = 1 << 22;

/// Call `visit(items, support)` for every `size`-itemset contained in some record, in ascending order of items.
/// Records must be sorted and deduplicated; `max_id` bounds the ids.
fn count_itemsets(recs: &[Vec<u32>], size: usize, max_id: usize, visit: impl FnMut(&[u32], u32)) {
    let bits = usize::BITS - max_id.leading_zeros();
    let bits = bits.max(1);
    let width = bits as usize * size;
    if width <= 64 {
        count_with::<u64>(recs, size, max_id, bits, visit);
    } else if width <= 128 {
        count_with::<u128>(recs, size, max_id, bits, visit);
    } else {
        count_with::<Vec<u32>>(recs, size, max_id, bits, visit);
    }
}

fn count_with<K: PackedKey>(
    recs: &[Vec<u32>],
    size: usize,
    max_id: usize,
    bits: u32,
    mut visit: impl FnMut(&[u32], u32),
) {
    if size == 0 {
        return;
    }
    // How many itemsets start (as smallest item) with each id, to cut the id range into chunks.
    let mut starts = vec![0u64; max_id + 1];
    for rec in recs {
        let n = rec.len();
        for (j, &x) in rec.iter().enumerate() {
            starts[x as usize] = starts[x as usize].saturating_add(binomial(n - 1 - j, size - 1));
        }
    }
    let mut bounds: Vec<(u32, u32)> = Vec::new();
    let mut lo = 0usize;
    let mut acc = 0u64;
    for (x, &s) in starts.iter().enumerate() {
        if acc > 0 && acc.saturating_add(s) > CHUNK_KEYS {
            bounds.push((lo as u32, x as u32));
            lo = x;
            acc = 0;
        }
        acc = acc.saturating_add(s);
    }
    if acc > 0 {
        bounds.push((lo as u32, (max_id + 1) as u32));
    }
    let mut items = Vec::with_capacity(size);
    for (lo, hi) in bounds {
        let mut keys: Vec<K> = recs
            .par_iter()
            .fold(Vec::new, |mut out, rec| {
                let begin = rec.partition_point(|&x| x < lo);
                let end = rec.partition_point(|&x| x < hi);
                let mut buf: Vec<u32> = Vec::with_capacity(size);
                for first in begin..end {
                    let rest = &rec[first + 1..];
                    if rest.len() + 1 < size {
                        break;
                    }
                    for_each_combination(rest.len(), size - 1, |idx| {
                        buf.clear();
                        buf.push(rec[first]);
                        buf.extend(idx.iter().map(|&j| rest[j]));
                        out.push(K::pack(&buf, bits));
                    });
                }
                out
            })
            .reduce(Vec::new, |mut a, mut b| {
                a.append(&mut b);
                a
            });
        keys.par_sort_unstable();
        let mut i = 0;
        while i < keys.len() {
            let mut j = i + 1;
            while j < keys.len() && keys[j] == keys[i] {
                j += 1;
            }
            keys[i].unpack(size, bits, &mut items);
            visit(&items, (j - i) as u32);
            i = j;
        }
    }
}

/// C(n, r), saturating.
fn binomial(n: usize, r: usize) -> u64 {
    if r > n {
        return 0;
    }
    let r = r.min(n - r);
    let mut acc: u128 = 1;
    for i in 0..r {
        acc = acc * (n - i) as u128 / (i + 1) as u128;
        if acc > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    acc as u64
}

/// Call `f` with every increasing `r`-combination of `0..n` (in lexicographic order).
fn for_each_combination(n: usize, r: usize, mut f: impl FnMut(&[usize])) {
    if r > n {
        return;
    }
    let mut idx: Vec<usize> = (0..r).collect();
    loop {
        f(&idx);
        // Advance the rightmost index that can still move.
        let mut i = r;
        loop {
            if i == 0 {
                return;
            }
            i -= 1;
            if idx[i] < n - r + i {
                break;
            }
            if i == 0 {
                return;
            }
        }
        idx[i] += 1;
        for j in i + 1..r {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// root(0) → A(1), B(2); A → a1(3), a2(4); B → b1(5), b2(6); a1 → a11(7), a12(8).
    fn small_tree() -> ItemTree {
        let nodes = vec![
            ("root".to_owned(), None),
            ("A".to_owned(), Some(0)),
            ("B".to_owned(), Some(0)),
            ("a1".to_owned(), Some(1)),
            ("a2".to_owned(), Some(1)),
            ("b1".to_owned(), Some(2)),
            ("b2".to_owned(), Some(2)),
            ("a11".to_owned(), Some(3)),
            ("a12".to_owned(), Some(3)),
        ];
        ItemTree::new(nodes).unwrap()
    }

    #[test]
    fn tree_structure() {
        let t = small_tree();
        assert_eq!(t.len(), 9);
        assert_eq!(t.root(), 0);
        assert_eq!(t.depth(7), 3);
        assert_eq!(t.leaves_under(0), 5);
        assert_eq!(t.leaves_under(1), 3);
        assert_eq!(t.leaves_under(3), 2);
        assert_eq!(t.leaves_under(7), 1);
        assert!(t.is_ancestor_or_self(1, 8));
        assert!(!t.is_ancestor_or_self(2, 8));
        assert_eq!(t.subtree(3), &[3, 7, 8]);
        assert_eq!(t.label(5), "b1");
        assert_eq!(t.parent(5), Some(2));
    }

    #[test]
    fn tree_errors_name_indexes_not_labels() {
        let two_roots = ItemTree::new(vec![("secret".into(), None), ("x".into(), None)]);
        let e = two_roots.unwrap_err().to_string();
        assert!(e.contains("nodes 0 and 1") && !e.contains("secret"), "{e}");
        let cycle = ItemTree::new(vec![
            ("r".into(), None),
            ("secret".into(), Some(2)),
            ("y".into(), Some(1)),
        ]);
        let e = cycle.unwrap_err().to_string();
        assert!(
            e.contains("node 1") && e.contains("cycle") && !e.contains("secret"),
            "{e}"
        );
        let out = ItemTree::new(vec![("r".into(), None), ("x".into(), Some(5))]);
        assert!(out.unwrap_err().to_string().contains("node 1 has parent 5"));
        assert!(ItemTree::new(vec![("r".into(), Some(0))]).is_err());
        assert!(ItemTree::new(vec![]).is_err());
    }

    #[test]
    fn check_counts_itemsets() {
        // {1,2} ×2, {1} ×1 more: supports 1→3, 2→2, {1,2}→2.
        let recs = vec![vec![1, 2], vec![2, 1, 1], vec![1]];
        let c = km_check(&recs, KmParams { k: 2, m: 2 });
        assert_eq!(
            c,
            KmCheck {
                holds: true,
                violations: 0,
                smallest_support: Some(2)
            }
        );
        let c = km_check(&recs, KmParams { k: 3, m: 2 });
        assert_eq!(c.violations, 2);
        assert!(!c.holds);
        let c = km_check(&recs, KmParams { k: 3, m: 1 });
        assert_eq!(c.violations, 1);
        let empty = km_check(&[vec![], vec![]], KmParams { k: 5, m: 2 });
        assert_eq!(
            empty,
            KmCheck {
                holds: true,
                violations: 0,
                smallest_support: None
            }
        );
    }

    #[test]
    fn already_anonymous_maps_every_node_to_itself() {
        let t = small_tree();
        let recs = vec![vec![7, 5], vec![7, 5], vec![5, 7], vec![4]];
        let out = km_anonymize(&recs, &t, KmParams { k: 1, m: 2 }).unwrap();
        assert_eq!(out.mapping, (0..9).map(Some).collect::<Vec<_>>());
        let recs = vec![vec![7, 5], vec![7, 5], vec![5, 7], vec![4], vec![4]];
        let out = km_anonymize(&recs, &t, KmParams { k: 2, m: 2 }).unwrap();
        assert_eq!(out.mapping, (0..9).map(Some).collect::<Vec<_>>());
        assert_eq!((out.generalized, out.suppressed), (0, 0));
        assert_eq!(out.information_loss, 0.0);
    }

    #[test]
    fn a_diagnosis_held_by_one_person_is_generalized() {
        let t = small_tree();
        // a11 twice, a12 once: a12 alone breaks k=2, so a1 (covering a11, a12) is chosen.
        let recs = vec![vec![7], vec![7], vec![8]];
        let out = km_anonymize(&recs, &t, KmParams { k: 2, m: 1 }).unwrap();
        assert_eq!(out.mapping[7], Some(3));
        assert_eq!(out.mapping[8], Some(3));
        assert_eq!(out.generalized, 3);
        assert_eq!(out.suppressed, 0);
        // each occurrence loses (2−1)/(5−1)
        assert!((out.information_loss - 0.25).abs() < 1e-15);
        assert_eq!(km_apply(&recs, &out), vec![vec![3], vec![3], vec![3]]);
    }

    #[test]
    fn a_rare_chapter_is_suppressed_not_generalized_to_the_root() {
        let t = small_tree();
        // b1 held by one person: b1 → B (a child of the root) still rare → suppressed.
        let recs = vec![vec![7], vec![7], vec![5, 7]];
        let out = km_anonymize(&recs, &t, KmParams { k: 2, m: 1 }).unwrap();
        assert_eq!(out.mapping[5], None);
        assert_eq!(out.mapping[7], Some(7));
        assert_eq!(out.suppressed, 1);
        assert_eq!(km_apply(&recs, &out), vec![vec![7], vec![7], vec![7]]);
        assert!((out.information_loss - 0.25).abs() < 1e-15);
    }

    #[test]
    fn pairs_are_made_frequent_by_the_cheapest_raise() {
        let t = small_tree();
        // Singles are frequent for k=2, but the pair {a11, b1} occurs once and {a12, b1} once:
        // raising a11 to a1 (loss over 4 occurrences of a11/a12) is cheaper than raising b1 to B.
        let recs = vec![
            vec![7, 5],
            vec![8, 5],
            vec![7],
            vec![8],
            vec![5],
            vec![6],
            vec![6],
        ];
        let out = km_anonymize(&recs, &t, KmParams { k: 2, m: 2 }).unwrap();
        assert_eq!(out.mapping[7], Some(3));
        assert_eq!(out.mapping[8], Some(3));
        assert_eq!(out.mapping[5], Some(5));
        assert!(km_check(&km_apply(&recs, &out), KmParams { k: 2, m: 2 }).holds);
    }

    #[test]
    fn bad_input_is_rejected() {
        let t = small_tree();
        let e = km_anonymize(&[vec![1], vec![99]], &t, KmParams { k: 2, m: 1 }).unwrap_err();
        assert!(e.to_string().contains("record 1: node id 99"), "{e}");
        assert!(km_anonymize(&[], &t, KmParams { k: 0, m: 1 }).is_err());
        assert!(km_anonymize(&[], &t, KmParams { k: 2, m: 0 }).is_err());
    }

    #[test]
    fn combinations_and_binomials() {
        let mut seen = Vec::new();
        for_each_combination(4, 2, |c| seen.push(c.to_vec()));
        assert_eq!(
            seen,
            vec![
                vec![0, 1],
                vec![0, 2],
                vec![0, 3],
                vec![1, 2],
                vec![1, 3],
                vec![2, 3]
            ]
        );
        let mut n = 0;
        for_each_combination(3, 0, |_| n += 1);
        assert_eq!(n, 1);
        for_each_combination(2, 3, |_| n += 1);
        assert_eq!(n, 1);
        assert_eq!(binomial(10, 3), 120);
        assert_eq!(binomial(3, 5), 0);
        assert_eq!(binomial(5, 0), 1);
    }

    #[test]
    fn packed_keys_roundtrip_in_order() {
        let mut out = Vec::new();
        let k = u64::pack(&[3, 17, 1000], 10);
        k.unpack(3, 10, &mut out);
        assert_eq!(out, vec![3, 17, 1000]);
        assert!(u64::pack(&[3, 18, 0], 10) > k);
        let k = u128::pack(&[u32::MAX, 5, 7, 9], 32);
        k.unpack(4, 32, &mut out);
        assert_eq!(out, vec![u32::MAX, 5, 7, 9]);
    }
}
