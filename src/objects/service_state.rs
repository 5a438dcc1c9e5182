//! Each service's state inside its conversation's object: one JSON document per service, with
//! a version that every change bumps. A step planned on version N is applied only on top of N.

use serde::de::DeserializeOwned;

use super::sql::{Sql, SqlValue, StoreError};
use crate::delivery::outbox::Effect;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS service_state (
    service TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
)"];

/// The service's state and its version; the default state at version 0 before the first change.
pub fn load<S: Sql, T: DeserializeOwned + Default>(s: &S, service: &str) -> Result<(i64, T), StoreError> {
    let Some(row) = s
        .exec(
            "SELECT version, state FROM service_state WHERE service = ?",
            &[service.into()],
        )?
        .into_iter()
        .next()
    else {
        return Ok((0, T::default()));
    };
    let mut it = row.into_iter();
    let version = it.next().and_then(|v| v.as_i64()).unwrap_or(0);
    let state = it.next().unwrap_or(SqlValue::Null);
    Ok((version, super::sql::from_json(&state)?))
}

/// Applies a step whose announcement reached the chat. `false` when the state moved on since
/// the step was planned (the per-service lock makes that a bug, so it is reported, not hidden).
pub fn apply<S: Sql>(s: &S, effect: &Effect, now_ms: u64) -> Result<bool, StoreError> {
    let current = s
        .scalar(
            "SELECT version FROM service_state WHERE service = ?",
            &[effect.service.as_str().into()],
        )?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    if current != effect.from_version {
        return Ok(false);
    }
    s.exec(
        "INSERT INTO service_state (service, version, state, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(service) DO UPDATE SET version = excluded.version, state = excluded.state,
         updated_at = excluded.updated_at",
        &[
            effect.service.as_str().into(),
            SqlValue::Int(current + 1),
            effect.state.as_str().into(),
            now_ms.into(),
        ],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::NativeSql;
    use serde_json::json;

    #[test]
    fn a_step_applies_only_on_the_version_it_was_planned_on() {
        let s = NativeSql::default();
        crate::objects::sql::migrate(&s, SCHEMA).expect("schema");
        assert_eq!(
            load::<_, serde_json::Value>(&s, "visit").expect("load"),
            (0, serde_json::Value::Null)
        );
        let step = |from, n| Effect {
            service: "visit".into(),
            from_version: from,
            state: json!({ "n": n }).to_string(),
        };
        assert!(apply(&s, &step(0, 1), 1).expect("apply"));
        assert!(!apply(&s, &step(0, 2), 2).expect("apply"), "planned on an old version");
        assert!(apply(&s, &step(1, 3), 3).expect("apply"));
        assert_eq!(
            load::<_, serde_json::Value>(&s, "visit").expect("load"),
            (2, json!({ "n": 3 }))
        );
    }
}
