//! Typed errors of the engine.
//!
//! Values of the data never appear in these messages: a hierarchy or a data file may hold personal data
//! (a birth date, a postal code), so errors name the file or column, the line or record, and the reason only.

use thiserror::Error;

/// Everything that can go wrong while building or anonymizing a dataset.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AnonError {
    /// A hierarchy file has no lines.
    #[error("hierarchy {hierarchy}: empty (no values)")]
    EmptyHierarchy {
        /// Name of the hierarchy (usually its attribute).
        hierarchy: String,
    },
    /// A hierarchy line has a different number of levels than the first line.
    #[error(
        "hierarchy {hierarchy}, line {line}: {found} levels where the first line has {expected}"
    )]
    RaggedHierarchy {
        /// Name of the hierarchy.
        hierarchy: String,
        /// 1-based line number.
        line: usize,
        /// Levels on the first line.
        expected: usize,
        /// Levels on this line.
        found: usize,
    },
    /// A hierarchy cell is empty.
    #[error("hierarchy {hierarchy}, line {line}, level {level}: empty value")]
    EmptyHierarchyCell {
        /// Name of the hierarchy.
        hierarchy: String,
        /// 1-based line number.
        line: usize,
        /// 0-based level (column).
        level: usize,
    },
    /// The same original value appears on two lines.
    #[error("hierarchy {hierarchy}, line {line}: the level-0 value repeats line {first_line}")]
    DuplicateHierarchyValue {
        /// Name of the hierarchy.
        hierarchy: String,
        /// 1-based line number of the repetition.
        line: usize,
        /// 1-based line number of the first occurrence.
        first_line: usize,
    },
    /// A value generalizes to two different values at the next level, so the hierarchy is not a tree.
    #[error(
        "hierarchy {hierarchy}, line {line}, level {level}: this value generalizes differently at level {} than on line {other_line}; a hierarchy must be a tree",
        level + 1
    )]
    NotATree {
        /// Name of the hierarchy.
        hierarchy: String,
        /// 1-based line number where the conflict was found.
        line: usize,
        /// 0-based level whose value maps to two parents.
        level: usize,
        /// 1-based line with the other parent.
        other_line: usize,
    },
    /// The last level of a hierarchy holds more than one value.
    #[error(
        "hierarchy {hierarchy}: the last level (root) holds {values} different values; it must hold one"
    )]
    NoSingleRoot {
        /// Name of the hierarchy.
        hierarchy: String,
        /// Number of distinct values at the root level.
        values: usize,
    },
    /// A value in the data is absent from its hierarchy.
    #[error("record {record}, column {column}: value not found in the column's hierarchy")]
    ValueNotInHierarchy {
        /// Column (attribute) name.
        column: String,
        /// 1-based record number (data rows, header excluded).
        record: usize,
    },
    /// A value of the population table is absent from its attribute's hierarchy.
    #[error(
        "population record {record}, column {column}: value not found in the column's hierarchy"
    )]
    PopulationValueNotInHierarchy {
        /// Column (attribute) name.
        column: String,
        /// 1-based record number of the population table (header excluded).
        record: usize,
    },
    /// The population table lacks a quasi-identifier of the research data.
    #[error("the population table has no column {column} (a quasi-identifier of the data)")]
    PopulationColumnMissing {
        /// Column (attribute) name.
        column: String,
    },
    /// The research data is not a subset of the population: some combination of quasi-identifier values occurs
    /// more often in the data than in the population.
    #[error(
        "record {record}: its quasi-identifier values occur more often in the data than in the population table; the data must be a subset of the population"
    )]
    NotASubset {
        /// 1-based record number of the research data (the first such record).
        record: usize,
    },
    /// A column has a different number of values than the others.
    #[error("column {column}: {found} values where the table has {expected} records")]
    ColumnLength {
        /// Column name.
        column: String,
        /// Records of the table.
        expected: usize,
        /// Values of this column.
        found: usize,
    },
    /// A configuration that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No quasi-identifier was given.
    #[error("no quasi-identifier: at least one attribute with a hierarchy is needed")]
    NoQuasiIdentifier,
    /// The search found no transformation that satisfies the privacy models within the suppression limit.
    #[error("no transformation satisfies the privacy models within the suppression limit")]
    NoSolution,
    /// The lattice is too large for optimal search.
    #[error(
        "the generalization lattice has {nodes} transformations; optimal search handles at most {max}: use the heuristic search"
    )]
    LatticeTooLarge {
        /// Number of transformations.
        nodes: u128,
        /// Limit.
        max: u128,
    },
}
