//! The few things the add-on needs from its host, as traits. The worker glue implements them
//! with Workers KV, `fetch` and the JS clock; native tests implement them in memory. Nothing
//! outside `glue` names a `worker::` type.

use std::future::Future;
use std::pin::Pin;

use crate::ttl::Ttl;

/// A future the host may run after the response has gone out (`ctx.wait_until` on Workers).
pub type Deferred = Pin<Box<dyn Future<Output = ()> + 'static>>;

#[derive(Debug, thiserror::Error)]
#[error("key-value store failed: {0}")]
pub struct KvError(pub String);

/// Workers KV as the app sees it: eventually consistent strings with a TTL. Single-threaded
/// wasm never needs `Send` futures, so plain `async fn` is the right shape here.
#[allow(async_fn_in_trait)]
pub trait Kv: Clone + 'static {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError>;
    async fn put(&self, key: &str, value: &str, ttl: Ttl) -> Result<(), KvError>;
    async fn delete(&self, key: &str) -> Result<(), KvError>;
}

/// Everything a request handler may touch besides its input.
pub trait Platform {
    type Kv: Kv;
    fn kv(&self) -> &Self::Kv;
    /// Milliseconds since the Unix epoch. `SystemTime::now()` panics on wasm32, hence this.
    fn now_ms(&self) -> u64;
    /// Runs `task` after the response is sent; the response never waits for it.
    fn defer(&self, task: Deferred);
    /// One line to the host's log. Callers pass no secrets, codes or tokens.
    fn log(&self, line: &str);
}

/// Fills `buf` from the platform's CSPRNG (the JS `crypto.getRandomValues` on wasm).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::getrandom(buf)
}
