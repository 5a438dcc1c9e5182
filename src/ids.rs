//! Identifiers that must be unguessable. A `SessionId` can only be made from the CSPRNG or
//! parsed back from its exact printed form, so no code path can mint a predictable one.

use std::fmt;

use crate::platform::random_bytes;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

#[derive(Debug, thiserror::Error)]
#[error("the random source failed")]
pub struct RandomFailed;

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, RandomFailed> {
    let mut buf = vec![0u8; n];
    random_bytes(&mut buf).map_err(|_| RandomFailed)?;
    Ok(hex(&buf))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SessionId {
    /// 128 random bits.
    pub fn random() -> Result<Self, RandomFailed> {
        let mut id = [0u8; 16];
        random_bytes(&mut id).map_err(|_| RandomFailed)?;
        Ok(SessionId(id))
    }

    /// Accepts exactly the form `Display` prints: 32 lowercase hex digits.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 32 || !raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(raw.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SessionId(id))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to correlate log lines, not enough to use.
        write!(f, "SessionId({}…)", &hex(&self.0[..3]))
    }
}

/// A client's idempotency key: 8 to 64 letters, digits, `-` or `_`, checked once at the door.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, crate::error::AppError> {
        if !(8..=64).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(crate::error::AppError::InvalidField {
                field: "idempotency_key".into(),
                why: "must be 8 to 64 letters, digits, '-' or '_'".into(),
            });
        }
        Ok(IdempotencyKey(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_distinct_and_round_trip() {
        let a = SessionId::random().expect("rng");
        let b = SessionId::random().expect("rng");
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(SessionId::parse(&a.to_string()), Some(a));
    }

    #[test]
    fn parse_accepts_only_the_printed_form() {
        for bad in [
            "",
            "abc",
            &"g".repeat(32),
            &"A".repeat(32),
            &"0".repeat(33),
            "../../../etc/passwd0000000000000",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad}");
        }
        assert!(SessionId::parse(&"0a".repeat(16)).is_some());
    }

    #[test]
    fn debug_does_not_print_the_whole_id() {
        let id = SessionId::random().expect("rng");
        assert!(!format!("{id:?}").contains(&id.to_string()));
    }
}
