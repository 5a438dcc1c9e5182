//! OAuth `state` values awaiting their callback: random, bound to the session that asked,
//! holding the PKCE verifier, single-use, and short-lived.
//!
//! Single use is enforced by deleting on first read. KV is eventually consistent, so a replay
//! that reaches another location within ~60 s may still find the record there; the code it
//! carries is single-use at Divar too, so such a replay cannot mint a second grant. A Durable
//! Object would make it strict.

use serde::{Deserialize, Serialize};

use crate::crypto::{digest_hex, Sealer};
use crate::delivery::PersonKey;
use crate::kenar::launch::LaunchContext;
use crate::platform::{Kv, KvError, Platform};
use crate::store::sealed;
use crate::ttl::Ttl;

/// Time to read the consent page and decide.
pub const STATE_TTL_SECS: u64 = 600;

/// What the permission is asked for, and so where the callback keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Posting into the launch's conversation from the page.
    #[default]
    Conversation,
    /// The seller's assistant on one post: every conversation of it, read and answered.
    Assistant { post_token: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub session_id: String,
    pub context: LaunchContext,
    /// Whose grant the callback stores.
    pub person: PersonKey,
    pub verifier: Option<String>,
    pub created_at_ms: u64,
    #[serde(default)]
    pub purpose: Purpose,
    /// When the session that asked expires (Unix seconds): the handle the callback hands back
    /// keeps it, so a consent round can never extend a session.
    #[serde(default)]
    pub session_expires_at_secs: u64,
}

fn key(state: &str) -> String {
    format!("oauth-state:{}", digest_hex(&["oauth-state", state]))
}

pub async fn save<K: Kv>(kv: &K, sealer: &Sealer, state: &str, pending: &PendingAuthorization) -> Result<(), KvError> {
    let ttl = Ttl::from_secs(STATE_TTL_SECS).map_err(|e| KvError(e.to_string()))?;
    sealed::put(kv, sealer, &key(state), pending, ttl).await
}

/// Returns the pending authorization and forgets it, so the same state never works twice.
///
/// KV takes one write a second per key, and a delete is a write: a callback in the same second
/// as its start (Divar's consent page redirects at once when consent is remembered) is refused
/// the delete. It waits out the second and tries once more; if KV still refuses, the callback
/// goes on, the state expiring on its own (the code it carried is single-use at Divar).
pub async fn take<P: Platform>(
    p: &P,
    sealer: &Sealer,
    state: &str,
    now_ms: u64,
) -> Result<Option<PendingAuthorization>, KvError> {
    let key = key(state);
    let found: Option<PendingAuthorization> = sealed::get(p.kv(), sealer, &key).await?;
    if found.is_some() && p.kv().delete(&key).await.is_err() {
        p.sleep_ms(1_100).await;
        if p.kv().delete(&key).await.is_err() {
            p.log("oauth: the used state could not be deleted from KV; it expires on its own");
        }
    }
    // KV may keep an entry up to a minute past its TTL; the record's own age is authoritative.
    Ok(found.filter(|p| now_ms.saturating_sub(p.created_at_ms) <= STATE_TTL_SECS * 1000))
}
