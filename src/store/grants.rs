//! OAuth tokens, sealed at rest, one grant per person and conversation. The key is a digest of
//! the two ids, so KV key listings reveal neither.

use serde::{Deserialize, Serialize};

use crate::crypto::{digest_hex, Sealer};
use crate::ids::SessionId;
use crate::kenar::launch::LaunchContext;
use crate::platform::{Kv, KvError};
use crate::store::sealed;
use crate::ttl::Ttl;

/// Divar keeps a refresh token for 30 days.
pub const REFRESH_LIFETIME_SECS: u64 = 30 * 24 * 3600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at_ms: u64,
    pub scope: Option<String>,
}

impl Grant {
    /// Treated as expired a minute early, so a token never dies in flight.
    pub fn access_usable(&self, now_ms: u64) -> bool {
        now_ms + 60_000 < self.expires_at_ms
    }

    /// How long KV should keep it: as long as it can still be used or refreshed.
    fn ttl(&self, now_ms: u64) -> Ttl {
        let access_left = self.expires_at_ms.saturating_sub(now_ms) / 1000;
        let secs = if self.refresh_token.is_some() {
            REFRESH_LIFETIME_SECS
        } else {
            access_left
        };
        Ttl::at_least_floor(secs)
    }
}

/// Whose permission, for which conversation. Without a user id (Divar's v2 field is nullable)
/// the grant is bound to the launch session instead.
pub fn grant_key(context: &LaunchContext, session_id: SessionId) -> String {
    match &context.user_id {
        Some(user) => user_grant_key(user, context.conversation_id.as_deref().unwrap_or("")),
        None => digest_hex(&[
            "grant",
            &format!("session:{session_id}"),
            context.conversation_id.as_deref().unwrap_or(""),
        ]),
    }
}

/// The grant of a known user in a conversation, as a one-tap answer (which has no session) finds it.
pub fn user_grant_key(user_id: &str, conversation_id: &str) -> String {
    digest_hex(&["grant", &format!("user:{user_id}"), conversation_id])
}

fn key(grant_key: &str) -> String {
    format!("grant:{grant_key}")
}

pub async fn save<K: Kv>(kv: &K, sealer: &Sealer, grant_key: &str, grant: &Grant, now_ms: u64) -> Result<(), KvError> {
    sealed::put(kv, sealer, &key(grant_key), grant, grant.ttl(now_ms)).await
}

pub async fn load<K: Kv>(kv: &K, sealer: &Sealer, grant_key: &str) -> Result<Option<Grant>, KvError> {
    sealed::get(kv, sealer, &key(grant_key)).await
}

pub async fn forget<K: Kv>(kv: &K, grant_key: &str) -> Result<(), KvError> {
    kv.delete(&key(grant_key)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kenar::launch::parse_launch;
    use crate::testkit::MemKv;

    #[test]
    fn grants_are_sealed_and_live_as_long_as_they_are_useful() {
        pollster::block_on(async {
            let kv = MemKv::default();
            let sealer = Sealer::new(&[3u8; 32]);
            let with_refresh = Grant {
                access_token: "ory_at_A".into(),
                refresh_token: Some("ory_rt_R".into()),
                expires_at_ms: 3_600_000,
                scope: None,
            };
            save(&kv, &sealer, "g1", &with_refresh, 0).await.expect("save");
            let raw = kv.get("grant:g1").await.expect("kv").expect("present");
            assert!(!raw.contains("ory_"), "tokens are never stored in the clear");
            assert_eq!(kv.ttl_of("grant:g1"), Some(REFRESH_LIFETIME_SECS));
            assert_eq!(load(&kv, &sealer, "g1").await.expect("load"), Some(with_refresh));
            assert_eq!(load(&kv, &Sealer::new(&[4u8; 32]), "g1").await.expect("load"), None);

            let access_only = Grant {
                access_token: "a".into(),
                refresh_token: None,
                expires_at_ms: 3_600_000,
                scope: None,
            };
            save(&kv, &sealer, "g2", &access_only, 0).await.expect("save");
            assert_eq!(kv.ttl_of("grant:g2"), Some(3600));
            forget(&kv, "g2").await.expect("forget");
            assert_eq!(load(&kv, &sealer, "g2").await.expect("load"), None);
        });
    }

    #[test]
    fn grant_keys_separate_people_and_conversations() {
        let sid = SessionId::random().expect("rng");
        let ctx = |u: Option<&str>, c: &str| {
            let mut ctx =
                parse_launch(format!(r#"{{"source":"CHAT","conversation_id":"{c}"}}"#).as_bytes()).expect("ctx");
            ctx.user_id = u.map(str::to_string);
            ctx
        };
        let a = grant_key(&ctx(Some("u1"), "c1"), sid);
        assert_eq!(
            a,
            grant_key(&ctx(Some("u1"), "c1"), SessionId::random().expect("rng")),
            "stable across launches"
        );
        assert_ne!(a, grant_key(&ctx(Some("u2"), "c1"), sid));
        assert_ne!(a, grant_key(&ctx(Some("u1"), "c2"), sid));
        assert!(!a.contains("u1"));
        assert_ne!(
            grant_key(&ctx(None, "c1"), sid),
            grant_key(&ctx(None, "c1"), SessionId::random().expect("rng"))
        );
    }

    #[test]
    fn access_counts_as_expired_a_minute_early() {
        let g = Grant {
            access_token: "a".into(),
            refresh_token: None,
            expires_at_ms: 100_000,
            scope: None,
        };
        assert!(g.access_usable(39_999));
        assert!(!g.access_usable(40_000));
    }
}
