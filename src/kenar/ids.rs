//! Divar's identifiers, validated once where they come in (session-init, dynamic-action and
//! event bodies) and carried as types from then on, so none can put a space, a dot or a
//! slash into a scope, a storage key or a URL. Lengths and charsets follow API.md's field
//! tables and every example there: conversation ids are UUIDs, post tokens eight letters and
//! digits, user ids per-app base64.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Letters, digits, `-` and `_`.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Plain, and base64's `+`, `/` and `=`.
fn base64(b: u8) -> bool {
    plain(b) || matches!(b, b'+' | b'/' | b'=')
}

macro_rules! divar_id {
    ($(#[$doc:meta])* $name:ident, $max:expr, $charset:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            /// The identifier, if `raw` (trimmed) is one.
            pub fn parse(raw: &str) -> Option<Self> {
                let raw = raw.trim();
                let ok = (1..=Self::MAX_LEN).contains(&raw.len()) && raw.bytes().all($charset);
                ok.then(|| $name(raw.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                $name::parse(&raw).ok_or_else(|| format!("not a valid {}", stringify!($name)))
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        /// Tests write ids as literals.
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                $name::parse(raw).expect("a valid identifier in a test")
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

divar_id!(
    /// A chat's id: a UUID at Divar (`edbb9499-cccc-4d35-b21f-621fa95f2b3e`).
    ConversationId,
    64,
    plain
);
divar_id!(
    /// A post's token (`gZd7omnS`).
    PostToken,
    32,
    plain
);
divar_id!(
    /// A person's per-app id (`6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI=`).
    UserId,
    128,
    base64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divars_examples_are_ids() {
        assert!(ConversationId::parse("edbb9499-cccc-4d35-b21f-621fa95f2b3e").is_some());
        assert!(PostToken::parse("gZd7omnS").is_some());
        assert!(UserId::parse("6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI=").is_some());
        assert!(UserId::parse("w6kJA7Lh39V7EgVXeWnSZ7sPvloM/ldxEJdNTdUwETo=").is_some());
        assert_eq!(
            PostToken::parse("  gZd7omnS ").map(|p| p.to_string()),
            Some("gZd7omnS".into())
        );
    }

    #[test]
    fn nothing_that_could_change_a_scope_key_or_url_gets_in() {
        for bad in [
            "c1 USER_PHONE",
            "c1.USER_PHONE",
            "c1/../x",
            "c1%20x",
            "c1?x=1",
            "c1#x",
            "c1\nx",
            "",
            "   ",
            "ک۱",
            "c1\u{202E}",
        ] {
            assert_eq!(ConversationId::parse(bad), None, "{bad:?}");
            assert_eq!(PostToken::parse(bad), None, "{bad:?}");
        }
        assert_eq!(UserId::parse("u 1"), None);
        assert_eq!(ConversationId::parse(&"a".repeat(65)), None);
        assert_eq!(PostToken::parse(&"a".repeat(33)), None);
        assert!(ConversationId::parse(&"a".repeat(64)).is_some());
        assert_eq!(PostToken::parse("ab/c"), None, "a slash is for user ids only");
    }

    #[test]
    fn stored_values_are_checked_again_when_read() {
        assert!(serde_json::from_str::<ConversationId>("\"conv-1\"").is_ok());
        assert!(serde_json::from_str::<ConversationId>("\"conv 1\"").is_err());
        assert_eq!(
            serde_json::to_string(&PostToken::parse("gZd7omnS")).expect("json"),
            "\"gZd7omnS\""
        );
    }
}
