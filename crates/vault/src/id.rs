//! The two keys under which the vault files a person: the ledger's keyed hash of a
//! person-at-provider ([`PatientHash`]) and the internal id the clinical lake uses
//! ([`InternalId`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use tsunagu_model::ids::CROCKFORD;

use crate::{Error, Result};

/// The id of a person-at-provider everywhere outside the vault: `psn-` and 26 Crockford
/// base-32 characters (130 bits of an HMAC-SHA256, see [`crate::Vault::internal_id`]).
///
/// It is computed from the provider and the patient hash under a key derived from the store
/// key, so the same person at the same provider always gets the same id, without a lookup, and
/// without the store key nobody can tell whose id it is, or compute it from a patient id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InternalId(String);

impl InternalId {
    const PREFIX: &'static str = "psn-";
    /// Characters after the prefix.
    pub const LEN: usize = 26;

    /// Render the first 130 bits of `digest` (a MAC output, at least 17 bytes).
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let mut s = String::with_capacity(Self::PREFIX.len() + Self::LEN);
        s.push_str(Self::PREFIX);
        // Read the digest as a big-endian bit string, five bits per character.
        for i in 0..Self::LEN {
            let bit = i * 5;
            let byte = bit / 8;
            let hi = u16::from(digest.get(byte).copied().unwrap_or(0));
            let lo = u16::from(digest.get(byte + 1).copied().unwrap_or(0));
            let window = (hi << 8) | lo;
            let idx = (window >> (11 - (bit % 8))) & 0x1f;
            s.push(CROCKFORD[usize::from(idx)] as char);
        }
        InternalId(s)
    }

    /// Parse an id: case-insensitive, surrounding space ignored.
    pub fn parse(input: &str) -> Result<Self> {
        let upper = input.trim().to_ascii_uppercase();
        let Some(rest) = upper.strip_prefix("PSN-") else {
            return Err(Error::Input {
                what: "internal id",
                why: "must start with psn-",
            });
        };
        if rest.len() != Self::LEN || !rest.bytes().all(|b| CROCKFORD.contains(&b)) {
            return Err(Error::Input {
                what: "internal id",
                why: "must be psn- and 26 characters of 0-9 and A-Z without I, L, O, U",
            });
        }
        Ok(InternalId(format!("{}{rest}", Self::PREFIX)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InternalId({})", self.0)
    }
}

impl TryFrom<String> for InternalId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        InternalId::parse(&s)
    }
}

impl From<InternalId> for String {
    fn from(id: InternalId) -> String {
        id.0
    }
}

impl std::str::FromStr for InternalId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        InternalId::parse(s)
    }
}

/// The ledger's keyed hash of a person-at-provider (`Ledger::patient_hash`): 64 lowercase hex
/// digits. The vault accepts nothing else as a person's key, so a raw patient id handed to it
/// by mistake is refused instead of being stored in a plain-text column.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatientHash(String);

impl PatientHash {
    /// Parse 64 hexadecimal digits (either case; stored lowercase).
    pub fn parse(input: &str) -> Result<Self> {
        let t = input.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Input {
                what: "patient hash",
                why: "must be the ledger's keyed hash: 64 hexadecimal digits",
            });
        }
        Ok(PatientHash(t.to_ascii_lowercase()))
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PatientHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PatientHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PatientHash({})", self.0)
    }
}

impl std::str::FromStr for PatientHash {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PatientHash::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn renders_the_leading_130_bits() {
        // All ones → every 5-bit group is 31 ("Z"); 0x80 then zeros → "G" (16) then "0"s.
        assert_eq!(
            InternalId::from_digest(&[0xff; 32]).as_str(),
            format!("psn-{}", "Z".repeat(26))
        );
        let mut d = [0u8; 32];
        d[0] = 0x80;
        assert_eq!(
            InternalId::from_digest(&d).as_str(),
            format!("psn-G{}", "0".repeat(25))
        );
        // Bit 129 is the last one used, bit 130 is not.
        let mut d = [0u8; 32];
        d[16] = 0x40;
        assert_eq!(
            InternalId::from_digest(&d).as_str(),
            format!("psn-{}1", "0".repeat(25))
        );
        let mut d = [0u8; 32];
        d[16] = 0x20;
        assert_eq!(
            InternalId::from_digest(&d).as_str(),
            format!("psn-{}", "0".repeat(26))
        );
    }

    #[test]
    fn parse_refuses_what_it_does_not_write() {
        assert!(InternalId::parse("psn-0123456789ABCDEFGHJKMNPQRS").is_ok());
        assert!(InternalId::parse("psn-0123456789ABCDEFGHJKMNPQRI").is_err());
        assert!(InternalId::parse("psn-0123").is_err());
        assert!(InternalId::parse("prv-0123456789ABCDEFGHJKMNPQRS").is_err());
        assert!(PatientHash::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            PatientHash::parse(&"A".repeat(64)).unwrap().as_str(),
            "a".repeat(64)
        );
        assert!(PatientHash::parse("0001234").is_err());
        assert!(PatientHash::parse(&"g".repeat(64)).is_err());
    }

    proptest! {
        #[test]
        fn ids_round_trip_through_text(d in proptest::collection::vec(any::<u8>(), 32)) {
            let id = InternalId::from_digest(&d);
            prop_assert_eq!(InternalId::parse(&id.as_str().to_lowercase()).unwrap(), id.clone());
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<InternalId>(&json).unwrap(), id);
        }

        #[test]
        fn parsers_never_panic(s in ".*") {
            let _ = InternalId::parse(&s);
            let _ = PatientHash::parse(&s);
        }
    }
}
