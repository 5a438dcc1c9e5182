//! The seller's assistant: in every conversation of a post whose seller turned it on, it greets
//! a buyer once, answers the common questions with the seller's own words (each once), says
//! the away message outside the seller's hours, keeps quiet when unsure, and stops for good in
//! a conversation once the seller writes there themselves. Its settings belong to the seller
//! (their person object); its memory of what it said belongs to each conversation (here).

pub mod settings;
pub mod topics;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{Actor, ConversationKind, Ctx, Incoming, Service, ServiceId, Step, TapPlan};
use crate::delivery::outbox::DeliveryState;
use crate::delivery::Payload;
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::message::{rtl, Action, Button, ButtonGrid, ConversationMessage};
use crate::kenar::side::UserSide;
pub use settings::Settings;
use topics::Topic;

/// The away message is said again only after this long in one conversation.
pub const AWAY_REPEAT_MS: u64 = 12 * 3600 * 1000;

/// What the assistant has said in one conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantRecord {
    #[serde(default)]
    pub greeted: bool,
    #[serde(default)]
    pub answered: Vec<Topic>,
    #[serde(default)]
    pub away_at_ms: Option<u64>,
    #[serde(default)]
    pub replies: u32,
}

/// One reply, with what the assistant will remember having said.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub offers_visit: bool,
    pub record: AssistantRecord,
}

fn answer(settings: &Settings, topic: Topic) -> &str {
    match topic {
        Topic::Price => &settings.answers.price,
        Topic::Available => &settings.answers.available,
        Topic::Where => &settings.answers.place,
        Topic::When => &settings.answers.when,
    }
}

/// What to say to a buyer's `text` at `now_ms`, or nothing.
pub fn compose(settings: &Settings, record: &AssistantRecord, text: &str, now_ms: u64) -> Option<Reply> {
    let mut parts: Vec<&str> = Vec::new();
    let mut next = record.clone();
    if !record.greeted && !settings.greeting.is_empty() {
        parts.push(&settings.greeting);
    }
    let away_due = record
        .away_at_ms
        .is_none_or(|at| now_ms >= at.saturating_add(AWAY_REPEAT_MS));
    if settings.away_at(now_ms) && away_due && !settings.away.is_empty() {
        parts.push(&settings.away);
        next.away_at_ms = Some(now_ms);
    }
    let mut offers_visit = false;
    for topic in topics::topics(text) {
        let said = answer(settings, topic);
        if said.is_empty() || record.answered.contains(&topic) {
            continue;
        }
        parts.push(said);
        next.answered.push(topic);
        offers_visit |= topic == Topic::When;
    }
    if parts.is_empty() {
        return None;
    }
    next.greeted = true;
    next.replies = next.replies.saturating_add(1);
    Some(Reply {
        text: format!("🤖 پاسخ خودکار\n{}", parts.join("\n\n")),
        offers_visit,
        record: next,
    })
}

fn grid(buttons: Vec<Button>) -> ButtonGrid {
    // One row of one button: within 3×3 by construction.
    ButtonGrid::default().row(buttons).unwrap_or_default()
}

/// The reply as it goes into the chat: the buyer may get the visit service's button, the
/// seller a way to their assistant's settings.
pub fn message(reply: &Reply) -> ConversationMessage {
    let receiver = if reply.offers_visit {
        grid(vec![Button::new(
            "پیشنهاد زمان بازدید",
            Action::server_link(&[("v", "propose")]),
        )])
    } else {
        ButtonGrid::default()
    };
    ConversationMessage {
        message: rtl(&reply.text),
        sender_buttons: grid(vec![Button::new(
            "تنظیمات دستیار",
            Action::server_link(&[("v", "assistant")]),
        )]),
        receiver_buttons: receiver,
    }
}

pub struct Assistant;

impl Service for Assistant {
    const ID: ServiceId = ServiceId::Assistant;
    const KIND: ConversationKind = ConversationKind::Post;
    const STATE_AT_ONCE: bool = true;
    type State = AssistantRecord;

    fn on_message(
        ctx: &Ctx,
        record: &AssistantRecord,
        message: &Incoming,
        _in_flight: bool,
    ) -> Option<Step<AssistantRecord>> {
        // Only a buyer's message, only for a seller who turned it on, never once they took over.
        if message.side != Some(UserSide::Demand) || message.seller_joined {
            return None;
        }
        let poster = message.poster.as_ref()?;
        if !poster.assistant.enabled {
            return None;
        }
        let text = message.text.as_deref().unwrap_or("");
        let reply = compose(&poster.assistant, record, text, ctx.now_ms)?;
        Some(Step {
            label: "پاسخ خودکار دستیار".into(),
            message: Payload::Conversation(self::message(&reply)),
            state: Some(reply.record),
        })
    }

    fn glance(_ctx: &Ctx, record: &AssistantRecord) -> Option<Value> {
        (record.replies > 0).then(|| json!({ "replies": record.replies }))
    }

    fn busy() -> AppError {
        AppError::Conflict("the assistant is still answering; try again in a moment".into())
    }

    fn tap_key(_ctx: &Ctx, _data: &Map<String, Value>) -> Option<String> {
        // The assistant draws no one-tap buttons.
        None
    }

    fn plan_tap(
        _ctx: &Ctx,
        _state: &AssistantRecord,
        _actor: &Actor,
        _data: &Map<String, Value>,
    ) -> Result<TapPlan<AssistantRecord>, DynamicActionAnswer> {
        Err(Self::stale_tap())
    }

    fn stale_tap() -> DynamicActionAnswer {
        DynamicActionAnswer::toast("این دکمه دیگر کار نمی‌کند.")
    }

    fn tapped(_ctx: &Ctx, _state: &AssistantRecord, _delivery: DeliveryState) -> DynamicActionAnswer {
        Self::stale_tap()
    }
}

#[cfg(test)]
mod tests;
