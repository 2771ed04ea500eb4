//! The released tables in memory, between the transformation and the package writer. Every
//! measure is checked on these values — exactly what goes into the files.

use serde::Serialize;

/// What a column of a released table is, as the policy made it. The checks do not trust the
/// role (they scan every value), but the report and the data dictionary use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    /// A release-scoped pseudonym (person, encounter, record, claim).
    Pseudonym,
    /// A person-level quasi-identifier under k-anonymity (sex, age band, area).
    QuasiIdentifier,
    /// A code (ICD-10, drug, lab item, procedure), possibly generalized.
    Code,
    /// A date or month, possibly coarsened or shifted.
    Date,
    /// A measured value, possibly top/bottom-coded.
    Measure,
    /// Other kept content (categories, units, flags).
    Attribute,
}

/// The values of one column. Text is what CSV and Parquet both carry without loss; numbers keep
/// their type in Parquet.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// UTF-8 text.
    Text(Vec<Option<String>>),
    /// Floating-point measures.
    Float(Vec<Option<f64>>),
    /// Integers (ages, days, counts).
    Int(Vec<Option<i64>>),
    /// Flags.
    Bool(Vec<Option<bool>>),
}

impl Values {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of row `i` as it is written to CSV (`None` for null).
    pub fn text(&self, i: usize) -> Option<String> {
        match self {
            Values::Text(v) => v.get(i).cloned().flatten(),
            Values::Float(v) => v.get(i).copied().flatten().map(|x| x.to_string()),
            Values::Int(v) => v.get(i).copied().flatten().map(|x| x.to_string()),
            Values::Bool(v) => v.get(i).copied().flatten().map(|x| x.to_string()),
        }
    }
}

/// One column of a released table.
#[derive(Debug, Clone, PartialEq)]
pub struct OutColumn {
    /// Column name (ASCII snake_case).
    pub name: String,
    /// What the policy made of it.
    pub role: ColumnRole,
    /// Japanese description for the data dictionary.
    pub description_ja: String,
    /// English description for the data dictionary.
    pub description_en: String,
    /// The values, one per row.
    pub values: Values,
}

/// One released table: `persons` (one row per person) or an event table.
#[derive(Debug, Clone, PartialEq)]
pub struct OutTable {
    /// Table name (`persons`, `conditions`, …).
    pub name: String,
    /// Columns, all of the same length.
    pub columns: Vec<OutColumn>,
}

impl OutTable {
    /// Number of rows (0 for a table without columns).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&OutColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Everything a release contains, before it is written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Released {
    /// `persons` first, then event tables in the lake's order.
    pub tables: Vec<OutTable>,
}

impl Released {
    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&OutTable> {
        self.tables.iter().find(|t| t.name == name)
    }
}
