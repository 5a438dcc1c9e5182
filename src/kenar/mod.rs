//! Divar's protocol as plain Rust types: what Divar sends us and what we send it. Pure: no I/O.

pub mod launch;
pub mod side;
