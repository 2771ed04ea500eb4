//! Privacy models that need a population table, as ARX defines them: δ-presence and k-map.
//!
//! The data to release (the *research subset*) is a subset of a population table with the same quasi-identifiers.
//! For a transformation, every class of the generalized data is matched with the class of the generalized
//! population that has the same values:
//!
//! * **(δmin, δmax)-presence** (Nergiz, Atzori & Clifton 2007): δ = (data records in the class) / (population
//!   records in the class) must lie in [δmin, δmax]. Only classes that hold data records are checked (ARX checks
//!   the classes that contain subset records); a class outside the bounds is suppressed, and suppressed records are
//!   excluded from the released classes, as ARX does.
//! * **k-map** (Sweeney; ARX's variant with a population table, not its estimators): every class of the data maps
//!   to at least k population records with the same generalized values.
//!
//! The population is dictionary-encoded with the data's hierarchies, so a population class and a data class of
//! the same transformation have the same packed key; population classes are counted by the same grouping and
//! roll-up machinery as the data's ([`crate::classes::Grouping`]) and matched by key
//! ([`crate::classes::matching_counts`]).

use serde::Serialize;

use crate::classes;
use crate::data::Dataset;
use crate::error::AnonError;

/// Bounds of δ-presence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeltaPresence {
    /// Smallest allowed δ, in [0, 1].
    pub delta_min: f64,
    /// Largest allowed δ, in [δmin, 1].
    pub delta_max: f64,
}

/// The models checked against a population table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PopulationModels {
    /// δ-presence, if required.
    pub delta_presence: Option<DeltaPresence>,
    /// k of k-map (with the population table), if required.
    pub k_map: Option<u32>,
}

impl PopulationModels {
    /// Whether no model is set.
    pub fn is_empty(&self) -> bool {
        self.delta_presence.is_none() && self.k_map.is_none()
    }

    /// Whether the solutions form an up-closed set of the lattice (see [`crate::PrivacyModels::monotonic`]).
    ///
    /// k-map is monotonic, with or without suppression: generalizing merges classes, and a merged class has at
    /// least the population records of each of its parts, so a class that maps to k population records still does
    /// and the suppressed records can only become fewer. δ-presence is not, in either direction: with bounds
    /// [0.4, 0.6], a class of 1 data record in 2 population records (δ 0.5) may merge with a population-only class
    /// of 3 records (no data record, so never checked) into one of δ 0.2 (a solution with a non-solution above
    /// it), and classes of δ 0.1 and 0.9 may merge into one of δ 0.5 (a non-solution with a solution above it).
    /// ARX does not prune on
    /// δ-presence either (`isMonotonicWithGeneralization` and `…WithSuppression` are false), so with δ-presence the
    /// search walks the lattice bottom-up with bound pruning only and never tags predecessors of a non-solution.
    pub fn monotonic(&self) -> bool {
        self.delta_presence.is_none()
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<(), AnonError> {
        if let Some(d) = self.delta_presence {
            let ok = |x: f64| !x.is_nan() && (0.0..=1.0).contains(&x);
            if !ok(d.delta_min) || !ok(d.delta_max) {
                return Err(AnonError::Config(
                    "δmin and δmax must be between 0 and 1".into(),
                ));
            }
            if d.delta_min > d.delta_max {
                return Err(AnonError::Config("δmin must not exceed δmax".into()));
            }
        }
        if self.k_map == Some(0) {
            return Err(AnonError::Config("k of k-map must be at least 1".into()));
        }
        Ok(())
    }
}

/// Population figures of a transformation's released (kept) classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PopulationSummary {
    /// Smallest δ (data records / population records) of a kept class.
    pub min_delta: f64,
    /// Largest δ of a kept class.
    pub max_delta: f64,
    /// Fewest population records in the class of a kept data class.
    pub min_population_class_size: u32,
}

/// A population table, dictionary-encoded with the hierarchies of the data it contains.
#[derive(Debug, Clone)]
pub struct Population {
    data: Dataset,
}

impl Population {
    /// Encode a population of `records` records for the research data `research`: `column(name)` yields the values
    /// of the quasi-identifier `name` (or `None` when the population has no such column). Every value must be a
    /// level-0 value of that attribute's hierarchy in `research`, and the research data must be a subset of the
    /// population (no combination of quasi-identifier values more frequent in the data than in the population).
    /// Errors name the attribute and the record, never a value.
    pub fn encode<F, I, S>(
        research: &Dataset,
        records: usize,
        mut column: F,
    ) -> Result<Self, AnonError>
    where
        F: FnMut(&str) -> Option<I>,
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut data = Dataset::new(records);
        for q in research.quasi_identifiers() {
            let values = column(&q.name).ok_or_else(|| AnonError::PopulationColumnMissing {
                column: q.name.clone(),
            })?;
            data.add_quasi_identifier(&q.name, q.hierarchy.clone(), values)
                .map_err(|e| match e {
                    AnonError::ValueNotInHierarchy { column, record } => {
                        AnonError::PopulationValueNotInHierarchy { column, record }
                    }
                    other => other,
                })?;
        }
        let pop = Population { data };
        pop.check_subset(research)?;
        Ok(pop)
    }

    /// Number of population records.
    pub fn records(&self) -> usize {
        self.data.records()
    }

    /// The encoded population (quasi-identifiers only, in the research data's order).
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }

    /// Whether this population was encoded for the quasi-identifiers of `data` (same names, order and
    /// hierarchy heights).
    pub fn check_matches(&self, data: &Dataset) -> Result<(), AnonError> {
        let ours = self.data.quasi_identifiers();
        let theirs = data.quasi_identifiers();
        let same = ours.len() == theirs.len()
            && ours.iter().zip(theirs).all(|(a, b)| {
                a.name == b.name
                    && a.hierarchy.height() == b.hierarchy.height()
                    && a.hierarchy.domain_size() == b.hierarchy.domain_size()
            });
        if same {
            Ok(())
        } else {
            Err(AnonError::Config(
                "the population was encoded for other quasi-identifiers".into(),
            ))
        }
    }

    /// At the bottom of the lattice (original values) every data class must be at most as large as its
    /// population class; then so is every class of every transformation (classes only merge), and δ ≤ 1.
    fn check_subset(&self, research: &Dataset) -> Result<(), AnonError> {
        if research.quasi_identifiers().is_empty() {
            return Ok(());
        }
        let bottom = vec![0u8; research.quasi_identifiers().len()];
        let cls = classes::from_records(research, &bottom);
        let pop = classes::from_records(&self.data, &bottom);
        let counts = classes::matching_counts(&cls, &pop);
        let bad: Vec<bool> = cls.counts.iter().zip(&counts).map(|(d, p)| d > p).collect();
        if !bad.iter().any(|&b| b) {
            return Ok(());
        }
        let of = classes::class_of_records(research, &cls);
        let record = of
            .iter()
            .position(|&c| bad.get(c as usize).copied().unwrap_or(true))
            .unwrap_or(0);
        Err(AnonError::NotASubset { record: record + 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hierarchy;

    fn hierarchy() -> Hierarchy {
        Hierarchy::parse_arx("a", "1;1-2;*\n2;1-2;*\n3;3-4;*\n4;3-4;*\n").unwrap()
    }

    fn research(values: &[&str]) -> Dataset {
        let mut ds = Dataset::new(values.len());
        ds.add_quasi_identifier("a", hierarchy(), values.iter().copied())
            .unwrap();
        ds
    }

    #[test]
    fn encodes_with_the_data_hierarchies() {
        let data = research(&["1", "3"]);
        let pop = Population::encode(&data, 4, |name| {
            (name == "a").then_some(["1", "2", "3", "3"])
        })
        .unwrap();
        assert_eq!(pop.records(), 4);
        assert_eq!(pop.dataset().quasi_identifiers()[0].name, "a");
    }

    #[test]
    fn value_missing_from_the_hierarchy_names_column_and_population_record() {
        let data = research(&["1"]);
        let e = Population::encode(&data, 3, |_| Some(["1", "2", "9"])).unwrap_err();
        assert_eq!(
            e,
            AnonError::PopulationValueNotInHierarchy {
                column: "a".into(),
                record: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "population record 3, column a: value not found in the column's hierarchy"
        );
    }

    #[test]
    fn missing_column_and_not_a_subset_are_errors() {
        let data = research(&["1", "3", "3"]);
        let e = Population::encode(&data, 1, |_| None::<Vec<&str>>).unwrap_err();
        assert_eq!(e, AnonError::PopulationColumnMissing { column: "a".into() });
        // "3" twice in the data, once in the population: record 2 is the first of that class.
        let e = Population::encode(&data, 3, |_| Some(["1", "2", "3"])).unwrap_err();
        assert_eq!(e, AnonError::NotASubset { record: 2 });
    }

    /// Population 1 1 2 2 3 3 3 4, data 1 2 3. δ per class: level 0 → 1/2, 1/2, 1/3; level 1 → 2/4, 1/4;
    /// level 2 → 3/8. Population class sizes: level 0 → 2, 2, 3; level 1 → 4, 4; level 2 → 8.
    fn example() -> (Dataset, Population) {
        let data = research(&["1", "2", "3"]);
        let pop = Population::encode(&data, 8, |_| Some(["1", "1", "2", "2", "3", "3", "3", "4"]))
            .unwrap();
        (data, pop)
    }

    fn run(
        delta: Option<(f64, f64)>,
        k_map: Option<u32>,
        limit: f64,
    ) -> Result<(crate::Evaluation, Vec<bool>), AnonError> {
        let (data, pop) = example();
        let models = crate::PrivacyModels {
            suppression_limit: limit,
            ..Default::default()
        };
        let pm = PopulationModels {
            delta_presence: delta.map(|(delta_min, delta_max)| DeltaPresence {
                delta_min,
                delta_max,
            }),
            k_map,
        };
        let config = crate::SearchConfig::optimal(crate::Metric::Height);
        let out = crate::search_population(&data, &models, &pop, &pm, &config)?;
        assert!(out.optimal);
        crate::apply_population(
            &data,
            &models,
            &pop,
            &pm,
            crate::Metric::Height,
            &out.best.levels,
        )
    }

    #[test]
    fn delta_presence_is_not_pruned_as_if_monotonic() {
        // Level 1 breaks [0.3, 0.6] (δ 1/4) while level 0 meets it: a search that tagged the nodes below a
        // non-solution would miss level 0.
        let (e, supp) = run(Some((0.3, 0.6)), None, 0.0).unwrap();
        assert_eq!(e.levels, [0]);
        assert_eq!(supp, [false; 3]);
        let s = e.population.unwrap();
        assert_eq!((s.min_delta, s.max_delta), (1.0 / 3.0, 0.5));
        assert_eq!(s.min_population_class_size, 2);
        // [0.35, 0.6]: only the root (δ 3/8) holds.
        let (e, _) = run(Some((0.35, 0.6)), None, 0.0).unwrap();
        assert_eq!(e.levels, [2]);
        assert_eq!(e.population.unwrap().min_population_class_size, 8);
        // [0.4, 0.6]: nothing holds without suppression; suppressing record 3 (one of three) makes level 0 hold.
        assert_eq!(
            run(Some((0.4, 0.6)), None, 0.0).unwrap_err(),
            AnonError::NoSolution
        );
        let (e, supp) = run(Some((0.4, 0.6)), None, 0.34).unwrap();
        assert_eq!(e.levels, [0]);
        assert_eq!(supp, [false, false, true]);
        assert_eq!(e.population.unwrap().min_delta, 0.5);
    }

    #[test]
    fn k_map_counts_population_records() {
        let (e, supp) = run(None, Some(3), 0.0).unwrap();
        assert_eq!(e.levels, [1]);
        assert_eq!(supp, [false; 3]);
        assert_eq!(e.population.unwrap().min_population_class_size, 4);
        // Suppressing the two classes of 2 population records is allowed with a limit of 2/3.
        let (e, supp) = run(None, Some(3), 0.67).unwrap();
        assert_eq!(e.levels, [0]);
        assert_eq!(supp, [true, true, false]);
        assert_eq!(e.population.unwrap().min_population_class_size, 3);
        assert_eq!(run(None, Some(9), 0.0).unwrap_err(), AnonError::NoSolution);
    }

    #[test]
    fn validation_of_parameters() {
        let d = |delta_min, delta_max| PopulationModels {
            delta_presence: Some(DeltaPresence {
                delta_min,
                delta_max,
            }),
            k_map: None,
        };
        assert!(d(0.0, 1.0).validate().is_ok());
        assert!(d(0.5, 0.4).validate().is_err());
        assert!(d(-0.1, 0.4).validate().is_err());
        assert!(d(0.1, f64::NAN).validate().is_err());
        let k = PopulationModels {
            delta_presence: None,
            k_map: Some(0),
        };
        assert!(k.validate().is_err());
        assert!(k.monotonic());
        assert!(!d(0.0, 1.0).monotonic());
    }
}
