//! `tsunagu synth`: a synthetic Japanese population with medical records held by many providers,
//! written as CSV, FHIR R4 (JP Core), SS-MIX2 and ledger files, with the ground truth kept apart.
//!
//! Output depends only on the [`Config`] (including its seed): persons are generated from their
//! own ChaCha8 streams, in parallel chunks, and written in person order, so two runs give
//! byte-identical files whatever the thread count. Memory stays bounded: only a window of chunks
//! is held at a time.
//!
//! The crate never reads real personal data: every name, address and number is made up from the
//! embedded reference tables (Japan Post postal codes, gimei name lists).

pub mod clinical;
pub mod codes;
pub mod config;
pub mod era;
pub mod fhir;
pub mod noise;
pub mod output;
pub mod reference;
pub mod rng;
pub mod sim;
pub mod ssmix2;
pub mod world;

pub use config::{Config, Format, NoiseConfig};
pub use output::{Summary, generate};

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is inconsistent (e.g. end before start).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An embedded reference table could not be parsed (a build defect).
    #[error("reference data: {0}")]
    Reference(String),
    /// Writing output failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
