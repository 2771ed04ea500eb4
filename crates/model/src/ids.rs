//! Identifiers: our own ids for providers, and the providers' local patient ids.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// Crockford's base-32 alphabet: no I, L, O, U, so ids read aloud or typed from paper survive.
pub const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Our id of a registered provider: `prv-` followed by 10 Crockford base-32 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

impl ProviderId {
    const PREFIX: &'static str = "prv-";
    const LEN: usize = 10;

    /// Make an id from 50 random bits (the caller supplies the randomness).
    pub fn from_random(bits: u64) -> Self {
        let mut s = String::with_capacity(Self::PREFIX.len() + Self::LEN);
        s.push_str(Self::PREFIX);
        for i in (0..Self::LEN).rev() {
            let idx = ((bits >> (i * 5)) & 0x1f) as usize;
            s.push(CROCKFORD[idx] as char);
        }
        ProviderId(s)
    }

    /// Parse an id typed by a person: case-insensitive, surrounding space ignored.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "provider id";
        let upper = input.trim().to_ascii_uppercase();
        let Some(rest) = upper.strip_prefix("PRV-") else {
            return Err(ParseError::new(WHAT, "must start with prv-"));
        };
        if rest.len() != Self::LEN || !rest.bytes().all(|b| CROCKFORD.contains(&b)) {
            return Err(ParseError::new(
                WHAT,
                "must be prv- and 10 characters of 0-9 and A-Z without I, L, O, U",
            ));
        }
        Ok(ProviderId(format!("{}{rest}", Self::PREFIX)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderId({})", self.0)
    }
}

impl TryFrom<String> for ProviderId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        ProviderId::parse(&s)
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> String {
        id.0
    }
}

impl std::str::FromStr for ProviderId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        ProviderId::parse(s)
    }
}

/// A provider's own id of a patient (カルテ番号, 患者ID). Identifying in itself: it has no
/// `Display`, its `Debug` is redacted, and the ledger stores only a keyed hash of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LocalPatientId(String);

impl LocalPatientId {
    /// Longest id accepted; SS-MIX2 and receipt systems use far fewer characters.
    pub const MAX_LEN: usize = 64;

    /// Parse an id: surrounding white space trimmed (full-width too), 1–64 characters, no
    /// control characters or inner white space.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "patient id";
        let t = input.trim_matches(|c: char| c.is_whitespace());
        if t.is_empty() {
            return Err(ParseError::new(WHAT, "empty"));
        }
        if t.chars().count() > Self::MAX_LEN {
            return Err(ParseError::new(WHAT, "longer than 64 characters"));
        }
        if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ParseError::new(
                WHAT,
                "contains white space or control characters",
            ));
        }
        Ok(LocalPatientId(t.to_owned()))
    }

    /// The raw id, for hashing or for the vault only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LocalPatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalPatientId([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn provider_id_round_trips_and_is_case_insensitive() {
        let id = ProviderId::from_random(0x3fff_ffff_ffff);
        assert_eq!(
            ProviderId::parse(&id.to_string().to_lowercase()).unwrap(),
            id
        );
        assert!(ProviderId::parse("prv-0123456789").is_ok());
        assert!(ProviderId::parse("prv-012345678I").is_err());
        assert!(ProviderId::parse("prv-01234").is_err());
        assert!(ProviderId::parse("0123456789").is_err());
    }

    #[test]
    fn patient_id_is_redacted_in_debug() {
        let p = LocalPatientId::parse(" 0001234 ").unwrap();
        assert_eq!(p.expose(), "0001234");
        assert!(!format!("{p:?}").contains("1234"));
        assert!(LocalPatientId::parse("a b").is_err());
        assert!(LocalPatientId::parse("").is_err());
        assert!(LocalPatientId::parse(&"9".repeat(65)).is_err());
    }

    proptest! {
        #[test]
        fn any_random_provider_id_parses(bits in any::<u64>()) {
            let id = ProviderId::from_random(bits);
            prop_assert_eq!(ProviderId::parse(id.as_str()).unwrap(), id);
        }

        #[test]
        fn patient_id_parse_never_panics(s in ".*") {
            let _ = LocalPatientId::parse(&s);
        }
    }
}
