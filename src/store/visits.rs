//! The visit negotiation of each conversation, under a digest of the conversation id. The same
//! digest names the calendar file of the agreed visit, so its URL reveals no id.
//!
//! Both sides read and write this one record. KV allows one write per second per key and takes
//! up to a minute to show a write everywhere; people answer a proposal seconds or minutes after
//! it is made, and each answer first checks the proposal id it was made for, so a stale read
//! can at worst refuse an answer ("no longer open"), never confirm the wrong proposal.

use serde::{Deserialize, Serialize};

use crate::crypto::digest_hex;
use crate::platform::{Kv, KvError};
use crate::ttl::Ttl;
use crate::visit::model::Proposal;

pub const VISIT_TTL_SECS: u64 = 60 * 24 * 3600;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRecord {
    #[serde(default)]
    pub post_token: Option<String>,
    #[serde(default)]
    pub current: Option<Proposal>,
}

pub fn visit_key(conversation_id: &str) -> String {
    digest_hex(&["visit", conversation_id])
}

pub async fn load<K: Kv>(kv: &K, key: &str) -> Result<VisitRecord, KvError> {
    Ok(kv
        .get(&format!("visit:{key}"))
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default())
}

pub async fn save<K: Kv>(kv: &K, key: &str, record: &VisitRecord) -> Result<(), KvError> {
    let json = serde_json::to_string(record).map_err(|e| KvError(e.to_string()))?;
    let ttl = Ttl::from_secs(VISIT_TTL_SECS).map_err(|e| KvError(e.to_string()))?;
    kv.put(&format!("visit:{key}"), &json, ttl).await
}
