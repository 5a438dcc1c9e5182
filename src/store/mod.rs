//! What the add-on keeps in KV, one module per kind of record, over the `Kv` trait.

pub mod grants;
pub mod oauth_state;
pub mod outbox;
pub mod sealed;
pub mod session;
pub mod visits;
