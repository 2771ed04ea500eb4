//! Clustering linked pairs into persons: connected components, a one-to-one assignment for two
//! sources, and an incremental clustering with stable cluster ids for the vault.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// Union–find with path halving and union by size.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    /// Add one singleton, returning its index.
    pub fn push(&mut self) -> u32 {
        let i = self.parent.len() as u32;
        self.parent.push(i);
        self.size.push(1);
        i
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The representative of `x`.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    /// Join the sets of `a` and `b`; returns the new representative.
    pub fn union(&mut self, a: u32, b: u32) -> u32 {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        ra
    }
}

/// Connected components of `n` nodes joined by `edges`: a label per node, labels numbered from 0
/// in order of each component's smallest node.
pub fn connected_components(n: usize, edges: impl IntoIterator<Item = (u32, u32)>) -> Vec<u32> {
    let mut uf = UnionFind::new(n);
    for (a, b) in edges {
        uf.union(a, b);
    }
    let mut label: HashMap<u32, u32> = HashMap::new();
    (0..n as u32)
        .map(|i| {
            let r = uf.find(i);
            let next = label.len() as u32;
            *label.entry(r).or_insert(next)
        })
        .collect()
}

/// One-to-one assignment for two sources: pairs taken greedily by descending probability,
/// each record used at most once. Returns the indices of the kept pairs.
pub fn one_to_one(pairs: &[(u32, u32, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    // Ties broken by ids so the result does not depend on input order.
    order.sort_by(|&x, &y| {
        pairs[y]
            .2
            .total_cmp(&pairs[x].2)
            .then(pairs[x].0.cmp(&pairs[y].0))
            .then(pairs[x].1.cmp(&pairs[y].1))
    });
    let mut used_l = std::collections::HashSet::new();
    let mut used_r = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for i in order {
        let (a, b, _) = pairs[i];
        if !used_l.contains(&a) && !used_r.contains(&b) {
            used_l.insert(a);
            used_r.insert(b);
            kept.push(i);
        }
    }
    kept.sort_unstable();
    kept
}

/// A stable person (cluster) id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterId(pub u64);

/// What changed in an incremental clustering step (to be recorded and audited by the vault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterEvent {
    /// A new record started a new cluster.
    Created {
        /// The new cluster.
        cluster: ClusterId,
    },
    /// Two clusters became one; the older id survives.
    Merged {
        /// The surviving (older) id.
        into: ClusterId,
        /// The id that no longer exists.
        from: ClusterId,
    },
    /// A cluster fell apart in two after an operator said two of its records are different
    /// persons: the part holding the record that gave the cluster its id keeps the id.
    Split {
        /// The id that stays (with the part holding its id-giving record).
        kept: ClusterId,
        /// The new id of the other part.
        new: ClusterId,
    },
}

/// A split could not be decided from what the clustering holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A handle that was never added.
    #[error("record not known to the clustering")]
    Unknown,
    /// The cluster was built by a version that did not keep its links, so its parts cannot
    /// be recomputed.
    #[error(
        "the links of this person were not recorded (state from an older version): run the linkage once more first"
    )]
    LinksNotRecorded,
}

/// What [`IncrementalClusters::forbid`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    /// The two records were in different clusters; they will stay apart.
    Apart,
    /// Their cluster was split in two.
    Split(ClusterEvent),
    /// Other links still join the two records; nothing was split (the pair's own link, if
    /// any, is gone, and no future link joins the two parts once they are apart).
    StillJoined {
        /// Links of the cluster that remain.
        links: usize,
    },
}

/// Incremental clustering over records identified by stable `u64` handles (vault record ids).
/// A new batch adds records and links; existing cluster ids never change except when two
/// clusters merge, in which case the older (smaller) id survives and the event is returned, or
/// when an operator forbids a pair inside one cluster ([`IncrementalClusters::forbid`]): the
/// cluster's components are recomputed from its recorded links without that pair.
/// The whole state serialises, so the vault can persist it between batches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncrementalClusters {
    uf: UnionFind,
    index: HashMap<u64, u32>,
    /// Cluster id of each union–find root.
    id_of_root: HashMap<u32, ClusterId>,
    next_id: u64,
    /// The record (union–find index) that gave each cluster id, for ids made by a split. Ids
    /// made by [`IncrementalClusters::add_records`] are not listed: id `k` was given by the
    /// record with index `k` (both count up together there).
    #[serde(default)]
    giver: BTreeMap<u64, u32>,
    /// Every link added, as sorted handle pairs (a split recomputes components from these).
    #[serde(default)]
    links: BTreeSet<(u64, u64)>,
    /// Pairs an operator said are different persons; no link may join their clusters.
    #[serde(default)]
    forbidden: BTreeSet<(u64, u64)>,
}

fn sorted(a: u64, b: u64) -> (u64, u64) {
    (a.min(b), a.max(b))
}

impl IncrementalClusters {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add records (already known handles are ignored); each starts its own cluster.
    pub fn add_records(&mut self, handles: impl IntoIterator<Item = u64>) -> Vec<ClusterEvent> {
        let mut events = Vec::new();
        for h in handles {
            if self.index.contains_key(&h) {
                continue;
            }
            let i = self.uf.push();
            self.index.insert(h, i);
            let id = ClusterId(self.next_id);
            self.next_id += 1;
            if u64::from(i) != id.0 {
                self.giver.insert(id.0, i);
            }
            self.id_of_root.insert(i, id);
            events.push(ClusterEvent::Created { cluster: id });
        }
        events
    }

    /// Whether joining the clusters with roots `ra` and `rb` would put a forbidden pair in one
    /// cluster.
    fn joins_forbidden(&mut self, ra: u32, rb: u32) -> bool {
        let pairs: Vec<(u64, u64)> = self.forbidden.iter().copied().collect();
        pairs.into_iter().any(|(x, y)| {
            let (Some(&ix), Some(&iy)) = (self.index.get(&x), self.index.get(&y)) else {
                return false;
            };
            let (rx, ry) = (self.uf.find(ix), self.uf.find(iy));
            (rx == ra && ry == rb) || (rx == rb && ry == ra)
        })
    }

    /// Add links between known records. Unknown handles are added first. A link between
    /// records an operator said are different persons — or one that would join their clusters
    /// — is left out.
    pub fn add_links(&mut self, links: impl IntoIterator<Item = (u64, u64)>) -> Vec<ClusterEvent> {
        let mut events = Vec::new();
        for (a, b) in links {
            if a == b || self.forbidden.contains(&sorted(a, b)) {
                continue;
            }
            events.extend(self.add_records([a, b]));
            let (Some(&ia), Some(&ib)) = (self.index.get(&a), self.index.get(&b)) else {
                continue;
            };
            let (ra, rb) = (self.uf.find(ia), self.uf.find(ib));
            if ra == rb {
                self.links.insert(sorted(a, b));
                continue;
            }
            if !self.forbidden.is_empty() && self.joins_forbidden(ra, rb) {
                continue;
            }
            self.links.insert(sorted(a, b));
            let (ida, idb) = (self.id_of_root[&ra], self.id_of_root[&rb]);
            let (into, from) = if ida <= idb { (ida, idb) } else { (idb, ida) };
            self.id_of_root.remove(&ra);
            self.id_of_root.remove(&rb);
            let root = self.uf.union(ra, rb);
            self.id_of_root.insert(root, into);
            events.push(ClusterEvent::Merged { into, from });
        }
        events
    }

    /// The union–find index of the record that gave cluster `id`.
    fn giver_of(&self, id: ClusterId) -> Option<u32> {
        match self.giver.get(&id.0) {
            Some(i) => Some(*i),
            None => u32::try_from(id.0)
                .ok()
                .filter(|i| (*i as usize) < self.uf.len()),
        }
    }

    /// An operator says records `a` and `b` are different persons: from now on no link joins
    /// their clusters, and if they are in one cluster already, its link between them is dropped
    /// and the cluster's components are recomputed from its remaining links. When that leaves
    /// two parts, the part holding the record that gave the cluster its id keeps the id and the
    /// other part gets a new one.
    pub fn forbid(&mut self, a: u64, b: u64) -> Result<Forbidden, SplitError> {
        let (Some(&ia), Some(&ib)) = (self.index.get(&a), self.index.get(&b)) else {
            return Err(SplitError::Unknown);
        };
        let pair = sorted(a, b);
        let root = self.uf.find(ia);
        if root != self.uf.find(ib) {
            self.forbidden.insert(pair);
            self.links.remove(&pair);
            return Ok(Forbidden::Apart);
        }
        let id = self.id_of_root[&root];
        // The cluster's members and the links among them.
        let handles: Vec<(u64, u32)> = self.index.iter().map(|(h, i)| (*h, *i)).collect();
        let mut members: Vec<(u64, u32)> = Vec::new();
        for (h, i) in handles {
            if self.uf.find(i) == root {
                members.push((h, i));
            }
        }
        members.sort_unstable();
        let pos = |h: u64| members.binary_search_by_key(&h, |m| m.0).ok();
        let inner: Vec<(usize, usize, (u64, u64))> = self
            .links
            .iter()
            .filter_map(|&(x, y)| Some((pos(x)?, pos(y)?, (x, y))))
            .collect();
        // Check the recorded links hold the cluster together before trusting them.
        let mut all = UnionFind::new(members.len());
        for (x, y, _) in &inner {
            all.union(*x as u32, *y as u32);
        }
        let r0 = all.find(0);
        if (0..members.len() as u32).any(|m| all.find(m) != r0) {
            return Err(SplitError::LinksNotRecorded);
        }
        self.forbidden.insert(pair);
        self.links.remove(&pair);
        let mut parts = UnionFind::new(members.len());
        for (x, y, l) in &inner {
            if *l != pair {
                parts.union(*x as u32, *y as u32);
            }
        }
        let (pa, pb) = (
            pos(a).map(|p| parts.find(p as u32)),
            pos(b).map(|p| parts.find(p as u32)),
        );
        if pa == pb {
            return Ok(Forbidden::StillJoined {
                links: inner.len() - 1,
            });
        }
        // Rebuild the union–find for the members only: nothing outside the cluster points
        // into it, so resetting them and joining along the remaining links is exact.
        for &(_, i) in &members {
            self.uf.parent[i as usize] = i;
            self.uf.size[i as usize] = 1;
        }
        for (x, y, l) in &inner {
            if *l != pair {
                self.uf.union(members[*x].1, members[*y].1);
            }
        }
        self.id_of_root.remove(&root);
        // The giver is always a member (the id moves only with it); should it not be, the part
        // of the smallest handle keeps the id.
        let giver = self
            .giver_of(id)
            .filter(|g| members.iter().any(|m| m.1 == *g))
            .unwrap_or(members[0].1);
        let kept_root = self.uf.find(giver);
        self.id_of_root.insert(kept_root, id);
        let mut new = None;
        // Members are in handle order, so the new part's id is given by its smallest handle.
        for &(_, i) in &members {
            let r = self.uf.find(i);
            if let std::collections::hash_map::Entry::Vacant(e) = self.id_of_root.entry(r) {
                let nid = ClusterId(self.next_id);
                self.next_id += 1;
                self.giver.insert(nid.0, i);
                e.insert(nid);
                new = Some(nid);
            }
        }
        Ok(match new {
            Some(new) => Forbidden::Split(ClusterEvent::Split { kept: id, new }),
            None => Forbidden::StillJoined {
                links: inner.len() - 1,
            },
        })
    }

    /// The cluster of a record.
    pub fn cluster_of(&mut self, handle: u64) -> Option<ClusterId> {
        let i = *self.index.get(&handle)?;
        let r = self.uf.find(i);
        self.id_of_root.get(&r).copied()
    }

    /// Every record with its cluster, ordered by handle.
    pub fn assignments(&mut self) -> BTreeMap<u64, ClusterId> {
        let handles: Vec<u64> = self.index.keys().copied().collect();
        handles
            .into_iter()
            .filter_map(|h| self.cluster_of(h).map(|c| (h, c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        let l = connected_components(6, [(0, 2), (2, 4), (3, 5)]);
        assert_eq!(l, vec![0, 1, 0, 2, 0, 2]);
    }

    #[test]
    fn one_to_one_takes_best_first() {
        let pairs = [(0, 0, 0.9), (0, 1, 0.95), (1, 1, 0.8), (1, 0, 0.7)];
        // (0,1) first; then (1,0) is the only pair left with unused records.
        assert_eq!(one_to_one(&pairs), vec![1, 3]);
    }

    #[test]
    fn incremental_ids_are_stable() {
        let mut c = IncrementalClusters::new();
        c.add_records([10, 11, 12]);
        c.add_links([(10, 11)]);
        let a = c.cluster_of(10).unwrap();
        assert_eq!(c.cluster_of(11), Some(a));
        let b = c.cluster_of(12).unwrap();
        assert_ne!(a, b);
        // Round trip through storage, as the vault will do between batches.
        let json = serde_json::to_string(&c).unwrap();
        let mut c: IncrementalClusters = serde_json::from_str(&json).unwrap();
        // A new batch: record 13 joins 12's cluster; 14 is new; ids of old clusters unchanged.
        let ev = c.add_links([(13, 12)]);
        assert!(ev.contains(&ClusterEvent::Created {
            cluster: ClusterId(3)
        }));
        assert_eq!(c.cluster_of(13), Some(b));
        assert_eq!(c.cluster_of(10), Some(a));
        c.add_records([14]);
        let d = c.cluster_of(14).unwrap();
        assert!(d > b);
        // Merging two existing clusters keeps the older id and reports the merge.
        let ev = c.add_links([(14, 10), (12, 11)]);
        assert_eq!(
            ev,
            vec![
                ClusterEvent::Merged { into: a, from: d },
                ClusterEvent::Merged { into: a, from: b }
            ]
        );
        assert!(c.assignments().values().all(|x| *x == a));
    }

    #[test]
    fn forbidding_a_pair_inside_a_cluster_splits_it() {
        let mut c = IncrementalClusters::new();
        // Records 20..=25; 22 came first, so its id is the oldest of the five records below.
        c.add_records([22, 20, 21, 23, 24, 25]);
        let id22 = c.cluster_of(22).unwrap();
        // A chain 20–21–22–23–24 plus 25 linked to 24: one cluster under 22's id.
        c.add_links([(20, 21), (21, 22), (22, 23), (23, 24), (24, 25)]);
        assert!(c.assignments().values().all(|x| *x == id22));
        // The operator says 21 and 22 differ: 20–21 breaks away with a new id; the part with 22
        // (the id-giving record) keeps it.
        let r = c.forbid(21, 22).unwrap();
        let Forbidden::Split(ClusterEvent::Split { kept, new }) = r else {
            panic!("{r:?}");
        };
        assert_eq!(kept, id22);
        assert_ne!(new, id22);
        assert_eq!(c.cluster_of(20), Some(new));
        assert_eq!(c.cluster_of(21), Some(new));
        for h in [22, 23, 24, 25] {
            assert_eq!(c.cluster_of(h), Some(id22));
        }
        // A later batch proposing the same pair, or another link across the two parts, joins
        // nothing; links inside each part still work.
        let ev = c.add_links([(21, 22), (20, 25)]);
        assert!(ev.is_empty(), "{ev:?}");
        assert_ne!(c.cluster_of(20), c.cluster_of(25));
        c.add_records([26]);
        let ev = c.add_links([(26, 20)]);
        assert_eq!(c.cluster_of(26), Some(new));
        assert!(matches!(ev[0], ClusterEvent::Merged { into, .. } if into == new));
        // Survives storage, and the new part's id stays with its own giver on a further split.
        let json = serde_json::to_string(&c).unwrap();
        let mut c: IncrementalClusters = serde_json::from_str(&json).unwrap();
        let r = c.forbid(20, 26).unwrap();
        let Forbidden::Split(ClusterEvent::Split { kept, new: newer }) = r else {
            panic!("{r:?}");
        };
        assert_eq!(kept, new);
        assert_eq!(
            c.cluster_of(20),
            Some(new),
            "20 gave the id made by the split"
        );
        assert_eq!(c.cluster_of(26), Some(newer));
    }

    #[test]
    fn forbidding_a_pair_held_together_by_other_links_splits_nothing() {
        let mut c = IncrementalClusters::new();
        c.add_links([(1, 2), (2, 3), (1, 3)]);
        let id = c.cluster_of(1).unwrap();
        assert_eq!(c.forbid(1, 2), Ok(Forbidden::StillJoined { links: 2 }));
        assert!(c.assignments().values().all(|x| *x == id));
        // Once 1–3 is forbidden as well, the path 1–3–2 is gone: 1 leaves (1 gave the id, so
        // 1 keeps it).
        let r = c.forbid(1, 3).unwrap();
        assert!(matches!(r, Forbidden::Split(ClusterEvent::Split { kept, .. }) if kept == id));
        assert_eq!(c.cluster_of(1), Some(id));
        assert_eq!(c.cluster_of(2), c.cluster_of(3));
        assert_ne!(c.cluster_of(2), Some(id));
        // Different clusters stay apart; unknown records are an error.
        c.add_records([9]);
        assert_eq!(c.forbid(9, 1), Ok(Forbidden::Apart));
        assert!(c.add_links([(9, 1)]).is_empty());
        assert_eq!(c.forbid(1, 99), Err(SplitError::Unknown));
    }

    #[test]
    fn clusters_without_recorded_links_are_not_split_blindly() {
        let mut c = IncrementalClusters::new();
        c.add_links([(1, 2), (2, 3)]);
        // A state written before links were recorded.
        let mut v = serde_json::to_value(&c).unwrap();
        v.as_object_mut().unwrap().remove("links");
        let mut old: IncrementalClusters = serde_json::from_value(v).unwrap();
        assert_eq!(old.forbid(1, 2), Err(SplitError::LinksNotRecorded));
        assert_eq!(old.cluster_of(1), old.cluster_of(3));
    }
}
