//! Divar's protocol as plain Rust types: what Divar sends us and what we send it.

pub mod client;
pub mod dynamic_action;
pub mod events;
pub mod launch;
pub mod message;
pub mod oauth;
pub mod side;
