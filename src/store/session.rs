//! Launch sessions in KV, under `session:<id>` with the configured lifetime.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::kenar::launch::LaunchContext;
use crate::platform::{Kv, KvError};
use crate::ttl::Ttl;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub context: LaunchContext,
    pub created_at_ms: u64,
}

pub struct SessionStore<'a, K: Kv> {
    kv: &'a K,
}

fn key(id: SessionId) -> String {
    format!("session:{id}")
}

impl<'a, K: Kv> SessionStore<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        SessionStore { kv }
    }

    pub async fn put(&self, id: SessionId, record: &SessionRecord, ttl: Ttl) -> Result<(), KvError> {
        let value = serde_json::to_string(record).map_err(|e| KvError(e.to_string()))?;
        self.kv.put(&key(id), &value, ttl).await
    }

    /// None when absent or expired. A record that no longer parses (an older format) counts as
    /// absent: the person relaunches from the chat rather than meeting an error.
    pub async fn get(&self, id: SessionId) -> Result<Option<SessionRecord>, KvError> {
        Ok(self
            .kv
            .get(&key(id))
            .await?
            .and_then(|raw| serde_json::from_slice(raw.as_bytes()).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kenar::launch::parse_launch;
    use crate::testkit::MemKv;

    #[test]
    fn stores_and_expires_sessions() {
        pollster::block_on(async {
            let kv = MemKv::default();
            let store = SessionStore::new(&kv);
            let id = SessionId::random().expect("rng");
            let context = parse_launch(br#"{"source":"CHAT","conversation_id":"c"}"#).expect("ctx");
            let record = SessionRecord {
                context,
                created_at_ms: 5,
            };
            store
                .put(id, &record, Ttl::from_secs(60).expect("ttl"))
                .await
                .expect("put");
            assert_eq!(store.get(id).await.expect("get"), Some(record));
            assert_eq!(kv.ttl_of(&format!("session:{id}")), Some(60));
            kv.advance_secs(61);
            assert_eq!(store.get(id).await.expect("get"), None);
        });
    }

    #[test]
    fn unreadable_records_count_as_absent() {
        pollster::block_on(async {
            let kv = MemKv::default();
            let id = SessionId::random().expect("rng");
            kv.put(
                &format!("session:{id}"),
                "{\"old\":1}",
                Ttl::from_secs(60).expect("ttl"),
            )
            .await
            .expect("put");
            assert_eq!(SessionStore::new(&kv).get(id).await.expect("get"), None);
        });
    }
}
