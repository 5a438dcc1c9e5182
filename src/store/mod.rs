//! What the add-on keeps in Workers KV: what is read far more than written, with a TTL. The
//! launch sessions of large contexts, and OAuth states awaiting their callback. Everything that
//! must happen once lives in the Durable Objects (`objects`).

pub mod oauth_state;
pub mod sealed;
pub mod session;
