//! Secrets that cannot leak by accident: they never print, and comparing one with what a caller
//! presented takes the same time whatever the caller sent.

use std::fmt;

/// A configured secret. `Debug` and `Display` print a fixed placeholder, so a secret inside a
/// struct that is logged or formatted into an error never reaches the output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the few places that must send it (an API header, a form field).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Compares two byte strings in time that depends on neither their contents nor their
/// lengths: both are hashed to a fixed width first, then every byte is folded in.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let ha = hmac_sha256::Hash::hash(a);
    let hb = hmac_sha256::Hash::hash(b);
    let diff = ha.iter().zip(hb.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Divar's identification key, which Divar sends verbatim in `Authorization` on every call it
/// makes to us. During a rotation a second, next key is accepted as well.
#[derive(Clone, Debug)]
pub struct IdentificationKey {
    current: Secret,
    next: Option<Secret>,
}

impl IdentificationKey {
    pub fn new(current: Secret, next: Option<Secret>) -> Self {
        IdentificationKey { current, next }
    }

    /// True when `presented` (the raw header value, if any) matches a configured key. Both keys
    /// are always compared, so timing does not tell which one matched, or whether one is set.
    pub fn verify(&self, presented: Option<&str>) -> bool {
        let presented = presented.map(str::trim).unwrap_or("");
        let current = constant_time_eq(presented.as_bytes(), self.current.expose().as_bytes());
        let next = match &self.next {
            Some(next) => constant_time_eq(presented.as_bytes(), next.expose().as_bytes()),
            // Same work as a real comparison, with a result that can never count.
            None => {
                std::hint::black_box(constant_time_eq(presented.as_bytes(), self.current.expose().as_bytes()));
                false
            }
        };
        // A missing header must never match, even against a misconfigured empty key.
        !presented.is_empty() && (current | next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        let key = IdentificationKey::new(s.clone(), Some(s));
        assert!(!format!("{key:?}").contains("hunter2"));
    }

    #[test]
    fn compares_by_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn identification_key_accepts_current_and_next_only() {
        let key = IdentificationKey::new(
            Secret::new("current-key-0123456789"),
            Some(Secret::new("next-key-0123456789")),
        );
        assert!(key.verify(Some("current-key-0123456789")));
        assert!(key.verify(Some("next-key-0123456789")));
        assert!(key.verify(Some("  current-key-0123456789 ")));
        assert!(!key.verify(Some("current-key-012345678")));
        assert!(!key.verify(Some("Bearer current-key-0123456789")));
        assert!(!key.verify(Some("")));
        assert!(!key.verify(None));
    }

    #[test]
    fn no_next_key_means_only_current() {
        let key = IdentificationKey::new(Secret::new("current-key-0123456789"), None);
        assert!(key.verify(Some("current-key-0123456789")));
        assert!(!key.verify(Some("\0never-a-key")));
    }
}
