//! kenar-edge: a Divar Kenar chat add-on on Cloudflare Workers.
//!
//! Layers, top to bottom: `glue` (the only code that touches `worker::` types) → `routes` →
//! `flows` (what the add-on does) → `kenar` (Divar's protocol, pure) and `store` (KV records)
//! → `platform` (the traits the glue implements). See the README's design section.

pub mod config;
pub mod crypto;
pub mod error;
pub mod flows;
pub mod handle;
pub mod ids;
pub mod kenar;
pub mod platform;
pub mod routes;
pub mod secret;
pub mod store;
pub mod ttl;
pub mod visit;
pub mod web;

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
pub(crate) mod testkit;
