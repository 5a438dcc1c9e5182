//! JSON records sealed with AES-GCM before they reach KV, each bound to its own key.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::crypto::Sealer;
use crate::platform::{Kv, KvError};
use crate::ttl::Ttl;

pub async fn put<K: Kv, T: Serialize>(kv: &K, sealer: &Sealer, key: &str, value: &T, ttl: Ttl) -> Result<(), KvError> {
    let json = serde_json::to_vec(value).map_err(|e| KvError(e.to_string()))?;
    let sealed = sealer.seal(&json, key).map_err(|e| KvError(e.to_string()))?;
    kv.put(key, &sealed, ttl).await
}

/// None when absent, or when the record no longer opens (key rotated, tampered): either way
/// the person is asked again rather than shown an error.
pub async fn get<K: Kv, T: DeserializeOwned>(kv: &K, sealer: &Sealer, key: &str) -> Result<Option<T>, KvError> {
    let Some(sealed) = kv.get(key).await? else {
        return Ok(None);
    };
    Ok(sealer
        .open(&sealed, key)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok()))
}
