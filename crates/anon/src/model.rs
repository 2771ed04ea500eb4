//! Privacy models, checked per equivalence class.
//!
//! A class that breaks a model is suppressed (all its records), as ARX does; a transformation is a solution when
//! the records suppressed that way are at most `floor(limit · N)`.

use serde::Serialize;

use crate::data::Dataset;
use crate::error::AnonError;
use crate::population::{DeltaPresence, PopulationModels};

/// Variants of l-diversity over the sensitive attribute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "variant", rename_all = "lowercase")]
pub enum LDiversity {
    /// At least `l` distinct sensitive values per class.
    Distinct {
        /// l
        l: u32,
    },
    /// Entropy of the sensitive values per class at least `log2(l)`.
    Entropy {
        /// l (may be fractional)
        l: f64,
    },
    /// Recursive (c,l): `r1 < c · (r_l + … + r_m)` with `r1 ≥ r2 ≥ …` the value counts of a class.
    Recursive {
        /// c
        c: f64,
        /// l
        l: u32,
    },
}

/// Ground distance of t-closeness (Earth Mover's Distance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TDistance {
    /// Every pair of distinct values is at distance 1: EMD = ½ Σ |p − q|.
    Equal,
    /// Distance through the sensitive attribute's hierarchy (Li et al.), needs its hierarchy.
    Hierarchical,
}

/// t-closeness of each class's sensitive distribution to the whole table's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TCloseness {
    /// Largest allowed distance.
    pub t: f64,
    /// Ground distance.
    pub distance: TDistance,
}

/// The privacy models that every released class must satisfy, and how much may be suppressed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrivacyModels {
    /// k of k-anonymity (1 = none).
    pub k: u32,
    /// l-diversity, if required.
    pub l_diversity: Option<LDiversity>,
    /// t-closeness, if required.
    pub t_closeness: Option<TCloseness>,
    /// Largest share of records that may be suppressed, in [0, 1].
    pub suppression_limit: f64,
}

impl Default for PrivacyModels {
    fn default() -> Self {
        PrivacyModels {
            k: 1,
            l_diversity: None,
            t_closeness: None,
            suppression_limit: 0.0,
        }
    }
}

impl PrivacyModels {
    /// Whether the solutions form an up-closed set of the lattice (so a node below a non-solution is a
    /// non-solution). True for k-anonymity and distinct l-diversity with any suppression limit (merging a
    /// satisfying class with another keeps it satisfying), and for every model without suppression.
    pub fn monotonic(&self) -> bool {
        if self.suppression_limit == 0.0 {
            return true;
        }
        let l_ok = matches!(self.l_diversity, None | Some(LDiversity::Distinct { .. }));
        l_ok && self.t_closeness.is_none()
    }
}

/// Prepared checks for one dataset.
#[derive(Debug, Clone)]
pub struct Checker {
    k: u32,
    l: Option<LDiversity>,
    t: Option<TCloseness>,
    /// Whole-table distribution of the sensitive codes.
    global: Vec<f64>,
    /// For hierarchical distance: `parents[level][code]` from level to level+1, and the level sizes.
    tree: Vec<Vec<u32>>,
    tree_sizes: Vec<usize>,
    /// δ-presence against the population table.
    delta: Option<DeltaPresence>,
    /// k of k-map against the population table.
    k_map: Option<u32>,
    /// Largest number of suppressed records.
    pub max_suppressed: u64,
    /// Whether solutions are up-closed ([`PrivacyModels::monotonic`]).
    pub monotonic: bool,
}

impl Checker {
    /// Validate the models against `data` and prepare them.
    pub fn new(data: &Dataset, models: &PrivacyModels) -> Result<Self, AnonError> {
        if !(0.0..=1.0).contains(&models.suppression_limit) || models.suppression_limit.is_nan() {
            return Err(AnonError::Config(
                "the suppression limit must be between 0 and 1".into(),
            ));
        }
        if models.k == 0 {
            return Err(AnonError::Config("k must be at least 1".into()));
        }
        let needs_sensitive = models.l_diversity.is_some() || models.t_closeness.is_some();
        let sens = data.sensitive();
        if needs_sensitive && sens.is_none() {
            return Err(AnonError::Config(
                "l-diversity and t-closeness need a sensitive attribute".into(),
            ));
        }
        match models.l_diversity {
            Some(LDiversity::Distinct { l }) | Some(LDiversity::Recursive { l, .. }) if l < 1 => {
                return Err(AnonError::Config("l must be at least 1".into()));
            }
            Some(LDiversity::Entropy { l }) if l.is_nan() || l < 1.0 => {
                return Err(AnonError::Config("l must be at least 1".into()));
            }
            Some(LDiversity::Recursive { c, .. }) if c.is_nan() || c <= 0.0 => {
                return Err(AnonError::Config("c must be positive".into()));
            }
            _ => {}
        }
        let mut global = Vec::new();
        let mut tree = Vec::new();
        let mut tree_sizes = Vec::new();
        if let Some(t) = models.t_closeness {
            if t.t.is_nan() || !(0.0..=1.0).contains(&t.t) {
                return Err(AnonError::Config("t must be between 0 and 1".into()));
            }
            if let Some(s) = sens {
                global = vec![0.0; s.domain];
                for &c in &s.codes {
                    global[c as usize] += 1.0;
                }
                let n = s.codes.len().max(1) as f64;
                for g in &mut global {
                    *g /= n;
                }
                if t.distance == TDistance::Hierarchical {
                    let h = s.hierarchy.as_ref().ok_or_else(|| {
                        AnonError::Config("hierarchical t-closeness needs a hierarchy for the sensitive attribute".into())
                    })?;
                    for level in 0..h.height() {
                        tree_sizes.push(h.level_size(level));
                        if level + 1 < h.height() {
                            tree.push(
                                (0..h.level_size(level) as u32)
                                    .map(|c| h.parent(level, c))
                                    .collect(),
                            );
                        }
                    }
                }
            }
        }
        let max_suppressed = (models.suppression_limit * data.records() as f64).floor() as u64;
        Ok(Checker {
            k: models.k,
            l: models.l_diversity,
            t: models.t_closeness,
            global,
            tree,
            tree_sizes,
            delta: None,
            k_map: None,
            max_suppressed,
            monotonic: models.monotonic(),
        })
    }

    /// Validate `models` and the population models against `data` and prepare them. The population checks need
    /// each class's population count ([`Checker::class_ok_with`]).
    pub fn with_population(
        data: &Dataset,
        models: &PrivacyModels,
        population: &PopulationModels,
    ) -> Result<Self, AnonError> {
        population.validate()?;
        let mut c = Checker::new(data, models)?;
        c.delta = population.delta_presence;
        c.k_map = population.k_map;
        // δ-presence is not monotonic ([`PopulationModels::monotonic`]): no predictive tagging with it.
        c.monotonic = c.monotonic && population.monotonic();
        Ok(c)
    }

    /// Whether a population model (δ-presence, k-map) is checked.
    pub fn needs_population(&self) -> bool {
        self.delta.is_some() || self.k_map.is_some()
    }

    /// Whether a class of `count` records with sensitive histogram `hist` satisfies every model. A checker with
    /// population models fails every class here (it cannot check them without the population count): use
    /// [`Checker::class_ok_with`].
    #[inline]
    pub fn class_ok(&self, count: u32, hist: &[(u32, u32)]) -> bool {
        self.class_ok_with(count, hist, None)
    }

    /// Whether a class of `count` records with sensitive histogram `hist`, whose generalized values occur in
    /// `population` records of the population table, satisfies every model. Without a population count the
    /// population models fail (closed, never silently passed).
    #[inline]
    pub fn class_ok_with(&self, count: u32, hist: &[(u32, u32)], population: Option<u32>) -> bool {
        if count < self.k {
            return false;
        }
        if self.needs_population() {
            let Some(p) = population else {
                return false;
            };
            if let Some(k) = self.k_map
                && p < k
            {
                return false;
            }
            if let Some(d) = self.delta {
                if p == 0 {
                    return false;
                }
                // Compared exactly, as ARX compares its doubles.
                let delta = f64::from(count) / f64::from(p);
                if delta < d.delta_min || delta > d.delta_max {
                    return false;
                }
            }
        }
        if let Some(l) = self.l
            && !l_diverse(l, count, hist)
        {
            return false;
        }
        if let Some(t) = self.t {
            let d = match t.distance {
                TDistance::Equal => emd_equal(&self.global, count, hist),
                TDistance::Hierarchical => {
                    emd_hierarchical(&self.global, &self.tree, &self.tree_sizes, count, hist)
                }
            };
            // tolerance for floating-point summation order
            if d > t.t + 1e-12 {
                return false;
            }
        }
        true
    }
}

/// l-diversity of one class.
pub fn l_diverse(l: LDiversity, count: u32, hist: &[(u32, u32)]) -> bool {
    match l {
        LDiversity::Distinct { l } => hist.len() as u64 >= u64::from(l),
        LDiversity::Entropy { l } => entropy(count, hist) >= l.log2() - 1e-12,
        LDiversity::Recursive { c, l } => {
            let l = l as usize;
            if hist.len() < l {
                return false;
            }
            let mut r: Vec<u32> = hist.iter().map(|e| e.1).collect();
            r.sort_unstable_by(|a, b| b.cmp(a));
            let tail: u64 = r[l - 1..].iter().map(|&x| u64::from(x)).sum();
            f64::from(r[0]) < c * tail as f64
        }
    }
}

/// Shannon entropy (bits) of a class's sensitive values.
pub fn entropy(count: u32, hist: &[(u32, u32)]) -> f64 {
    let n = f64::from(count);
    -hist
        .iter()
        .map(|&(_, c)| {
            let p = f64::from(c) / n;
            p * p.log2()
        })
        .sum::<f64>()
}

/// EMD with equal ground distance: ½ Σ |p − q|.
pub fn emd_equal(global: &[f64], count: u32, hist: &[(u32, u32)]) -> f64 {
    let n = f64::from(count);
    // Σ over all codes = Σ over codes in the class (|p−q|) + Σ over the others (q).
    let mut s = 1.0;
    for &(code, c) in hist {
        let q = global[code as usize];
        s += (f64::from(c) / n - q).abs() - q;
    }
    (s / 2.0).max(0.0)
}

/// EMD with hierarchical ground distance (Li, Li & Venkatasubramanian 2007): the cost of moving mass between
/// two leaves is the level of their lowest common ancestor over the hierarchy's height.
pub fn emd_hierarchical(
    global: &[f64],
    tree: &[Vec<u32>],
    sizes: &[usize],
    count: u32,
    hist: &[(u32, u32)],
) -> f64 {
    let n = f64::from(count);
    let height = sizes.len();
    if height < 2 {
        return 0.0;
    }
    let mut extra: Vec<f64> = global.iter().map(|q| -q).collect();
    for &(code, c) in hist {
        extra[code as usize] += f64::from(c) / n;
    }
    let mut cost = 0.0;
    for level in 1..height {
        let mut pos = vec![0.0; sizes[level]];
        let mut neg = vec![0.0; sizes[level]];
        for (child, &e) in extra.iter().enumerate() {
            let p = tree[level - 1][child] as usize;
            if e > 0.0 {
                pos[p] += e;
            } else {
                neg[p] -= e;
            }
        }
        let w = level as f64 / (height - 1) as f64;
        extra = Vec::with_capacity(sizes[level]);
        for (p, n) in pos.iter().zip(&neg) {
            cost += w * p.min(*n);
            extra.push(p - n);
        }
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l_diversity_variants() {
        let h = [(0, 5), (1, 3), (2, 2)];
        assert!(l_diverse(LDiversity::Distinct { l: 3 }, 10, &h));
        assert!(!l_diverse(LDiversity::Distinct { l: 4 }, 10, &h));
        // entropy = 1.485 bits, 2^1.485 = 2.8
        assert!(l_diverse(LDiversity::Entropy { l: 2.8 }, 10, &h));
        assert!(!l_diverse(LDiversity::Entropy { l: 2.81 }, 10, &h));
        // r1 = 5 < c * (r2 + r3) = c * 5 for l = 2
        assert!(l_diverse(LDiversity::Recursive { c: 1.01, l: 2 }, 10, &h));
        assert!(!l_diverse(LDiversity::Recursive { c: 1.0, l: 2 }, 10, &h));
        assert!(!l_diverse(LDiversity::Recursive { c: 10.0, l: 4 }, 10, &h));
    }

    #[test]
    fn population_models_fail_closed_without_a_count() {
        let mut ds = Dataset::new(2);
        let h = crate::Hierarchy::parse_arx("a", "1;*\n2;*\n").unwrap();
        ds.add_quasi_identifier("a", h, ["1", "2"]).unwrap();
        let pm = PopulationModels {
            delta_presence: Some(DeltaPresence {
                delta_min: 0.2,
                delta_max: 0.5,
            }),
            k_map: Some(3),
        };
        let c = Checker::with_population(&ds, &PrivacyModels::default(), &pm).unwrap();
        assert!(!c.monotonic);
        assert!(!c.class_ok(1, &[]));
        assert!(c.class_ok_with(1, &[], Some(4)));
        assert!(c.class_ok_with(1, &[], Some(5)));
        // δ = 1/2 is the bound itself; 2/3 is above it; 1/6 below δmin; 2 population records below k-map.
        assert!(c.class_ok_with(2, &[], Some(4)));
        assert!(!c.class_ok_with(2, &[], Some(3)));
        assert!(!c.class_ok_with(1, &[], Some(6)));
        assert!(!c.class_ok_with(1, &[], Some(2)));
        let k_only = PopulationModels {
            delta_presence: None,
            k_map: Some(3),
        };
        let models = PrivacyModels {
            suppression_limit: 0.1,
            ..Default::default()
        };
        assert!(
            Checker::with_population(&ds, &models, &k_only)
                .unwrap()
                .monotonic
        );
    }

    #[test]
    fn emd_equal_matches_definition() {
        let global = [0.5, 0.25, 0.25];
        assert!((emd_equal(&global, 4, &[(0, 2), (1, 1), (2, 1)])).abs() < 1e-15);
        assert!((emd_equal(&global, 2, &[(0, 2)]) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn emd_hierarchical_example() {
        // leaves 0,1 under A; 2,3 under B; root. Class all on leaf 0, global uniform.
        let tree = vec![vec![0, 0, 1, 1], vec![0, 0]];
        let sizes = [4, 2, 1];
        let global = [0.25; 4];
        // Moving 0.25 to leaf 1 costs 1/2 each; 0.5 to the other subtree costs 1.
        let d = emd_hierarchical(&global, &tree, &sizes, 4, &[(0, 4)]);
        assert!((d - (0.25 * 0.5 + 0.5 * 1.0)).abs() < 1e-12, "{d}");
        assert!(
            emd_hierarchical(&global, &tree, &sizes, 4, &[(0, 1), (1, 1), (2, 1), (3, 1)]).abs()
                < 1e-12
        );
    }
}
