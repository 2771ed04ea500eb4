//! The table to anonymize, dictionary-encoded: every quasi-identifier is a column of leaf indexes into its
//! hierarchy (`u32` per cell), the optional sensitive attribute a column of dense codes.

use std::collections::HashMap;

use crate::error::AnonError;
use crate::hierarchy::Hierarchy;

/// A quasi-identifier: its hierarchy and its cells as leaf indexes.
#[derive(Debug, Clone)]
pub struct QuasiIdentifier {
    /// Attribute name (column header).
    pub name: String,
    /// Its generalization hierarchy.
    pub hierarchy: Hierarchy,
    /// Per record: leaf index into `hierarchy`.
    pub leaves: Vec<u32>,
}

/// The sensitive attribute of l-diversity and t-closeness.
#[derive(Debug, Clone)]
pub struct Sensitive {
    /// Attribute name.
    pub name: String,
    /// Per record: dense code (the level-0 code of the hierarchy when one is given).
    pub codes: Vec<u32>,
    /// Number of codes.
    pub domain: usize,
    /// Hierarchy for hierarchical-distance t-closeness.
    pub hierarchy: Option<Hierarchy>,
}

/// A dictionary-encoded table: quasi-identifiers in the data file's column order, plus an optional
/// sensitive attribute.
#[derive(Debug, Clone)]
pub struct Dataset {
    records: usize,
    qis: Vec<QuasiIdentifier>,
    sensitive: Option<Sensitive>,
}

impl Dataset {
    /// An empty table of `records` records.
    pub fn new(records: usize) -> Self {
        Dataset {
            records,
            qis: Vec::new(),
            sensitive: None,
        }
    }

    /// Number of records.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Quasi-identifiers in column order.
    pub fn quasi_identifiers(&self) -> &[QuasiIdentifier] {
        &self.qis
    }

    /// The sensitive attribute, if any.
    pub fn sensitive(&self) -> Option<&Sensitive> {
        self.sensitive.as_ref()
    }

    /// Add a quasi-identifier column. Every value must be a level-0 value of `hierarchy`; the error names the
    /// column and the 1-based record, never the value.
    pub fn add_quasi_identifier<S: AsRef<str>>(
        &mut self,
        name: &str,
        hierarchy: Hierarchy,
        values: impl IntoIterator<Item = S>,
    ) -> Result<(), AnonError> {
        let mut leaves = Vec::with_capacity(self.records);
        for (i, v) in values.into_iter().enumerate() {
            let leaf =
                hierarchy
                    .leaf(v.as_ref())
                    .ok_or_else(|| AnonError::ValueNotInHierarchy {
                        column: name.to_owned(),
                        record: i + 1,
                    })?;
            leaves.push(leaf);
        }
        if leaves.len() != self.records {
            return Err(AnonError::ColumnLength {
                column: name.to_owned(),
                expected: self.records,
                found: leaves.len(),
            });
        }
        if hierarchy.domain_size() > (u32::MAX as usize) {
            return Err(AnonError::Config(format!(
                "hierarchy of {name} is too large"
            )));
        }
        self.qis.push(QuasiIdentifier {
            name: name.to_owned(),
            hierarchy,
            leaves,
        });
        Ok(())
    }

    /// Set the sensitive attribute. With a hierarchy (needed for hierarchical-distance t-closeness) every value
    /// must be in it; without one, values are dictionary-encoded in order of appearance.
    pub fn set_sensitive<S: AsRef<str>>(
        &mut self,
        name: &str,
        values: impl IntoIterator<Item = S>,
        hierarchy: Option<Hierarchy>,
    ) -> Result<(), AnonError> {
        let mut codes = Vec::with_capacity(self.records);
        let domain;
        if let Some(h) = &hierarchy {
            for (i, v) in values.into_iter().enumerate() {
                let leaf = h
                    .leaf(v.as_ref())
                    .ok_or_else(|| AnonError::ValueNotInHierarchy {
                        column: name.to_owned(),
                        record: i + 1,
                    })?;
                codes.push(h.code(0, leaf));
            }
            domain = h.level_size(0);
        } else {
            let mut dict: HashMap<String, u32> = HashMap::new();
            for v in values {
                let next = dict.len() as u32;
                codes.push(*dict.entry(v.as_ref().to_owned()).or_insert(next));
            }
            domain = dict.len();
        }
        if codes.len() != self.records {
            return Err(AnonError::ColumnLength {
                column: name.to_owned(),
                expected: self.records,
                found: codes.len(),
            });
        }
        self.sensitive = Some(Sensitive {
            name: name.to_owned(),
            codes,
            domain,
            hierarchy,
        });
        Ok(())
    }

    /// Heights (levels per hierarchy) of the quasi-identifiers.
    pub fn heights(&self) -> Vec<usize> {
        self.qis.iter().map(|q| q.hierarchy.height()).collect()
    }

    /// The generalized text of a record's quasi-identifier `qi` at `level`.
    pub fn generalized(&self, qi: usize, record: usize, level: usize) -> &str {
        let q = &self.qis[qi];
        q.hierarchy
            .label(level, q.hierarchy.code(level, q.leaves[record]))
    }
}
