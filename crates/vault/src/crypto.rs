//! AES-256-GCM sealing (RustCrypto `aes-gcm`), keyed hashing (HMAC-SHA256), and the envelope
//! around them. Nothing here is hand-rolled cryptography: this module only fixes formats,
//! contexts (associated data) and which key is used for what.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use hmac::Mac;
use std::fmt;

use crate::{Error, Result};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Data sealed with AES-256-GCM: a format byte (1), a 96-bit random nonce, the ciphertext and
/// its 128-bit tag. It can only be opened with the same key and the same context it was sealed
/// under (the context is authenticated, not stored).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Bytes added to the plaintext's length.
    pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

    /// Accept bytes read back from storage. Checks the framing only; authenticity is checked
    /// when the data is opened.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < Self::OVERHEAD {
            return Err(Error::Input {
                what: "sealed data",
                why: "shorter than a nonce and a tag",
            });
        }
        if bytes[0] != FORMAT_V1 {
            return Err(Error::Input {
                what: "sealed data",
                why: "unknown format version",
            });
        }
        Ok(Sealed(bytes))
    }

    /// Accept the hexadecimal form ([`Sealed::to_hex`]).
    pub fn from_hex(s: &str) -> Result<Self> {
        let bytes = hex::decode(s.trim()).map_err(|_| Error::Input {
            what: "sealed data",
            why: "not hexadecimal",
        })?;
        Sealed::from_bytes(bytes)
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The stored form, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Lowercase hexadecimal, for text columns (the database schema is text-only).
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Length of the plaintext inside.
    pub fn plaintext_len(&self) -> usize {
        self.0.len() - Self::OVERHEAD
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// The context a seal is bound to: a fixed label and the parts that say whose and which data it
/// is (subject id, version, purpose). Length-prefixed so that no two contexts collide.
pub(crate) fn context(label: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(label.len() + 8 + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    for p in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// A 256-bit AES-GCM key.
pub(crate) struct SealKey(Aes256Gcm);

impl SealKey {
    pub(crate) fn new(bytes: &[u8; 32]) -> Self {
        SealKey(Aes256Gcm::new(&(*bytes).into()))
    }

    /// Seal under a fresh random nonce. Random 96-bit nonces are safe for far more messages
    /// than one key here ever seals (NIST SP 800-38D's bound is 2^32 per key).
    pub(crate) fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Sealed> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let nonce = Nonce::<Aes256Gcm>::from(nonce_bytes);
        let ct = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            // Only plaintexts beyond 64 GiB fail; nothing the vault seals comes near.
            .map_err(|_| Error::Input {
                what: "data to seal",
                why: "too long for AES-GCM",
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(Sealed(out))
    }

    /// Open, or fail with [`Error::Decrypt`] naming `what` (never the content).
    pub(crate) fn open(
        &self,
        context: &[u8],
        sealed: &Sealed,
        what: &'static str,
        subject: Option<&crate::InternalId>,
    ) -> Result<Vec<u8>> {
        let fail = || Error::Decrypt {
            what,
            subject: subject.cloned(),
        };
        let body = &sealed.0[1..];
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| fail())?;
        self.0
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: context,
                },
            )
            .map_err(|_| fail())
    }
}

/// HMAC-SHA256 over length-prefixed parts.
pub(crate) fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| Error::Random)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> SealKey {
        SealKey::new(&[b; 32])
    }

    #[test]
    fn nonces_are_fresh_and_framing_is_checked() {
        let k = key(1);
        let a = k.seal(b"ctx", b"same").unwrap();
        let b = k.seal(b"ctx", b"same").unwrap();
        assert_ne!(a, b, "two seals of the same plaintext must differ");
        assert_eq!(a.plaintext_len(), 4);
        assert!(Sealed::from_bytes(vec![1; Sealed::OVERHEAD - 1]).is_err());
        assert!(Sealed::from_bytes(vec![2; 64]).is_err());
        assert!(Sealed::from_hex("zz").is_err());
        assert_eq!(
            format!("{a:?}"),
            format!("Sealed({} bytes)", a.as_bytes().len())
        );
    }

    #[test]
    fn contexts_do_not_collide() {
        assert_ne!(context("a", &[b"bc"]), context("ab", &[b"c"]));
        assert_ne!(context("a", &[b"", b"x"]), context("a", &[b"x", b""]));
    }

    proptest! {
        #[test]
        fn seal_open_round_trips(
            k in any::<[u8; 32]>(),
            ctx in proptest::collection::vec(any::<u8>(), 0..64),
            msg in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let key = SealKey::new(&k);
            let s = key.seal(&ctx, &msg).unwrap();
            prop_assert_eq!(s.plaintext_len(), msg.len());
            let back = Sealed::from_hex(&s.to_hex()).unwrap();
            prop_assert_eq!(key.open(&ctx, &back, "t", None).unwrap(), msg);
        }

        #[test]
        fn any_altered_bit_key_or_context_fails(
            k in any::<[u8; 32]>(),
            msg in proptest::collection::vec(any::<u8>(), 0..256),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = SealKey::new(&k);
            let s = key.seal(b"ctx", &msg).unwrap();
            // Flip one bit after the format byte (nonce, ciphertext or tag).
            let mut bytes = s.clone().into_bytes();
            let i = 1 + flip.index(bytes.len() - 1);
            bytes[i] ^= 1 << bit;
            let tampered = Sealed::from_bytes(bytes).unwrap();
            prop_assert!(key.open(b"ctx", &tampered, "t", None).is_err());
            prop_assert!(key.open(b"ctX", &s, "t", None).is_err());
            let mut other = k;
            other[0] ^= 1;
            prop_assert!(SealKey::new(&other).open(b"ctx", &s, "t", None).is_err());
        }

        #[test]
        fn framing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(s) = Sealed::from_bytes(bytes) {
                prop_assert!(key(3).open(b"", &s, "t", None).is_err());
            }
        }
    }
}
