//! Parsers of outside input for tsunagu: SS-MIX2 standardized storage (HL7 v2.5 in
//! ISO-2022-JP), FHIR R4 / JP Core JSON (Bundles and Bulk Data NDJSON), and CSV read through a
//! mapping file.
//!
//! Every parser returns a [`record::Batch`]: accepted [`record::Record`]s, each either an
//! [`record::Identity`] (for the vault) or a [`record::Clinical`] record (for the lake), and
//! [`record::Rejected`] inputs with position, field and reason (for the encrypted quarantine).
//! Nothing here does storage, gating or linkage; see `README.md` for the model and invariants.

pub mod csv_mapped;
pub mod fhir;
pub mod hl7;
pub mod normalise;
pub mod record;
pub mod ssmix2;

pub use record::{
    Batch, Body, Clinical, ClinicalData, Identity, Position, Reason, Record, Rejected,
};
