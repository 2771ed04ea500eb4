//! Domain types and code systems of tsunagu.
//!
//! Every type here is parsed, not validated: a value of [`PostalCode`], [`Icd10Code`],
//! [`ProviderId`] or [`LocalPatientId`] cannot hold garbage. The crate does no I/O; the
//! reference data it needs (ICD-10 tree, Japan Post postal codes) is embedded at compile time.
//!
//! Types that may hold personal data ([`LocalPatientId`]) print as `[redacted]` in `Debug` and
//! have no `Display`, so they cannot slip into a log line or an error message.

pub mod era;
pub mod icd10;
pub mod ids;
pub mod postal;
pub mod provider;
pub mod secret;
pub mod sex;

pub use icd10::Icd10Code;
pub use ids::{LocalPatientId, ProviderId};
pub use postal::PostalCode;
pub use provider::{ProviderCode, ProviderKind};
pub use secret::StoreKey;
pub use sex::Sex;

/// Why a value could not be parsed into a domain type. Never carries the rejected value itself,
/// which may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {why}")]
pub struct ParseError {
    /// The kind of value (e.g. "postal code").
    pub what: &'static str,
    /// Why it was rejected.
    pub why: &'static str,
}

impl ParseError {
    pub(crate) const fn new(what: &'static str, why: &'static str) -> Self {
        ParseError { what, why }
    }
}
