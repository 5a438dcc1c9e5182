//! The doors: Divar's calls (launch, dynamic action), the page's API and the OAuth client. A
//! flow authenticates, checks what came in, and hands over to a conversation's or a person's
//! object; flows never call each other's handlers.

pub mod assistant;
pub mod divar_auth;
pub mod dynamic_action;
pub mod events;
pub mod launch;
pub mod messaging;
pub mod oauth;
pub mod service_api;
pub mod session;
