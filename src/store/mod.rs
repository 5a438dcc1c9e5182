//! What the add-on keeps in KV, one module per kind of record, over the `Kv` trait.

pub mod session;
