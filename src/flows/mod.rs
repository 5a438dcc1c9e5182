//! What the add-on does, one module per flow. Each takes plain requests and the platform, and
//! answers plain responses.

pub mod divar_auth;
pub mod grants;
pub mod launch;
pub mod messaging;
pub mod oauth;
pub mod session;
pub mod visit;
