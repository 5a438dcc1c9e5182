//! The platform traits implemented over Workers KV, the JS clock and `ctx.wait_until`.

use worker::kv::KvStore;
use worker::Context;

use crate::platform::{Deferred, Kv, KvError, Platform};
use crate::ttl::Ttl;

#[derive(Clone)]
pub struct WorkerKv(KvStore);

impl Kv for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.0.get(key).text().await.map_err(|e| KvError(e.to_string()))
    }

    async fn put(&self, key: &str, value: &str, ttl: Ttl) -> Result<(), KvError> {
        self.0
            .put(key, value)
            .map_err(|e| KvError(e.to_string()))?
            .expiration_ttl(ttl.secs())
            .execute()
            .await
            .map_err(|e| KvError(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).await.map_err(|e| KvError(e.to_string()))
    }
}

pub struct WorkerPlatform {
    kv: WorkerKv,
    ctx: Context,
}

impl WorkerPlatform {
    pub fn new(kv: KvStore, ctx: Context) -> Self {
        WorkerPlatform { kv: WorkerKv(kv), ctx }
    }
}

impl Platform for WorkerPlatform {
    type Kv = WorkerKv;

    fn kv(&self) -> &WorkerKv {
        &self.kv
    }

    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn defer(&self, task: Deferred) {
        self.ctx.wait_until(task);
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }
}
