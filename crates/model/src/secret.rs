//! The store key: one 256-bit secret kept outside the database (a 0600 key file in the store
//! directory, or an environment variable), from which every purpose-specific key is derived
//! with HKDF-SHA256. A copy of the database alone therefore identifies nobody and cannot forge
//! the audit seal.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::ParseError;

/// The store's root secret. No `Debug` output of the bytes, no `Display`.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// Wrap 32 random bytes (from the operating system's generator).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StoreKey(bytes)
    }

    /// Parse the 64-hex-digit form used in key files and `TSUNAGU_STORE_KEY`.
    pub fn from_hex(s: &str) -> Result<Self, ParseError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out)
            .map_err(|_| ParseError::new("store key", "must be 64 hexadecimal digits"))?;
        Ok(StoreKey(out))
    }

    /// The 64-hex-digit form, for writing the key file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A 256-bit key for one purpose. `purpose` is a fixed label such as
    /// `"tsunagu/ledger/patient-id/v1"`; different labels give independent keys.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"tsunagu store key"), &self.0);
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so expand cannot fail.
        let _ = hk.expand(purpose.as_bytes(), &mut okm);
        okm
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_separates_purposes_and_round_trips() {
        let k = StoreKey::from_bytes([7; 32]);
        assert_ne!(k.derive("a"), k.derive("b"));
        assert_eq!(
            k.derive("a"),
            StoreKey::from_hex(&k.to_hex()).unwrap().derive("a")
        );
        assert!(StoreKey::from_hex("zz").is_err());
        assert!(!format!("{k:?}").contains("07"));
    }
}
