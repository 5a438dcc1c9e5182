//! kenar-edge: a Divar Kenar chat add-on on Cloudflare Workers.
//!
//! Layers, top to bottom: `glue` (the only code that touches `worker::` types) → `routes` →
//! `flows` (the doors: authenticate, parse, hand over) → `services` (visit scheduling, …: pure
//! rules, state, buttons) → `delivery` (outbox, retries, tokens) → `objects` (one writer per
//! conversation and per person), `store` (KV records) and `kenar` (Divar's protocol, pure) →
//! `platform` (the traits the glue implements). See the README's design section.

pub mod config;
pub mod crypto;
pub mod delivery;
pub mod error;
pub mod flows;
pub mod handle;
pub mod ids;
pub mod kenar;
pub mod objects;
pub mod platform;
pub mod routes;
pub mod secret;
pub mod services;
pub mod store;
pub mod ttl;
pub mod web;

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
