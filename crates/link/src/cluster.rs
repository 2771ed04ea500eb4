//! Clustering linked pairs into persons: connected components, a one-to-one assignment for two
//! sources, and an incremental clustering with stable cluster ids for the vault.

use std::collections::{BTreeMap, HashMap};

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
}

/// Incremental clustering over records identified by stable `u64` handles (vault record ids).
/// A new batch adds records and links; existing cluster ids never change except when two
/// clusters merge, in which case the older (smaller) id survives and the event is returned.
/// The whole state serialises, so the vault can persist it between batches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncrementalClusters {
    uf: UnionFind,
    index: HashMap<u64, u32>,
    /// Cluster id of each union–find root.
    id_of_root: HashMap<u32, ClusterId>,
    next_id: u64,
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
            self.id_of_root.insert(i, id);
            events.push(ClusterEvent::Created { cluster: id });
        }
        events
    }

    /// Add links between known records. Unknown handles are added first.
    pub fn add_links(&mut self, links: impl IntoIterator<Item = (u64, u64)>) -> Vec<ClusterEvent> {
        let mut events = Vec::new();
        for (a, b) in links {
            events.extend(self.add_records([a, b]));
            let (Some(&ia), Some(&ib)) = (self.index.get(&a), self.index.get(&b)) else {
                continue;
            };
            let (ra, rb) = (self.uf.find(ia), self.uf.find(ib));
            if ra == rb {
                continue;
            }
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
}
