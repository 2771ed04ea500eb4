//! tsunagu's pipeline: the steps that move data between the stores.
//!
//! * [`intake`]: parse what a provider sent (SS-MIX2, FHIR, CSV), check every person against the
//!   Act's eligibility rule at that moment (the opt-out gate), split who they are (vault) from
//!   what happened to them (lake), hold what arrived too early, refuse what a stop request
//!   covers, quarantine what cannot be read, and record the reception.
//! * [`map`]: the split itself, from parsed records to identity payloads and lake rows.
//! * [`quarantine`]: rejected inputs, kept encrypted with their position and reason.
//! * [`gate`]: the opt-out gate over the whole store at extraction and release time, widened
//!   from each record to its linked person.
//!
//! The pipeline is the only crate that sees both the vault and the lake; it never writes an
//! identifying value to the lake, a log or an error.

pub mod gate;
pub mod intake;
pub mod linkage;
pub mod map;
pub mod quarantine;

mod error;

pub use error::{Error, Result};
pub use intake::{Format, Intake, IntakeSummary, ReleaseSummary, RetrySummary};
