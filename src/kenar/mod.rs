//! Divar's protocol as plain Rust types: what Divar sends us and what we send it.

pub mod client;
pub mod dynamic_action;
pub mod events;
pub mod ids;
pub mod launch;
pub mod message;
pub mod oauth;
pub mod side;

/// Why a body Divar sent cannot be used: one error for every parser of Divar's bodies. The
/// messages are short and never echo the input. (For events the caller still answers 2xx:
/// Divar retries a refused event forever; see `events::parse_event`.)
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not valid JSON")]
    NotJson,
    #[error("the body must be a JSON object")]
    NotObject,
    #[error("invalid field {field}: {why}")]
    Field { field: &'static str, why: &'static str },
}
