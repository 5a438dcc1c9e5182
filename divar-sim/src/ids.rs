//! Random identifiers shaped like Divar's, so the app's parsers see realistic values.

use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub fn alnum(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

pub fn post_token() -> String {
    alnum(8)
}

pub fn uuid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Divar gives each (user, app) pair a stable opaque id; hashing the phone with the slug
/// reproduces that "same person, different id per app" property.
pub fn obfuscated_user_id(app_slug: &str, phone: &str) -> String {
    let digest = Sha256::digest(format!("{app_slug}:{phone}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

pub fn phone() -> String {
    let n: u32 = rand::rng().random_range(0..10_000_000);
    format!("0912{n:07}")
}

pub fn token(prefix: &str) -> String {
    format!("{prefix}{}", alnum(43))
}

pub fn pkce_s256(verifier: &str) -> String {
    let digest = Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}
