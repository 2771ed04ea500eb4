//! Errors of the release path. Messages name files, tables, columns and rules, never a value
//! of a person.

use std::path::PathBuf;

/// Why a release could not be built, checked or verified.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A policy file or preset is not valid.
    #[error("policy {source_name}: {why}")]
    Policy {
        /// The file (or `preset:<name>`).
        source_name: String,
        /// What is wrong, with the key path.
        why: String,
    },
    /// The extract could not be read.
    #[error("extract: {0}")]
    Extract(#[from] tsunagu_lake::LakeError),
    /// The anonymization engine refused or failed.
    #[error("anonymization: {0}")]
    Anon(#[from] tsunagu_anon::error::AnonError),
    /// Writing or reading the package failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The package does not match its manifest (a file changed, is missing or was added).
    #[error("package {path}: {why}")]
    Tampered {
        /// The package directory or file.
        path: PathBuf,
        /// What differs.
        why: String,
    },
    /// Anything else that is a defect, not bad input.
    #[error("internal: {0}")]
    Internal(String),
}
