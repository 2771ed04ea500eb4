//! The clinical lake: what happened to people, as encrypted Parquet tables keyed by an internal
//! person id (`psn-…`, made by the vault) that reveals nothing about them.
//!
//! Eight tables ([`Table`]): persons, encounters, conditions, medications, observations,
//! procedures, checkups, claims. Each has a row struct ([`Person`], [`Encounter`], …) whose
//! fields are its columns, and a builder that accumulates rows column by column into an Arrow
//! [`RecordBatch`]. The [`Lake`] stores batches as *parts*: one Parquet file per part, named
//! deterministically by the caller and written atomically, so an interrupted ingest that runs
//! again overwrites its parts instead of doubling rows.
//!
//! Every file is encrypted with Parquet modular encryption (AES-256-GCM, encrypted footer, a key
//! per column, all derived from the [`StoreKey`](tsunagu_model::StoreKey)); reading without the
//! key or with another store's key fails with [`LakeError::Read`].
//!
//! The lake never holds a direct identifier: no names, kana, addresses below the 3-digit postal
//! area, phone numbers, insurance card numbers, My Number or provider patient ids. Those live in
//! the vault only.

mod column;
mod store;
mod tables;
mod values;

use std::path::PathBuf;

pub use arrow_array::RecordBatch;
pub use arrow_schema::SchemaRef;
pub use column::{Column, Scalar, Undecodable};
pub use store::{Lake, schema_of};
pub use tables::{
    Checkup, CheckupsBuilder, Claim, ClaimsBuilder, Condition, ConditionsBuilder, Encounter,
    EncountersBuilder, Medication, MedicationsBuilder, Observation, ObservationsBuilder, Person,
    PersonsBuilder, Procedure, ProceduresBuilder, RowBuilder, TableRow,
};
pub use values::{
    CheckupProgram, EncounterClass, MedicationKind, ObservationCategory, PartName, PersonId,
    Postal3, Table, YearMonth,
};

/// What went wrong in the lake. Names the table, part, column and row; never a value.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A file system operation failed.
    #[error("lake file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A part could not be encoded or encrypted.
    #[error("table {table}, part {part}: cannot write: {source}")]
    Write {
        /// The table.
        table: Table,
        /// The part.
        part: PartName,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// A part could not be decrypted or decoded: wrong store key, a file moved from another
    /// table or renamed, tampering, or not a lake file at all.
    #[error(
        "table {table}, part {part}: cannot read (wrong store key, moved, tampered or not a lake part): {source}"
    )]
    Read {
        /// The table.
        table: Table,
        /// The part.
        part: PartName,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// A batch does not have the table's schema.
    #[error("table {table}: schema mismatch at column '{column}': {why}")]
    Schema {
        /// The table.
        table: Table,
        /// The column (empty when the column count differs).
        column: String,
        /// What differs.
        why: &'static str,
    },
    /// A stored value does not decode into its column's type.
    #[error("table {table}, column {column}{}: {why}", row.map(|r| format!(", row {r}")).unwrap_or_default())]
    Decode {
        /// The table.
        table: Table,
        /// The column.
        column: &'static str,
        /// The row within its batch, when one row is at fault.
        row: Option<usize>,
        /// Why.
        why: &'static str,
    },
    /// A part name was rejected.
    #[error("invalid part name: {0}")]
    PartName(&'static str),
    /// An invariant of this crate broke (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(String),
}
