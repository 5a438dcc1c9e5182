//! Launch sessions in KV, under `session:<id>` with the configured lifetime, sealed: the launch
//! context holds Divar's ids (the person's, the chat's), and KV never sees them in the clear.

use serde::{Deserialize, Serialize};

use crate::crypto::Sealer;
use crate::ids::SessionId;
use crate::kenar::launch::LaunchContext;
use crate::platform::{Kv, KvError};
use crate::store::sealed;
use crate::ttl::Ttl;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub context: LaunchContext,
    pub created_at_ms: u64,
}

pub struct SessionStore<'a, K: Kv> {
    kv: &'a K,
    sealer: Sealer,
}

fn key(id: SessionId) -> String {
    format!("session:{id}")
}

impl<'a, K: Kv> SessionStore<'a, K> {
    pub fn new(kv: &'a K, key: &[u8; 32]) -> Self {
        SessionStore {
            kv,
            sealer: Sealer::new(key),
        }
    }

    pub async fn put(&self, id: SessionId, record: &SessionRecord, ttl: Ttl) -> Result<(), KvError> {
        sealed::put(self.kv, &self.sealer, &key(id), record, ttl).await
    }

    /// None when absent or expired. A record that no longer opens or parses (an older format,
    /// a rotated key) counts as absent: the person relaunches from the chat rather than
    /// meeting an error.
    pub async fn get(&self, id: SessionId) -> Result<Option<SessionRecord>, KvError> {
        sealed::get(self.kv, &self.sealer, &key(id)).await
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
            let store = SessionStore::new(&kv, &crate::config::tests::dev_config().token_encryption_key);
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
            assert_eq!(
                SessionStore::new(&kv, &crate::config::tests::dev_config().token_encryption_key)
                    .get(id)
                    .await
                    .expect("get"),
                None
            );
        });
    }
}
