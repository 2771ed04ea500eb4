//! tsunagu link (名寄せ): decide which identity records, held by different providers under
//! different ids and written differently, belong to the same person — without the linker ever
//! seeing a plaintext identifier.
//!
//! The flow, each stage its own module:
//!
//! 1. [`source`]: read identity files (CSV), detect column roles or take a mapping.
//! 2. [`normalize`]: Japanese normalisation (NFKC, kana fold, variant kanji, dashes, era dates,
//!    sex codes, addresses split with the postal table). Plaintext; vault side only.
//! 3. [`record`] + [`token`]: turn normalised identities into keyed HMAC-SHA256 tokens (per-field
//!    keys by HKDF from one linkage key); from here on there is no plaintext.
//! 4. [`block`]: candidate pairs from a union of blocking rules joined on 64-bit token hashes.
//! 5. [`compare`] + [`model`]: comparison levels per field, Fellegi–Sunter with u from random
//!    pairs, m by EM, term-frequency adjustment; per-pair explanations.
//! 6. [`cluster`]: connected components, one-to-one assignment, incremental clusters with
//!    stable ids (for the vault).
//!
//! [`engine`] runs 4–6 on two token tables; [`output`] writes the scored pairs as CSV;
//! [`simulate`] makes populations with known truth.

pub mod block;
pub mod cluster;
pub mod compare;
pub mod engine;
pub mod model;
pub mod normalize;
pub mod output;
pub mod record;
pub mod schema;
pub mod simulate;
pub mod source;
pub mod token;
