//! Utility metrics, defined as ARX defines them so that the same transformation scores the same in both tools.
//! Lower is better for every metric. See the crate README for the formulas.

use std::collections::HashMap;

use serde::Serialize;

use crate::data::Dataset;

/// The metric to minimize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Generalization and suppression loss (ARX "Loss", geometric mean over attributes).
    Loss,
    /// Non-uniform entropy, non-monotonic: suppressed records add the entropy of their generalized values.
    Entropy,
    /// Non-uniform entropy, monotonic variant (no suppression term).
    EntropyMonotonic,
    /// Discernibility: Σ |E|² over kept classes + N · suppressed.
    Discernibility,
    /// Precision: mean over attributes of (kept · level / (height − 1) + suppressed) / N.
    Precision,
    /// Average equivalence class size: N / classes (suppressed records form one class).
    Aecs,
    /// Sum of the levels.
    Height,
}

/// floor(x · 10^10) / 10^10, as ARX rounds per-attribute values.
#[inline]
pub fn trunc10(x: f64) -> f64 {
    (x * 1e10).floor() / 1e10
}

/// What a metric needs from a transformation's classes.
#[derive(Debug, Clone, Default)]
pub struct ClassSummary {
    /// Records kept.
    pub kept: u64,
    /// Records suppressed.
    pub suppressed: u64,
    /// Kept classes.
    pub kept_classes: u64,
    /// Σ |E|² over kept classes.
    pub sum_sq: u128,
    /// Per attribute: Σ over kept records of the number of hierarchy leaves under their generalized value (for
    /// loss). An integer, so the score does not depend on the order classes are summed in.
    pub leaf_sums: Vec<u64>,
    /// Per attribute: Σ_g s(g) log2(S / s(g)) over suppressed records (for non-monotonic entropy).
    pub suppressed_entropy: Vec<f64>,
}

/// Per-dataset tables that make the level-only parts of the metrics O(attributes).
#[derive(Debug, Clone)]
pub struct MetricTables {
    metric: Metric,
    n: f64,
    heights: Vec<usize>,
    domain: Vec<f64>,
    /// `leaves[j][level][code]`: hierarchy leaves under the code.
    pub leaves: Vec<Vec<Vec<u64>>>,
    /// `leaves_all[j][level]`: Σ over all records of the leaves under their generalized value.
    leaves_all: Vec<Vec<u64>>,
    /// `entropy[j][level]`: E_j at that level over all records.
    entropy: Vec<Vec<f64>>,
}

impl MetricTables {
    /// Precompute for `data`.
    pub fn new(data: &Dataset, metric: Metric) -> Self {
        let n = data.records() as f64;
        let mut leaves = Vec::new();
        let mut leaves_all = Vec::new();
        let mut entropy = Vec::new();
        let mut heights = Vec::new();
        let mut domain = Vec::new();
        for q in data.quasi_identifiers() {
            let h = &q.hierarchy;
            let d = h.domain_size() as f64;
            heights.push(h.height());
            domain.push(d);
            // c0 per leaf
            let mut c0 = vec![0u64; h.domain_size()];
            for &leaf in &q.leaves {
                c0[leaf as usize] += 1;
            }
            let mut sh_levels = Vec::new();
            let mut all_levels = Vec::new();
            let mut ent_levels = Vec::new();
            for level in 0..h.height() {
                let lv: Vec<u64> = (0..h.level_size(level) as u32)
                    .map(|c| u64::from(h.leaves_under(level, c)))
                    .collect();
                let mut cl = vec![0u64; h.level_size(level)];
                for (leaf, &c) in c0.iter().enumerate() {
                    cl[h.code(level, leaf as u32) as usize] += c;
                }
                let mut all = 0u64;
                let mut e = 0.0;
                for (leaf, &c) in c0.iter().enumerate() {
                    if c == 0 {
                        continue;
                    }
                    let g = h.code(level, leaf as u32) as usize;
                    all += c * lv[g];
                    e += c as f64 * (cl[g] as f64 / c as f64).log2();
                }
                sh_levels.push(lv);
                all_levels.push(all);
                ent_levels.push(e);
            }
            leaves.push(sh_levels);
            leaves_all.push(all_levels);
            entropy.push(ent_levels);
        }
        MetricTables {
            metric,
            n,
            heights,
            domain,
            leaves,
            leaves_all,
            entropy,
        }
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Whether the score needs class details (share sums or suppressed entropy).
    pub fn needs_shares(&self) -> bool {
        self.metric == Metric::Loss
    }

    /// Whether the score needs the suppressed records' generalized values.
    pub fn needs_suppressed_entropy(&self) -> bool {
        self.metric == Metric::Entropy
    }

    /// Loss from, per attribute, Σ leaves over kept records and the suppressed count.
    fn loss(&self, leaf_sums: impl Iterator<Item = u64>, suppressed: u64) -> f64 {
        let n_attr = self.heights.len() as f64;
        let mut prod = 1.0;
        for (j, l) in leaf_sums.enumerate() {
            let r = l as f64 / self.domain[j] + suppressed as f64;
            let min = self.n / self.domain[j];
            let x = if self.n - min > 0.0 {
                trunc10(((r - min) / (self.n - min)).max(0.0))
            } else {
                0.0
            };
            prod *= (1.0 + x).powf(1.0 / n_attr);
        }
        prod - 1.0
    }

    /// A lower bound of the score of any outcome of `levels` (exact when nothing is suppressed, for the metrics
    /// that depend on levels only). Monotone along the lattice: it never decreases when a level rises.
    pub fn lower_bound(&self, levels: &[u8]) -> f64 {
        match self.metric {
            Metric::Loss => self.loss(
                levels
                    .iter()
                    .enumerate()
                    .map(|(j, &l)| self.leaves_all[j][l as usize]),
                0,
            ),
            Metric::Entropy | Metric::EntropyMonotonic => levels
                .iter()
                .enumerate()
                .map(|(j, &l)| trunc10(self.entropy[j][l as usize]))
                .sum(),
            Metric::Precision => self.precision(levels, self.n as u64, 0),
            Metric::Height => levels.iter().map(|&l| f64::from(l)).sum(),
            Metric::Discernibility | Metric::Aecs => 0.0,
        }
    }

    fn precision(&self, levels: &[u8], kept: u64, suppressed: u64) -> f64 {
        let mut s = 0.0;
        for (j, &l) in levels.iter().enumerate() {
            let frac = if self.heights[j] > 1 {
                f64::from(l) / (self.heights[j] - 1) as f64
            } else {
                0.0
            };
            s += (kept as f64 * frac + suppressed as f64) / self.n;
        }
        s / levels.len() as f64
    }

    /// The score of `levels` given its class summary.
    pub fn score(&self, levels: &[u8], sum: &ClassSummary) -> f64 {
        match self.metric {
            Metric::Loss => self.loss(sum.leaf_sums.iter().copied(), sum.suppressed),
            Metric::EntropyMonotonic => self.lower_bound(levels),
            Metric::Entropy => levels
                .iter()
                .enumerate()
                .map(|(j, &l)| {
                    let extra = sum.suppressed_entropy.get(j).copied().unwrap_or(0.0);
                    trunc10(self.entropy[j][l as usize] + extra)
                })
                .sum(),
            Metric::Discernibility => sum.sum_sq as f64 + self.n * sum.suppressed as f64,
            Metric::Precision => self.precision(levels, sum.kept, sum.suppressed),
            Metric::Aecs => {
                let classes = sum.kept_classes + u64::from(sum.suppressed > 0);
                if classes == 0 {
                    0.0
                } else {
                    self.n / classes as f64
                }
            }
            Metric::Height => self.lower_bound(levels),
        }
    }

    /// Σ_g s(g) log2(S / s(g)) for one attribute from the suppressed counts per generalized value, summed in
    /// code order so that the result does not depend on hashing.
    pub fn suppressed_term(counts: &HashMap<u32, u64>, total: u64) -> f64 {
        let s = total as f64;
        let mut v: Vec<(u32, u64)> = counts
            .iter()
            .map(|(&k, &c)| (k, c))
            .filter(|e| e.1 > 0)
            .collect();
        v.sort_unstable();
        v.iter()
            .map(|&(_, c)| c as f64 * (s / c as f64).log2())
            .sum()
    }
}
