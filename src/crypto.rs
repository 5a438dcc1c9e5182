//! The small cryptographic pieces the OAuth client needs: PKCE S256, URL-safe base64, and
//! authenticated encryption of tokens at rest (AES-256-GCM, a fresh 96-bit nonce per seal).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ct_codecs::{Base64UrlSafeNoPadding, Decoder, Encoder};

use crate::ids::{hex, RandomFailed};
use crate::platform::random_bytes;

pub fn b64url(bytes: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap_or_default()
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlSafeNoPadding::decode_to_vec(text, None).ok()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    hmac_sha256::Hash::hash(bytes)
}

/// A stable, non-reversible name for something we must not write into a KV key in the clear.
pub fn digest_hex(parts: &[&str]) -> String {
    let mut h = hmac_sha256::Hash::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// A PKCE pair (RFC 7636): the verifier stays server-side, the S256 challenge goes to Divar.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn generate() -> Result<Self, RandomFailed> {
        let mut raw = [0u8; 32];
        random_bytes(&mut raw).map_err(|_| RandomFailed)?;
        let verifier = b64url(&raw);
        Ok(Pkce {
            challenge: challenge_for(&verifier),
            verifier,
        })
    }
}

pub fn challenge_for(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// Seals and opens secrets stored in KV. The associated data binds a ciphertext to the key it
/// is stored under, so a record copied to another key does not open.
pub struct Sealer {
    cipher: Aes256Gcm,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("encryption failed")]
    Seal,
    #[error("the sealed value is corrupt, tampered with, or under another key")]
    Open,
}

const NONCE_LEN: usize = 12;

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key always fits AES-256.
        Sealer {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    pub fn seal(&self, plaintext: &[u8], bound_to: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce).map_err(|_| SealError::Seal)?;
        let payload = aes_gcm::aead::Payload {
            msg: plaintext,
            aad: bound_to.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(b64url(&out))
    }

    pub fn open(&self, sealed: &str, bound_to: &str) -> Result<Vec<u8>, SealError> {
        let raw = b64url_decode(sealed).ok_or(SealError::Open)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SealError::Open);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        let payload = aes_gcm::aead::Payload {
            msg: body,
            aad: bound_to.as_bytes(),
        };
        self.cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_the_rfc_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = Pkce::generate().expect("rng");
        let b = Pkce::generate().expect("rng");
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(challenge_for(&a.verifier), a.challenge);
    }

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal(b"ory_at_secret", "grant:abc").expect("seal");
        assert!(!sealed.contains("ory_at"));
        assert_eq!(sealer.open(&sealed, "grant:abc").expect("open"), b"ory_at_secret");
        assert_eq!(sealer.open(&sealed, "grant:other"), Err(SealError::Open));
        assert_eq!(Sealer::new(&[8u8; 32]).open(&sealed, "grant:abc"), Err(SealError::Open));
        let mut raw = b64url_decode(&sealed).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(sealer.open(&b64url(&raw), "grant:abc"), Err(SealError::Open));
        assert_eq!(sealer.open("short", "grant:abc"), Err(SealError::Open));
        assert_ne!(
            sealer.seal(b"x", "k").expect("seal"),
            sealer.seal(b"x", "k").expect("seal"),
            "fresh nonce"
        );
    }

    #[test]
    fn digests_separate_their_parts() {
        assert_ne!(digest_hex(&["ab", "c"]), digest_hex(&["a", "bc"]));
        assert_eq!(digest_hex(&["a"]).len(), 64);
    }
}
