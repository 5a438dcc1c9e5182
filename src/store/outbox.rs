//! What people asked us to post, kept before the first send and until it is delivered.
//!
//! Each item is written once (`outbox:<session>:<id>`). Its delivery state lives under another
//! key (`outbox-state:…`), so writing the state right after the item never hits KV's limit of
//! one write per second per key. Items still waiting for a retry are marked under
//! `outbox-due:…`, which is all the cron sweep lists.

use serde::{Deserialize, Serialize};

use crate::kenar::message::ConversationMessage;
use crate::platform::{Kv, KvError};
use crate::ttl::Ttl;

/// How long an item and its state are kept: long enough to retry through a day-long outage.
pub const OUTBOX_TTL_SECS: u64 = 7 * 24 * 3600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub session_id: String,
    pub grant_key: String,
    pub conversation_id: String,
    /// What the person wrote, for showing back to them.
    pub text: String,
    pub message: ConversationMessage,
    pub created_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Written, not yet tried.
    Pending,
    Sent,
    /// A transient failure; the sweep tries again at `next_attempt_at_ms`.
    Waiting,
    /// The person must grant (again) before it can go.
    NeedsConsent,
    /// Will never go; `reason` says why.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub state: DeliveryState,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub attempts: u32,
    pub next_attempt_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Delivery {
    pub fn pending(now_ms: u64) -> Self {
        Delivery {
            state: DeliveryState::Pending,
            reason: None,
            attempts: 0,
            next_attempt_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// Sent and failed items are never tried again.
    pub fn is_final(&self) -> bool {
        matches!(self.state, DeliveryState::Sent | DeliveryState::Failed)
    }
}

fn ttl() -> Result<Ttl, KvError> {
    Ttl::from_secs(OUTBOX_TTL_SECS).map_err(|e| KvError(e.to_string()))
}

fn item_key(session_id: &str, id: &str) -> String {
    format!("outbox:{session_id}:{id}")
}
fn state_key(session_id: &str, id: &str) -> String {
    format!("outbox-state:{session_id}:{id}")
}
const DUE_PREFIX: &str = "outbox-due:";
fn due_key(session_id: &str, id: &str) -> String {
    format!("{DUE_PREFIX}{session_id}:{id}")
}

pub async fn put_item<K: Kv>(kv: &K, item: &OutboxItem) -> Result<(), KvError> {
    let json = serde_json::to_string(item).map_err(|e| KvError(e.to_string()))?;
    kv.put(&item_key(&item.session_id, &item.id), &json, ttl()?).await
}

pub async fn get_item<K: Kv>(kv: &K, session_id: &str, id: &str) -> Result<Option<OutboxItem>, KvError> {
    Ok(kv
        .get(&item_key(session_id, id))
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok()))
}

/// The delivery state, `Pending` when none was written yet.
pub async fn get_state<K: Kv>(kv: &K, item: &OutboxItem) -> Result<Delivery, KvError> {
    Ok(kv
        .get(&state_key(&item.session_id, &item.id))
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_else(|| Delivery::pending(item.created_at_ms)))
}

/// Records a delivery state and keeps the due marker in step with it.
pub async fn set_state<K: Kv>(kv: &K, item: &OutboxItem, delivery: &Delivery, was_due: bool) -> Result<(), KvError> {
    let json = serde_json::to_string(delivery).map_err(|e| KvError(e.to_string()))?;
    kv.put(&state_key(&item.session_id, &item.id), &json, ttl()?).await?;
    let due = delivery.state == DeliveryState::Waiting;
    if due && !was_due {
        kv.put(&due_key(&item.session_id, &item.id), "", ttl()?).await?;
    } else if !due && was_due {
        kv.delete(&due_key(&item.session_id, &item.id)).await?;
    }
    Ok(())
}

/// The items of one session, newest last.
pub async fn list_session<K: Kv>(kv: &K, session_id: &str, limit: usize) -> Result<Vec<OutboxItem>, KvError> {
    let mut items = Vec::new();
    for key in kv.list(&item_key(session_id, ""), limit).await? {
        if let Some(item) = kv
            .get(&key)
            .await?
            .and_then(|raw| serde_json::from_str::<OutboxItem>(&raw).ok())
        {
            items.push(item);
        }
    }
    items.sort_by_key(|i| i.created_at_ms);
    Ok(items)
}

/// (session id, item id) of items marked due.
pub async fn list_due<K: Kv>(kv: &K, limit: usize) -> Result<Vec<(String, String)>, KvError> {
    Ok(kv
        .list(DUE_PREFIX, limit)
        .await?
        .into_iter()
        .filter_map(|k| {
            let rest = k.strip_prefix(DUE_PREFIX)?;
            let (sid, id) = rest.split_once(':')?;
            Some((sid.to_string(), id.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kenar::message::ButtonGrid;
    use crate::testkit::MemKv;

    fn item(id: &str, at: u64) -> OutboxItem {
        OutboxItem {
            id: id.into(),
            session_id: "s1".into(),
            grant_key: "g".into(),
            conversation_id: "c".into(),
            text: "t".into(),
            message: ConversationMessage {
                message: "t".into(),
                sender_buttons: ButtonGrid::default(),
                receiver_buttons: ButtonGrid::default(),
            },
            created_at_ms: at,
        }
    }

    #[test]
    fn due_markers_follow_the_state() {
        pollster::block_on(async {
            let kv = MemKv::default();
            let it = item("i1", 5);
            put_item(&kv, &it).await.expect("put");
            assert_eq!(get_state(&kv, &it).await.expect("state"), Delivery::pending(5));
            let waiting = Delivery {
                state: DeliveryState::Waiting,
                reason: Some("http 500".into()),
                attempts: 1,
                next_attempt_at_ms: 9,
                updated_at_ms: 6,
            };
            set_state(&kv, &it, &waiting, false).await.expect("set");
            assert_eq!(
                list_due(&kv, 10).await.expect("due"),
                vec![("s1".to_string(), "i1".to_string())]
            );
            let sent = Delivery {
                state: DeliveryState::Sent,
                reason: None,
                attempts: 2,
                next_attempt_at_ms: 0,
                updated_at_ms: 7,
            };
            set_state(&kv, &it, &sent, true).await.expect("set");
            assert!(list_due(&kv, 10).await.expect("due").is_empty());
            assert!(get_state(&kv, &it).await.expect("state").is_final());
        });
    }

    #[test]
    fn lists_a_sessions_items_in_order() {
        pollster::block_on(async {
            let kv = MemKv::default();
            put_item(&kv, &item("b", 2)).await.expect("put");
            put_item(&kv, &item("a", 1)).await.expect("put");
            let mut other = item("z", 0);
            other.session_id = "s2".into();
            put_item(&kv, &other).await.expect("put");
            let ids: Vec<String> = list_session(&kv, "s1", 10)
                .await
                .expect("list")
                .into_iter()
                .map(|i| i.id)
                .collect();
            assert_eq!(ids, vec!["a", "b"]);
        });
    }
}
