//! Deterministic fault injection: a rule applies to exactly `count` calls of one endpoint (or
//! to every call when no count is given), so a test can say "the next 2 sends get 429" and
//! rely on the third one succeeding.

use serde::{Deserialize, Serialize};

/// Endpoint names a fault can target.
pub const ENDPOINTS: &[&str] = &[
    "conversation_send",
    "bot_send",
    "bot_user_send",
    "subscriptions",
    "users",
    "conversation_get",
    "token",
    "authorize",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FaultSpec {
    pub endpoint: String,
    /// Answer with this HTTP status instead of running the endpoint.
    #[serde(default)]
    pub status: Option<u16>,
    /// Seconds for a `Retry-After` header on the faulted answer.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay before answering (or before the fault status).
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Never answer; the client has to time out.
    #[serde(default)]
    pub hang: bool,
    /// How many calls get the fault; absent = every call until cleared.
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Calls left to fault (None = unlimited).
    pub remaining: Option<u32>,
    pub hits: u32,
}

/// What happens to one call.
#[derive(Debug, Clone, Default)]
pub struct FaultAction {
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub latency_ms: u64,
    pub hang: bool,
    pub rule_id: u64,
}

impl FaultAction {
    pub fn describe(&self) -> String {
        if self.hang {
            return format!("rule {}: hang", self.rule_id);
        }
        let mut s = format!("rule {}:", self.rule_id);
        if self.latency_ms > 0 {
            s.push_str(&format!(" +{}ms", self.latency_ms));
        }
        if let Some(st) = self.status {
            s.push_str(&format!(" status {st}"));
        }
        s
    }
}

pub fn validate(spec: &FaultSpec) -> Result<(), String> {
    if !ENDPOINTS.contains(&spec.endpoint.as_str()) {
        return Err(format!(
            "unknown endpoint {:?}; known: {}",
            spec.endpoint,
            ENDPOINTS.join(", ")
        ));
    }
    if spec.status.is_none() && spec.latency_ms.is_none() && !spec.hang {
        return Err("a fault needs status, latency_ms or hang".into());
    }
    if let Some(s) = spec.status {
        if !(100..=599).contains(&s) {
            return Err("status must be 100..=599".into());
        }
    }
    if spec.count == Some(0) {
        return Err("count must be at least 1 (omit it for every call)".into());
    }
    Ok(())
}

/// Consume one use of the first matching rule, if any. Exhausted rules are removed.
pub fn take(rules: &mut Vec<FaultRule>, endpoint: &str) -> Option<FaultAction> {
    let idx = rules
        .iter()
        .position(|r| r.spec.endpoint == endpoint && r.remaining.is_none_or(|n| n > 0))?;
    let rule = &mut rules[idx];
    rule.hits += 1;
    if let Some(n) = rule.remaining.as_mut() {
        *n -= 1;
    }
    let action = FaultAction {
        status: rule.spec.status,
        retry_after: rule.spec.retry_after,
        latency_ms: rule.spec.latency_ms.unwrap_or(0),
        hang: rule.spec.hang,
        rule_id: rule.id,
    };
    if rule.remaining == Some(0) {
        rules.remove(idx);
    }
    Some(action)
}

/// grpc status code that grpc-gateway maps to the given HTTP status.
pub fn grpc_code_for(status: u16) -> i32 {
    match status {
        400 => 3,
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        412 => 9,
        429 => 8,
        499 => 1,
        501 => 12,
        503 => 14,
        504 => 4,
        500..=599 => 13,
        _ => 2,
    }
}
