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

/// An outgoing HTTP call. Every call carries its own timeout: nothing we send may hang a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl OutResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::web::find_header(&self.headers, name)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("timed out")]
    Timeout,
    #[error("network error: {0}")]
    Network(String),
}

#[allow(async_fn_in_trait)]
pub trait Http: Clone + 'static {
    async fn send(&self, req: OutRequest) -> Result<OutResponse, HttpError>;
}

/// Workers KV as the app sees it: eventually consistent strings with a TTL. Single-threaded
/// wasm never needs `Send` futures, so plain `async fn` is the right shape here.
#[allow(async_fn_in_trait)]
pub trait Kv: Clone + 'static {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError>;
    async fn put(&self, key: &str, value: &str, ttl: Ttl) -> Result<(), KvError>;
    async fn delete(&self, key: &str) -> Result<(), KvError>;
}

/// The two kinds of Durable Object: one per conversation, one per person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectClass {
    Conversation,
    Person,
}

#[derive(Debug, thiserror::Error)]
#[error("object call failed: {0}")]
pub struct ObjectError(pub String);

/// Calls into Durable Objects by name. The answer is the object's own HTTP-shaped response,
/// which a flow can hand straight back to the page.
#[allow(async_fn_in_trait)]
pub trait Objects: Clone + 'static {
    async fn call(&self, class: ObjectClass, name: &str, command: String) -> Result<crate::web::Response, ObjectError>;
}

/// Everything a request handler may touch besides its input.
#[allow(async_fn_in_trait)]
pub trait Platform {
    type Kv: Kv;
    type Http: Http;
    type Objects: Objects;
    fn kv(&self) -> &Self::Kv;
    fn http(&self) -> &Self::Http;
    fn objects(&self) -> &Self::Objects;
    async fn sleep_ms(&self, ms: u64);
    /// Milliseconds since the Unix epoch. `SystemTime::now()` panics on wasm32, hence this.
    fn now_ms(&self) -> u64;
    /// Runs `task` after the response is sent; the response never waits for it.
    fn defer(&self, task: Deferred);
    /// One line to the host's log. Callers pass no secrets, codes or tokens.
    fn log(&self, line: &str);
    /// Whether one more request under `key` fits `limit` (the Workers rate-limiting binding).
    /// Hosts without one let everything through.
    async fn within_limit(&self, _limit: RateLimit, _key: &str) -> bool {
        true
    }
}

/// The rate limits a deployer configures in `wrangler.toml` (`[[ratelimits]]`): where abuse is
/// cheap for a caller and costly for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// The page's API and the public files, per client address.
    Page,
    /// Asking for consent (each writes a KV record), per session handle.
    OAuthStart,
}

impl RateLimit {
    /// The binding's name in `wrangler.toml`.
    pub fn binding(self) -> &'static str {
        match self {
            RateLimit::Page => "PAGE_RATE_LIMITER",
            RateLimit::OAuthStart => "OAUTH_RATE_LIMITER",
        }
    }
}

/// Fills `buf` from the platform's CSPRNG (the JS `crypto.getRandomValues` on wasm).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::getrandom(buf)
}
