//! Fault injection on Divar's event deliveries to the app (the events URL). API.md §14 leaves
//! Divar's retry, ordering and duplicate behaviour open, so an app must survive all of them;
//! these rules make each one happen on demand, deterministically:
//!
//! - `duplicate`: the same envelope is POSTed `copies` times, one after the other;
//! - `concurrent`: `copies` identical POSTs are started at the same moment;
//! - `reorder`: the next `count` envelopes are held and then sent newest first;
//! - `delay`: the envelope is sent `delay_ms` late.
//!
//! A rule applies to the next `count` matching envelopes (optionally only of one `event_type`),
//! in order of creation, like the Kenar API faults in `faults.rs`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope types the simulator sends (API.md §8.3), which a rule may be limited to.
pub const EVENT_TYPES: &[&str] = &["NEW_MESSAGE", "NEW_CHATBOT_MESSAGE", "USER_ACCESS_REVOCATION"];

const MAX_COPIES: u32 = 20;
const MAX_DELAY_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventFaultMode {
    Duplicate,
    Concurrent,
    Reorder,
    Delay,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventFaultSpec {
    pub mode: EventFaultMode,
    /// How many envelopes the rule applies to. For `reorder` it is the size of the held batch
    /// (default 2); for the others absent means every matching envelope until cleared.
    #[serde(default)]
    pub count: Option<u32>,
    /// Only envelopes of this `type` (`NEW_MESSAGE`, `NEW_CHATBOT_MESSAGE`,
    /// `USER_ACCESS_REVOCATION`); absent = any.
    #[serde(default)]
    pub event_type: Option<String>,
    /// `duplicate` / `concurrent`: how many POSTs of the same envelope (default 2).
    #[serde(default)]
    pub copies: Option<u32>,
    /// Wait this long before sending (required for `delay`; allowed with every mode: before the
    /// first copy, or before a held batch is released).
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventFaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: EventFaultSpec,
    /// Envelopes left (None = unlimited).
    pub remaining: Option<u32>,
    pub hits: u32,
}

/// An envelope a `reorder` rule is holding back.
#[derive(Debug, Clone, Serialize)]
pub struct HeldEvent {
    pub event_id: u64,
    pub rule_id: u64,
    pub event_type: String,
    /// Its place in the batch (1-based, in arrival order) and the batch size.
    pub position: u32,
    pub batch: u32,
    pub body: Value,
    pub held_at_ms: u64,
}

/// What happens to one envelope.
#[derive(Debug, Clone)]
pub struct EventFaultAction {
    pub rule_id: u64,
    pub mode: EventFaultMode,
    pub copies: u32,
    pub delay_ms: u64,
    /// `reorder`: this envelope's place in the batch, the batch size, and whether it completes it.
    pub position: u32,
    pub batch: u32,
    pub release_now: bool,
}

/// Check a spec and fill in the defaults.
pub fn validate(mut spec: EventFaultSpec) -> Result<EventFaultSpec, String> {
    if let Some(t) = &spec.event_type {
        if !EVENT_TYPES.contains(&t.as_str()) {
            let hint = if t == "NEW_MESSAGE_ON_POST" {
                " (that is the subscription type; its envelopes are NEW_MESSAGE)"
            } else {
                ""
            };
            return Err(format!(
                "unknown event_type {t:?}{hint}; known: {}",
                EVENT_TYPES.join(", ")
            ));
        }
    }
    if spec.count == Some(0) {
        return Err("count must be at least 1 (omit it for every matching event)".into());
    }
    if spec.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
        return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
    }
    match spec.mode {
        EventFaultMode::Duplicate | EventFaultMode::Concurrent => {
            let k = spec.copies.unwrap_or(2);
            if !(2..=MAX_COPIES).contains(&k) {
                return Err(format!("copies must be 2..={MAX_COPIES}"));
            }
            spec.copies = Some(k);
        }
        EventFaultMode::Reorder => {
            if spec.copies.is_some() {
                return Err("copies is only for duplicate and concurrent".into());
            }
            let n = spec.count.unwrap_or(2);
            if n < 2 {
                return Err("reorder needs count >= 2 (the size of the batch to reverse)".into());
            }
            spec.count = Some(n);
        }
        EventFaultMode::Delay => {
            if spec.copies.is_some() {
                return Err("copies is only for duplicate and concurrent".into());
            }
            if spec.delay_ms.is_none() {
                return Err("delay needs delay_ms".into());
            }
        }
    }
    Ok(spec)
}

/// Consume one use of the first rule matching `event_type`, if any. Exhausted rules go.
pub fn take(rules: &mut Vec<EventFaultRule>, event_type: &str) -> Option<EventFaultAction> {
    let idx = rules.iter().position(|r| {
        r.spec.event_type.as_deref().is_none_or(|t| t == event_type) && r.remaining.is_none_or(|n| n > 0)
    })?;
    let rule = &mut rules[idx];
    rule.hits += 1;
    if let Some(n) = rule.remaining.as_mut() {
        *n -= 1;
    }
    let batch = rule.spec.count.unwrap_or(0);
    let action = EventFaultAction {
        rule_id: rule.id,
        mode: rule.spec.mode,
        copies: rule.spec.copies.unwrap_or(1),
        delay_ms: rule.spec.delay_ms.unwrap_or(0),
        position: rule.hits,
        batch,
        release_now: rule.spec.mode == EventFaultMode::Reorder && rule.remaining == Some(0),
    };
    if rule.remaining == Some(0) {
        rules.remove(idx);
    }
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: EventFaultMode) -> EventFaultSpec {
        EventFaultSpec {
            mode,
            count: None,
            event_type: None,
            copies: None,
            delay_ms: None,
        }
    }

    #[test]
    fn defaults_and_refusals() {
        let d = validate(spec(EventFaultMode::Duplicate)).unwrap();
        assert_eq!(d.copies, Some(2));
        let r = validate(spec(EventFaultMode::Reorder)).unwrap();
        assert_eq!(r.count, Some(2));
        assert!(validate(spec(EventFaultMode::Delay)).is_err(), "delay needs delay_ms");
        let mut bad = spec(EventFaultMode::Duplicate);
        bad.event_type = Some("NEW_MESSAGE_ON_POST".into());
        assert!(validate(bad).unwrap_err().contains("NEW_MESSAGE"));
        let mut one = spec(EventFaultMode::Reorder);
        one.count = Some(1);
        assert!(validate(one).is_err());
    }

    #[test]
    fn rules_apply_to_matching_types_in_order_and_expire() {
        let mut dup = validate(spec(EventFaultMode::Duplicate)).unwrap();
        dup.count = Some(1);
        dup.event_type = Some("NEW_CHATBOT_MESSAGE".into());
        let reorder = validate(spec(EventFaultMode::Reorder)).unwrap();
        let mut rules = vec![
            EventFaultRule {
                id: 1,
                remaining: dup.count,
                spec: dup,
                hits: 0,
            },
            EventFaultRule {
                id: 2,
                remaining: reorder.count,
                spec: reorder,
                hits: 0,
            },
        ];
        let a = take(&mut rules, "NEW_MESSAGE").unwrap();
        assert_eq!((a.rule_id, a.position, a.release_now), (2, 1, false));
        let a = take(&mut rules, "NEW_CHATBOT_MESSAGE").unwrap();
        assert_eq!((a.rule_id, a.copies), (1, 2));
        let a = take(&mut rules, "NEW_CHATBOT_MESSAGE").unwrap();
        assert_eq!((a.rule_id, a.position, a.batch, a.release_now), (2, 2, 2, true));
        assert!(rules.is_empty());
        assert!(take(&mut rules, "NEW_MESSAGE").is_none());
    }
}
