//! Receipt numbers for stop requests: 75 random bits in Crockford base 32 (no I, L, O, U, so
//! nothing is misread), in four groups of four, the last character a Luhn mod 32 check that
//! catches every single mistyped character and most swaps of neighbours.
//!
//! Written by hand because no maintained crate offers Luhn mod N over Crockford's alphabet; the
//! algorithm is a dozen lines.

use std::fmt;

use tsunagu_model::ids::CROCKFORD;

use crate::{Result, random_bytes};

const PAYLOAD: usize = 15;

/// A well-formed receipt number (its check character verified).
#[derive(Clone, PartialEq, Eq)]
pub struct Receipt(String);

fn value(c: char) -> Option<u32> {
    // Crockford decoding: case-insensitive, O→0, I and L→1.
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    CROCKFORD
        .iter()
        .position(|&b| b as char == c)
        .map(|p| p as u32)
}

fn check_char(payload: &[u32]) -> u32 {
    // Luhn mod N: from the right, double every other value, fold the result back into base N.
    let n = 32u32;
    let mut factor = 2;
    let mut sum = 0;
    for &v in payload.iter().rev() {
        let addend = factor * v;
        sum += addend / n + addend % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    (n - sum % n) % n
}

impl Receipt {
    /// A fresh receipt from the operating system's random generator.
    pub fn generate() -> Result<Self> {
        let bytes = random_bytes::<PAYLOAD>()?;
        let payload: Vec<u32> = bytes.iter().map(|b| u32::from(*b) & 0x1f).collect();
        Ok(Self::from_payload(&payload))
    }

    fn from_payload(payload: &[u32]) -> Self {
        let mut s = String::with_capacity(19);
        let check = check_char(payload);
        for (i, v) in payload.iter().chain(std::iter::once(&check)).enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(CROCKFORD[*v as usize] as char);
        }
        Receipt(s)
    }

    /// Parse a receipt as a person types it: any case, with or without hyphens or spaces,
    /// O for 0 and I/L for 1. `None` when it is not a well-formed receipt.
    pub fn parse(input: &str) -> Option<Self> {
        let mut vals = Vec::with_capacity(PAYLOAD + 1);
        for c in input.chars() {
            if matches!(c, '-' | ' ' | '　' | '－' | 'ー') {
                continue;
            }
            vals.push(value(c)?);
            if vals.len() > PAYLOAD + 1 {
                return None;
            }
        }
        if vals.len() != PAYLOAD + 1 || check_char(&vals[..PAYLOAD]) != vals[PAYLOAD] {
            return None;
        }
        Some(Self::from_payload(&vals[..PAYLOAD]))
    }

    /// The canonical form, `XXXX-XXXX-XXXX-XXXX`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A receipt is a bearer secret for its request's status.
        f.write_str("Receipt([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_lenient_typing() {
        let r = Receipt::generate().unwrap();
        assert_eq!(r.as_str().len(), 19);
        assert_eq!(Receipt::parse(r.as_str()).unwrap(), r);
        let sloppy = r.as_str().replace('-', " ").to_lowercase();
        assert_eq!(Receipt::parse(&sloppy).unwrap(), r);
        assert!(Receipt::parse("").is_none());
        assert!(Receipt::parse("ABCD").is_none());
    }

    proptest! {
        #[test]
        fn every_single_substitution_is_caught(
            payload in proptest::collection::vec(0u32..32, PAYLOAD),
            pos in 0usize..=PAYLOAD,
            delta in 1u32..32,
        ) {
            let r = Receipt::from_payload(&payload);
            let mut chars: Vec<char> = r.as_str().chars().filter(|c| *c != '-').collect();
            let v = value(chars[pos]).unwrap();
            chars[pos] = CROCKFORD[((v + delta) % 32) as usize] as char;
            let typo: String = chars.into_iter().collect();
            prop_assert!(Receipt::parse(&typo).is_none());
        }
    }
}
