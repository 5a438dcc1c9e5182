//! Drains a conversation's outbox: one lane (sender) at a time, head first, one attempt per
//! item per run. What fails for a while waits with exponential backoff for the object's alarm;
//! what can never go (412 code 9, a refused message, the attempt budget spent) fails for good;
//! what needs the person's permission waits for it. Divar's send takes no idempotency key, so
//! a send that times out after Divar accepted it can show twice: the only duplicate left, and
//! the README says where to change that trade.

use super::outbox::{self, DeliveryState, Effect, Item, Outcome};
use super::tokens::TokenStatus;
use super::{Destination, GrantFor, Payload, PersonKey};
use crate::config::Config;
use crate::kenar::client::{self, KenarClient, SendError};
use crate::kenar::message::ConversationMessage;
use crate::objects::person;
use crate::objects::sql::{Sql, StoreError};
use crate::objects::ObjectHost;

/// After this many attempts an item is given up on and the person told so.
pub const MAX_ATTEMPTS: u32 = 12;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_MS: u64 = 30 * 60 * 1000;
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER_MS: u64 = 24 * 3600 * 1000;
/// Items one run sends at most: Workers Free allows 50 subrequests per invocation, and an item
/// costs a token call and up to three sends.
pub const PER_RUN: usize = 10;

/// How long a claimed item is ours: every call an attempt may make, with room to spare. A
/// claim that outlives it (the object was evicted mid-send) is taken over by the alarm.
pub fn lease_ms(cfg: &Config) -> u64 {
    let call = u64::from(cfg.api_timeout_ms);
    // Token refresh (two calls) + sends (three calls, two inline waits) + a resend after a refresh.
    2 * call + (client::MAX_ATTEMPTS as u64) * call + 2 * client::MAX_INLINE_WAIT_MS + call + 1_000
}

/// Waiting with exponential backoff from the configured base (30 s by default), or Divar's own
/// `Retry-After` when longer; failed once the attempt budget is spent.
pub fn retry_later(cfg: &Config, attempts: u32, now_ms: u64, retry_after_secs: Option<u64>) -> Outcome {
    if attempts >= MAX_ATTEMPTS {
        return Outcome {
            state: DeliveryState::Failed,
            reason: Some("divar_unavailable".into()),
            next_at_ms: 0,
        };
    }
    let backoff = (cfg.retry_base_ms << attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF_MS);
    // Divar's `Retry-After` is honoured up to a day: a larger number is not a plan.
    let asked = retry_after_secs
        .unwrap_or(0)
        .saturating_mul(1000)
        .min(MAX_RETRY_AFTER_MS);
    let wait = backoff.max(asked);
    Outcome {
        state: DeliveryState::Waiting,
        reason: Some("divar_unavailable".into()),
        next_at_ms: now_ms.saturating_add(wait),
    }
}

fn settled(state: DeliveryState, reason: &str) -> Outcome {
    Outcome {
        state,
        reason: Some(reason.into()),
        next_at_ms: 0,
    }
}

/// One attempt at one item.
pub async fn attempt<H: ObjectHost>(h: &H, cfg: &Config, item: &Item) -> Outcome {
    let attempts = item.attempts + 1;
    let client = KenarClient {
        platform: h,
        api_base: cfg.kenar_api_base.as_str(),
        api_key: cfg.api_key.expose(),
        timeout_ms: cfg.api_timeout_ms,
    };
    let stamped = item.effect.as_ref().map(|e| e.stamp(&item.payload));
    let payload = stamped.as_ref().unwrap_or(&item.payload);
    let result = match (&item.dest, payload) {
        (
            Destination::User {
                conversation_id,
                person: who,
            },
            Payload::Conversation(message),
        ) => {
            let grant = GrantFor::Conversation(conversation_id.clone());
            match send_as(h, &client, who, &grant, conversation_id, message).await {
                Ok(sent) => sent,
                Err(TokenStatus::ConsentNeeded) => return settled(DeliveryState::NeedsConsent, "permission_needed"),
                Err(_) => return retry_later(cfg, attempts, h.now_ms(), None),
            }
        }
        (
            Destination::Poster {
                conversation_id,
                person: who,
                post_token,
            },
            Payload::Conversation(message),
        ) => {
            let grant = GrantFor::Post(post_token.clone());
            match send_as(h, &client, who, &grant, conversation_id, message).await {
                // Nobody comes back to consent for an automatic reply: without the seller's
                // grant it can never go.
                Ok(Err(SendError::PermissionRejected | SendError::TokenRejected)) | Err(TokenStatus::ConsentNeeded) => {
                    return settled(DeliveryState::Failed, "assistant_permission_lost")
                }
                Ok(sent) => sent,
                Err(_) => return retry_later(cfg, attempts, h.now_ms(), None),
            }
        }
        (Destination::Bot { conversation_id }, Payload::Bot(message)) => {
            client.send_bot_message(conversation_id, message).await
        }
        _ => Err(SendError::Rejected("the message does not fit its destination".into())),
    };
    match result {
        Ok(()) => Outcome {
            state: DeliveryState::Sent,
            reason: None,
            next_at_ms: 0,
        },
        Err(SendError::RecipientRestricted) => settled(DeliveryState::Failed, "recipient_restricted"),
        Err(SendError::PermissionRejected | SendError::TokenRejected) => {
            settled(DeliveryState::NeedsConsent, "permission_revoked")
        }
        Err(SendError::Rejected(_)) => settled(DeliveryState::Failed, "rejected_by_divar"),
        // Counted from the end of the attempt: three hung calls must not eat the wait.
        Err(SendError::Transient { retry_after_secs, .. }) => retry_later(cfg, attempts, h.now_ms(), retry_after_secs),
    }
}

/// Posts `message` on `who`'s behalf with their grant `grant`: one refresh and one more try if
/// Divar drops the token early; a grant Divar refuses for good is dropped. `Err` when no token
/// could be had at all.
async fn send_as<H: ObjectHost>(
    h: &H,
    client: &KenarClient<'_, H>,
    who: &PersonKey,
    grant: &GrantFor,
    conversation_id: &str,
    message: &ConversationMessage,
) -> Result<Result<(), SendError>, TokenStatus> {
    let token = match person::token(h.objects(), who, grant, None).await {
        TokenStatus::Ready(token) => token,
        other => return Err(other),
    };
    let mut used = token;
    let mut result = client.send_conversation_message(conversation_id, &used, message).await;
    if result == Err(SendError::TokenRejected) {
        // Divar dropped the token before its stated expiry: one refresh, one more try.
        result = match person::token(h.objects(), who, grant, Some(&used)).await {
            TokenStatus::Ready(fresh) => {
                used = fresh;
                client.send_conversation_message(conversation_id, &used, message).await
            }
            TokenStatus::ConsentNeeded => Err(SendError::PermissionRejected),
            TokenStatus::Unavailable(_) => Err(SendError::Transient {
                reason: "token refresh failed".into(),
                retry_after_secs: None,
            }),
        };
    }
    if matches!(result, Err(SendError::PermissionRejected | SendError::TokenRejected)) {
        if let Err(e) = person::forget(h.objects(), who, grant, &used).await {
            h.log(&format!("outbox: could not drop a refused grant: {e}"));
        }
    }
    Ok(result)
}

/// Sends what `lane` has ready, in order, until it is empty, blocked, or the run's budget is
/// spent. `settle` applies the effect of each item that reached the chat, inside the same
/// transaction that records it as sent.
pub async fn pump<H: ObjectHost>(
    h: &H,
    cfg: &Config,
    lane: &str,
    settle: &impl Fn(&H::Sql, &Effect, &Destination, u64) -> Result<(), StoreError>,
) -> Result<usize, StoreError> {
    let lease = lease_ms(cfg);
    let mut tried = 0;
    while tried < PER_RUN {
        let now = h.now_ms();
        let Some(item) = h.sql().transaction(|| outbox::claim_head(h.sql(), lane, now, lease))? else {
            break;
        };
        tried += 1;
        let outcome = attempt(h, cfg, &item).await;
        let now = h.now_ms();
        h.sql().transaction(|| {
            let effect = outbox::record(h.sql(), item.seq, &outcome, now)?;
            if let (DeliveryState::Sent, Some(effect)) = (outcome.state, effect) {
                settle(h.sql(), &effect, &item.dest, now)?;
            }
            Ok::<_, StoreError>(())
        })?;
        if outcome.state == DeliveryState::Waiting {
            break;
        }
    }
    Ok(tried)
}

/// How soon the alarm picks up a lane whose head is pending with no request carrying it (a
/// reply queued for an event, or a request that died before sending): at once. Items behind
/// a head that is being sent are not counted; the sender carries on with them.
pub const PENDING_GRACE_MS: u64 = 0;

/// Every lane with something ready (the alarm's work), then the next time to wake, if any.
pub async fn pump_all<H: ObjectHost>(
    h: &H,
    cfg: &Config,
    settle: &impl Fn(&H::Sql, &Effect, &Destination, u64) -> Result<(), StoreError>,
) -> Result<Option<u64>, StoreError> {
    for lane in outbox::lanes_ready(h.sql(), h.now_ms())? {
        pump(h, cfg, &lane, settle).await?;
    }
    outbox::next_wake(h.sql(), h.now_ms(), PENDING_GRACE_MS)
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    /// Found by fuzzing Divar's answers: `Retry-After: 18446744073709551615` overflowed.
    #[test]
    fn any_retry_after_is_a_bounded_wait() {
        let cfg = crate::config::tests::dev_config();
        for secs in [u64::MAX, u64::MAX / 1000 + 1, 10_000_000] {
            let o = retry_later(&cfg, 1, u64::MAX - 10, Some(secs));
            assert_eq!(o.state, DeliveryState::Waiting);
            assert_eq!(o.next_at_ms, u64::MAX, "saturates, never wraps");
            let o = retry_later(&cfg, 1, 1_000, Some(secs));
            assert_eq!(o.next_at_ms, 1_000 + MAX_RETRY_AFTER_MS);
        }
    }
}
