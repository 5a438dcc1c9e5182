//! The bodies Divar POSTs to the one events URL (API.md §7.2, §8.2–§8.4), parsed into `Event`.
//!
//! Every envelope carries a `type` and one payload key named after it: `new_message`,
//! `new_chatbot_message`, `user_access_revocation`, `post_update`, and `transaction` (the doc
//! table) or `payment_transaction` (the payment page's own example). The subscription's
//! `metadata` (the migration doc spells it `meta_data`) rides at the top of the envelope, beside
//! `type`, never inside the payload.
//!
//! Identifiers are checked here, once: bounded and of a safe charset, so nothing later has to
//! wonder what a message id, conversation id, user id or post token may contain. Everything the
//! add-on can live without (time, sender side, media details, post details) is tolerated when it
//! is missing or malformed rather than failing the event.

use serde_json::{Map, Value};

use super::ids::{ConversationId, PostToken, UserId};
use super::side::UserSide;

/// Upper bounds on identifiers. Divar documents tighter ones (conversation and user id 64, post
/// token 10); these leave headroom for a format change, as in `launch.rs`.
const MAX_ID: usize = 128;
const MAX_POST_TOKEN: usize = 32;
/// Event type names, enum values, slugs: anything shorter is kept, anything longer dropped.
const MAX_LABEL: usize = 64;
/// `extra_details` is the text we sent when creating the transaction.
const MAX_EXTRA_DETAILS: usize = 1024;
/// The subscription metadata is ours, echoed back; anything bigger was not written by us.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;
/// No RFC 3339 time is longer than this, even with nanoseconds and an offset.
const MAX_TIME_LEN: usize = 40;

/// One event from Divar's events webhook.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `NEW_CHATBOT_MESSAGE`: someone wrote to our bot (`new_chatbot_message`). No subscription
    /// is behind it, so there is no metadata.
    NewChatbotMessage(ChatMessage),
    /// `NEW_MESSAGE` (subscribed to as `NEW_MESSAGE_ON_POST`): a message in a post's chat.
    NewMessage {
        message: ChatMessage,
        /// The envelope's `metadata` (or `meta_data`): what we gave when subscribing.
        metadata: Option<Map<String, Value>>,
    },
    /// `USER_ACCESS_REVOCATION`: the user took back what they granted us. The docs give only
    /// the user id (per app, base64-like, e.g. `6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI=`).
    UserAccessRevocation { user_id: UserId },
    /// `POST_UPDATE`: a published or ongoing post changed. For `RETIRE` and `ARCHIVE` only the
    /// token is sent; the rest is then `None`. The post's free-form `data` is not kept.
    PostUpdate {
        change: PostChange,
        post_token: Option<String>,
        category: Option<String>,
        city: Option<String>,
        district: Option<String>,
        chat_enabled: Option<bool>,
        first_published_at_micros: Option<i64>,
        metadata: Option<Map<String, Value>>,
    },
    /// `PAYMENT_TRANSACTION`: a transaction our app created changed state.
    PaymentTransaction {
        transaction: Transaction,
        metadata: Option<Map<String, Value>>,
    },
    /// Any other `type`, kept so the caller can log it and answer 2xx. `kind` is the type as
    /// sent when it is at most 64 letters, digits, `-`, `_` or `.`, and empty otherwise
    /// (absent, not a string, too long or odd characters).
    Unknown { kind: String },
}

/// A chat message (API.md §8.4, OpenAPI `chatapiMessage`), reduced to what the add-on uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// `id`: unique per message; the key to deduplicate redeliveries on.
    pub id: String,
    /// `conversation.id`.
    pub conversation_id: ConversationId,
    /// `conversation.type`.
    pub conversation_kind: ConversationKind,
    /// `conversation.post_token`, sent for post conversations.
    pub post_token: Option<PostToken>,
    pub sender: Sender,
    /// `sent_at` in microseconds since the Unix epoch, whether Divar sent an integer or an
    /// RFC 3339 string; `None` when it was missing, negative or not a time.
    pub sent_at_micros: Option<i64>,
    pub content: Content,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationKind {
    /// A chat on a post, between its seller and a buyer.
    Post,
    /// A conversation with our chatbot.
    Bot,
    /// Missing or a value the docs do not list.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    pub kind: SenderKind,
    /// `sender.side`: `SELLER` is `Supply`, `BUYER` is `Demand`.
    pub side: Option<UserSide>,
    /// Not in the documented shape (`{side, type}`); kept if Divar sends `sender.user_id` or,
    /// as the legacy notify body did, `sender.id`. May contain `+`, `/` and `=` (base64), so
    /// encode it before putting it in a URL path.
    pub user_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderKind {
    /// `sender.type` is `BOT`, in any case: our own (or another app's) message.
    Bot,
    /// Everything else: `HUMAN`, the `USER` of some doc examples, missing, or unknown.
    Human,
}

/// What the message carries. Media details (links, sizes, coordinates, phone numbers) are not
/// kept: the add-on does not need them and should not hold personal data it does not need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// `TEXT`, with `text` exactly as sent; the caller cleans it.
    Text(String),
    Image,
    File,
    Voice,
    Video,
    Location,
    Contact,
    /// A type the docs do not list, or a `TEXT` without a text.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostChange {
    /// Published, or a published post changed.
    Publish,
    /// Taken off Divar's lists.
    Retire,
    /// A post in progress (not yet published) changed.
    Ongoing,
    /// A post in progress was deleted.
    Archive,
    /// A value added after this was written ("more may be added"), or empty when missing.
    Other(String),
}

/// The `transaction` (or `payment_transaction`) of a `PAYMENT_TRANSACTION` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The UUID we chose when creating the transaction.
    pub id: String,
    /// int64; protobuf JSON may send it as a string.
    pub cost_rials: Option<i64>,
    /// What we sent with the transaction; `None` if missing or over 1 KiB.
    pub extra_details: Option<String>,
    pub state: TransactionState,
    pub kind: TransactionKind,
    /// OpenAPI only (not on the events page).
    pub app_slug: Option<String>,
    /// OpenAPI only.
    pub created_at_micros: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionState {
    Pending,
    Completed,
    Failed,
    Refunded,
    /// Missing (empty), or a value not documented: its name if a short safe label, or `#n` for
    /// an undocumented number.
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionKind {
    Reorder,
    Submit,
    Renew,
    /// As `TransactionState::Other`.
    Other(String),
}

/// Why a body could not be read as an event.
///
/// Only a body that is not a JSON object, or an envelope of a known type missing what it cannot
/// work without (a message's id or conversation id, a revoked user's id, a transaction's id), or
/// carrying an identifier that is too long or has unsafe characters, is an error. An unknown
/// type is not: it parses as `Event::Unknown`.
///
/// Divar retries an event it got a 4xx for, forever; so the caller logs this error and still
/// answers 2xx, dropping the event. The messages are short and never echo the input.
pub use super::BodyError as EventError;

fn bad(field: &'static str, why: &'static str) -> EventError {
    EventError::Field { field, why }
}

/// Which characters an identifier may hold.
#[derive(Clone, Copy)]
enum Charset {
    /// Letters, digits, `-`, `_`: UUIDs, post tokens.
    Plain,
    /// Plain plus `+`, `/`, `=`: the per-app user ids are base64.
    Base64,
}

fn allowed(b: u8, charset: Charset) -> bool {
    b.is_ascii_alphanumeric()
        || b == b'-'
        || b == b'_'
        || (matches!(charset, Charset::Base64) && matches!(b, b'+' | b'/' | b'='))
}

/// An identifier that may be absent, `null` or empty (all the same), else bounded and of a safe
/// charset. A non-negative integer is taken as its decimal text, as `launch::opt_id` does.
fn ident(
    value: Option<&Value>,
    field: &'static str,
    max: usize,
    charset: Charset,
) -> Result<Option<String>, EventError> {
    let number;
    let raw = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim(),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(u) => {
                number = u.to_string();
                number.as_str()
            }
            None => return Err(bad(field, "must be a string")),
        },
        Some(_) => return Err(bad(field, "must be a string")),
    };
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > max {
        return Err(bad(field, "is too long"));
    }
    if !raw.bytes().all(|b| allowed(b, charset)) {
        return Err(bad(field, "has a disallowed character"));
    }
    Ok(Some(raw.to_string()))
}

fn required(value: Option<String>, field: &'static str) -> Result<String, EventError> {
    value.ok_or(bad(field, "is required"))
}

/// A short label (enum value, slug) kept only if it is a string of at most `MAX_LABEL` letters,
/// digits, `-`, `_` or `.`; anything else is as good as absent.
fn label(value: Option<&Value>) -> Option<String> {
    let s = value?.as_str()?.trim();
    let ok = !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_string())
}

fn upper_label(value: Option<&Value>) -> Option<String> {
    label(value).map(|s| s.to_ascii_uppercase())
}

fn present(obj: &Map<String, Value>, name: &str) -> bool {
    obj.get(name).is_some_and(|v| !v.is_null())
}

/// The payload object of a known type: required, and an object.
fn payload<'a>(obj: &'a Map<String, Value>, names: &[&'static str]) -> Result<&'a Map<String, Value>, EventError> {
    let name = names.iter().copied().find(|n| present(obj, n)).unwrap_or(names[0]);
    match obj.get(name) {
        None | Some(Value::Null) => Err(bad(name, "is required")),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(bad(name, "must be an object")),
    }
}

/// The subscription metadata at the top of the envelope; dropped (not an error) if it is not an
/// object or is larger than `MAX_METADATA_BYTES`.
fn metadata(obj: &Map<String, Value>) -> Option<Map<String, Value>> {
    let m = ["metadata", "meta_data"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_object))?;
    let size = serde_json::to_string(m).map(|s| s.len()).unwrap_or(usize::MAX);
    (size <= MAX_METADATA_BYTES).then(|| m.clone())
}

/// A timestamp as integer microseconds, a string of them (the legacy notify body), or RFC 3339.
/// Negative, out-of-range or malformed values are `None`.
fn timestamp_micros(value: Option<&Value>) -> Option<i64> {
    let micros = match value? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<i64>().ok()?
            } else {
                rfc3339_to_unix_micros(s)?
            }
        }
        _ => return None,
    };
    (micros >= 0).then_some(micros)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// An RFC 3339 date-time (`2025-07-16T10:41:42.648410Z`, `…+03:30`) as microseconds since the
/// Unix epoch, exactly; `None` for anything else. Digits past the sixth of the fraction are
/// dropped (truncated). `T` may be `t` or a space and `Z` may be `z`, as RFC 3339 allows; a
/// leap second (`:60`) counts as the first second of the next minute.
pub fn rfc3339_to_unix_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > MAX_TIME_LEN {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut at = 19;
    let mut fraction = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return None;
        }
        let digits = &b[start..at];
        for place in 0..6 {
            fraction = fraction * 10 + digits.get(place).map_or(0, |d| i64::from(d - b'0'));
        }
    }

    let offset_seconds = match b.get(at)? {
        b'Z' | b'z' => {
            at += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            if !sep(at + 3, b":") {
                return None;
            }
            let (oh, om) = (num(at + 1, at + 3)?, num(at + 4, at + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            at += 6;
            let magnitude = oh * 3600 + om * 60;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    if at != b.len() {
        return None;
    }

    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + fraction)
}

fn sender(msg: &Map<String, Value>) -> Result<Sender, EventError> {
    let Some(obj) = msg.get("sender").and_then(Value::as_object) else {
        return Ok(Sender {
            kind: SenderKind::Human,
            side: None,
            user_id: None,
        });
    };
    let is_bot = obj
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("BOT"));
    let user_id = match ident(obj.get("user_id"), "message.sender.user_id", MAX_ID, Charset::Base64)? {
        Some(id) => Some(id),
        None => ident(obj.get("id"), "message.sender.id", MAX_ID, Charset::Base64)?,
    };
    Ok(Sender {
        kind: if is_bot { SenderKind::Bot } else { SenderKind::Human },
        side: obj.get("side").and_then(Value::as_str).and_then(UserSide::parse),
        user_id,
    })
}

/// The content kind from `type`; when `type` is missing, from whichever payload key is there.
fn content(msg: &Map<String, Value>) -> Content {
    let text = || msg.get("text").and_then(Value::as_str).map(str::to_string);
    let media = [
        ("image_data", Content::Image),
        ("file_data", Content::File),
        ("voice_data", Content::Voice),
        ("video_data", Content::Video),
        ("location_data", Content::Location),
        ("contact_data", Content::Contact),
    ];
    let kind = msg
        .get("type")
        .and_then(Value::as_str)
        .map(|t| t.trim().to_ascii_uppercase())
        .filter(|t| !t.is_empty());
    match kind.as_deref() {
        Some("TEXT") => text().map_or(Content::Other, Content::Text),
        Some("IMAGE") => Content::Image,
        Some("FILE") => Content::File,
        Some("VOICE") => Content::Voice,
        Some("VIDEO") => Content::Video,
        Some("LOCATION") => Content::Location,
        Some("CONTACT") => Content::Contact,
        Some(_) => Content::Other,
        None => text().map(Content::Text).unwrap_or_else(|| {
            media
                .into_iter()
                .find(|(key, _)| msg.get(*key).is_some_and(Value::is_object))
                .map_or(Content::Other, |(_, c)| c)
        }),
    }
}

fn chat_message(msg: &Map<String, Value>) -> Result<ChatMessage, EventError> {
    let id = required(
        ident(msg.get("id"), "message.id", MAX_ID, Charset::Plain)?,
        "message.id",
    )?;
    let conversation = msg.get("conversation").and_then(Value::as_object);
    let field = |name: &str| conversation.and_then(|c| c.get(name));
    let conversation_id = match ident(field("id"), "message.conversation.id", MAX_ID, Charset::Plain)? {
        Some(c) => c,
        // Not documented; accepted for a flat shape, as the session-init body has it.
        None => required(
            ident(
                msg.get("conversation_id"),
                "message.conversation_id",
                MAX_ID,
                Charset::Plain,
            )?,
            "message.conversation.id",
        )?,
    };
    let post_token = match ident(
        field("post_token"),
        "message.conversation.post_token",
        MAX_POST_TOKEN,
        Charset::Plain,
    )? {
        Some(p) => Some(p),
        None => ident(
            msg.get("post_token"),
            "message.post_token",
            MAX_POST_TOKEN,
            Charset::Plain,
        )?,
    };
    // The charsets above are the types' own; their lengths are tighter.
    let conversation_id =
        ConversationId::parse(&conversation_id).ok_or(bad("message.conversation.id", "is not a conversation id"))?;
    let post_token = match post_token {
        Some(p) => Some(PostToken::parse(&p).ok_or(bad("message.conversation.post_token", "is not a post token"))?),
        None => None,
    };
    let conversation_kind = match upper_label(field("type")).as_deref() {
        Some("POST") => ConversationKind::Post,
        Some("BOT") => ConversationKind::Bot,
        _ => ConversationKind::Unknown,
    };
    Ok(ChatMessage {
        id,
        conversation_id,
        conversation_kind,
        post_token,
        sender: sender(msg)?,
        sent_at_micros: timestamp_micros(msg.get("sent_at")),
        content: content(msg),
    })
}

fn post_update(obj: &Map<String, Value>) -> Result<Event, EventError> {
    let update = payload(obj, &["post_update"])?;
    let post = update.get("post").and_then(Value::as_object);
    let field = |name: &str| post.and_then(|p| p.get(name));
    let post_token = match ident(field("token"), "post_update.post.token", MAX_POST_TOKEN, Charset::Plain)? {
        Some(t) => Some(t),
        None => ident(
            update.get("post_token"),
            "post_update.post_token",
            MAX_POST_TOKEN,
            Charset::Plain,
        )?,
    };
    let change = match upper_label(update.get("type")) {
        Some(t) => match t.as_str() {
            "PUBLISH" => PostChange::Publish,
            "RETIRE" => PostChange::Retire,
            "ONGOING" => PostChange::Ongoing,
            "ARCHIVE" => PostChange::Archive,
            _ => PostChange::Other(t),
        },
        None => PostChange::Other(String::new()),
    };
    Ok(Event::PostUpdate {
        change,
        post_token,
        category: label(field("category")),
        city: label(field("city")),
        district: label(field("district")),
        chat_enabled: field("chat_enabled").and_then(Value::as_bool),
        first_published_at_micros: timestamp_micros(field("first_published_at")),
        metadata: metadata(obj),
    })
}

fn transaction(obj: &Map<String, Value>) -> Result<Transaction, EventError> {
    let tx = payload(obj, &["transaction", "payment_transaction"])?;
    let id = required(
        ident(tx.get("id"), "transaction.id", MAX_ID, Charset::Plain)?,
        "transaction.id",
    )?;
    let cost_rials = match tx.get("cost_rials") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let extra_details = tx
        .get("extra_details")
        .and_then(Value::as_str)
        .filter(|s| s.len() <= MAX_EXTRA_DETAILS)
        .map(str::to_string);
    // Both enums are protobuf enums: the name, or its number from the events page's table.
    let enum_name = |name: &str, prefix: &str| match tx.get(name) {
        Some(Value::Number(n)) => n.as_u64().map(|n| format!("#{n}")),
        other => upper_label(other).map(|s| s.strip_prefix(prefix).map(str::to_string).unwrap_or(s)),
    };
    let state = match enum_name("state", "TRANSACTION_STATE_").as_deref() {
        Some("PENDING" | "#1") => TransactionState::Pending,
        Some("COMPLETED" | "#2") => TransactionState::Completed,
        Some("FAILED" | "#3") => TransactionState::Failed,
        Some("REFUNDED" | "#4") => TransactionState::Refunded,
        other => TransactionState::Other(other.unwrap_or_default().to_string()),
    };
    let kind = match enum_name("type", "TRANSACTION_TYPE_").as_deref() {
        Some("REORDER" | "#1") => TransactionKind::Reorder,
        Some("SUBMIT") => TransactionKind::Submit,
        Some("RENEW") => TransactionKind::Renew,
        other => TransactionKind::Other(other.unwrap_or_default().to_string()),
    };
    Ok(Transaction {
        id,
        cost_rials,
        extra_details,
        state,
        kind,
        app_slug: label(tx.get("app_slug")),
        created_at_micros: timestamp_micros(tx.get("created_at")),
    })
}

enum Kind {
    NewChatbotMessage,
    NewMessage,
    UserAccessRevocation,
    PostUpdate,
    PaymentTransaction,
    Unknown(String),
}

/// The envelope's `type`, matched exactly but for case and surrounding spaces. A body with no
/// `type` at all is typed by its one payload key, if it has exactly one.
fn kind(obj: &Map<String, Value>) -> Kind {
    let by_name = |name: &str| match name {
        "NEW_CHATBOT_MESSAGE" => Some(Kind::NewChatbotMessage),
        // The subscription's name for the same event; the docs warn they differ.
        "NEW_MESSAGE" | "NEW_MESSAGE_ON_POST" => Some(Kind::NewMessage),
        "USER_ACCESS_REVOCATION" => Some(Kind::UserAccessRevocation),
        "POST_UPDATE" => Some(Kind::PostUpdate),
        "PAYMENT_TRANSACTION" => Some(Kind::PaymentTransaction),
        _ => None,
    };
    let missing = match obj.get("type") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    };
    if !missing {
        let raw = label(obj.get("type")).unwrap_or_default();
        return by_name(&raw.to_ascii_uppercase()).unwrap_or(Kind::Unknown(raw));
    }
    let payloads = [
        ("new_chatbot_message", "NEW_CHATBOT_MESSAGE"),
        ("new_message", "NEW_MESSAGE"),
        ("user_access_revocation", "USER_ACCESS_REVOCATION"),
        ("post_update", "POST_UPDATE"),
        ("transaction", "PAYMENT_TRANSACTION"),
        ("payment_transaction", "PAYMENT_TRANSACTION"),
    ];
    let mut found = payloads.iter().filter(|(key, _)| present(obj, key));
    match (found.next(), found.next()) {
        (Some((_, name)), None) => by_name(name).unwrap_or(Kind::Unknown(String::new())),
        _ => Kind::Unknown(String::new()),
    }
}

/// Parses an events-webhook body. Unknown fields are ignored; an unknown `type` is
/// `Event::Unknown`, not an error.
pub fn parse_event(body: &[u8]) -> Result<Event, EventError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| EventError::NotJson)?;
    let obj = value.as_object().ok_or(EventError::NotObject)?;
    match kind(obj) {
        Kind::NewChatbotMessage => Ok(Event::NewChatbotMessage(chat_message(payload(
            obj,
            &["new_chatbot_message"],
        )?)?)),
        Kind::NewMessage => Ok(Event::NewMessage {
            message: chat_message(payload(obj, &["new_message"])?)?,
            metadata: metadata(obj),
        }),
        Kind::UserAccessRevocation => {
            // The docs nest `{user_id}` under `user_access_revocation`; §8.1 of API.md reads as
            // if it could be the whole payload, so a top-level `user_id` is accepted too.
            let nested = obj.get("user_access_revocation").and_then(Value::as_object);
            let user_id = match nested {
                Some(r) => ident(
                    r.get("user_id"),
                    "user_access_revocation.user_id",
                    MAX_ID,
                    Charset::Base64,
                )?,
                None => None,
            };
            let user_id = match user_id {
                Some(u) => u,
                None => required(
                    ident(obj.get("user_id"), "user_id", MAX_ID, Charset::Base64)?,
                    "user_access_revocation.user_id",
                )?,
            };
            let user_id = UserId::parse(&user_id).ok_or(bad("user_access_revocation.user_id", "is not a user id"))?;
            Ok(Event::UserAccessRevocation { user_id })
        }
        Kind::PostUpdate => post_update(obj),
        Kind::PaymentTransaction => Ok(Event::PaymentTransaction {
            transaction: transaction(obj)?,
            metadata: metadata(obj),
        }),
        Kind::Unknown(kind) => Ok(Event::Unknown { kind }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Event, EventError> {
        parse_event(v.to_string().as_bytes())
    }

    fn chatbot(msg: Value) -> Result<ChatMessage, EventError> {
        match parse(json!({"type": "NEW_CHATBOT_MESSAGE", "new_chatbot_message": msg}))? {
            Event::NewChatbotMessage(m) => Ok(m),
            other => panic!("expected a chatbot message, got {other:?}"),
        }
    }

    fn field_err(result: Result<impl std::fmt::Debug, EventError>) -> &'static str {
        match result {
            Err(EventError::Field { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    /// A valid chatbot message with `key` set to `value` (or removed, for `None`).
    fn message_with(key: &str, value: Option<Value>) -> Value {
        let mut msg = json!({
            "id": "m-1", "conversation": {"id": "c-1", "type": "BOT"},
            "sender": {"type": "HUMAN"}, "type": "TEXT", "sent_at": 1, "text": "hi"
        });
        let obj = msg.as_object_mut().expect("object");
        match value {
            Some(v) => obj.insert(key.to_string(), v),
            None => obj.remove(key),
        };
        msg
    }

    // API.md §7.2, verbatim.
    #[test]
    fn chatbot_documented_example() {
        let event = parse_event(
            br#"{
              "type": "NEW_CHATBOT_MESSAGE",
              "new_chatbot_message": {
                "id": "7651e778-6231-11f0-a7fd-5607f0c4facf",
                "conversation": { "id": "1fad7e32-b2ea-4084-8ec9-e6265136e963", "type": "BOT" },
                "sender": { "type": "HUMAN" },
                "type": "TEXT",
                "sent_at": 1729429926140000,
                "text": "hello world"
              }
            }"#,
        )
        .expect("valid");
        assert_eq!(
            event,
            Event::NewChatbotMessage(ChatMessage {
                id: "7651e778-6231-11f0-a7fd-5607f0c4facf".into(),
                conversation_id: "1fad7e32-b2ea-4084-8ec9-e6265136e963".into(),
                conversation_kind: ConversationKind::Bot,
                post_token: None,
                sender: Sender {
                    kind: SenderKind::Human,
                    side: None,
                    user_id: None
                },
                sent_at_micros: Some(1_729_429_926_140_000),
                content: Content::Text("hello world".into()),
            })
        );
    }

    // API.md §8.2, verbatim: the metadata sits beside `type`, not in the message.
    #[test]
    fn new_message_documented_example() {
        let event = parse_event(
            br#"{
              "type": "NEW_MESSAGE",
              "metadata": { "key": "value" },
              "new_message": {
                "id": "e7a08a2c-8ee4-11ef-af85-4e9e9bfa3c12",
                "conversation": { "id": "edbb9499-cccc-4d35-b21f-621fa95f2b3e", "type": "POST", "post_token": "gZd7omnS" },
                "sender": { "side": "SELLER", "type": "BOT" },
                "type": "TEXT",
                "sent_at": 1729429926140000,
                "text": "Hello!"
              }
            }"#,
        )
        .expect("valid");
        let Event::NewMessage { message, metadata } = event else {
            panic!("expected NewMessage, got {event:?}");
        };
        assert_eq!(message.id, "e7a08a2c-8ee4-11ef-af85-4e9e9bfa3c12");
        assert_eq!(message.conversation_id, "edbb9499-cccc-4d35-b21f-621fa95f2b3e");
        assert_eq!(message.conversation_kind, ConversationKind::Post);
        assert_eq!(message.post_token.as_deref(), Some("gZd7omnS"));
        assert_eq!(message.sender.kind, SenderKind::Bot);
        assert_eq!(message.sender.side, Some(UserSide::Supply));
        assert_eq!(message.sent_at_micros, Some(1_729_429_926_140_000));
        assert_eq!(message.content, Content::Text("Hello!".into()));
        assert_eq!(metadata, json!({"key": "value"}).as_object().cloned());
    }

    #[test]
    fn new_message_metadata_spellings_and_limits() {
        let msg = message_with("text", Some(json!("x")));
        let meta = |body: Value| match parse(body).expect("valid") {
            Event::NewMessage { metadata, .. } => metadata,
            other => panic!("expected NewMessage, got {other:?}"),
        };
        assert_eq!(meta(json!({"type": "NEW_MESSAGE", "new_message": msg})), None);
        assert_eq!(
            meta(json!({"type": "NEW_MESSAGE", "new_message": msg, "meta_data": {"s": "1"}})),
            json!({"s": "1"}).as_object().cloned()
        );
        for bad in [json!(null), json!("k=v"), json!([1]), json!(7)] {
            assert_eq!(
                meta(json!({"type": "NEW_MESSAGE", "new_message": msg, "metadata": bad})),
                None
            );
        }
        let big = json!({"k": "x".repeat(MAX_METADATA_BYTES)});
        assert_eq!(
            meta(json!({"type": "NEW_MESSAGE", "new_message": msg, "metadata": big})),
            None
        );
        // Metadata inside the message is not where Divar puts it.
        let mut inner = msg.clone();
        inner["metadata"] = json!({"k": "v"});
        assert_eq!(meta(json!({"type": "NEW_MESSAGE", "new_message": inner})), None);
    }

    // docs/events/auth.md: `user_access_revocation: {user_id}`; the id is the §3.1 example.
    #[test]
    fn user_access_revocation() {
        let id = "6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI=";
        let event = parse(json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": id}}));
        assert_eq!(event, Ok(Event::UserAccessRevocation { user_id: id.into() }));
        let flat = parse(json!({"type": "user_access_revocation", "user_id": "a+b/c=="}));
        assert_eq!(
            flat,
            Ok(Event::UserAccessRevocation {
                user_id: "a+b/c==".into()
            })
        );
        let numeric = parse(json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": 42}}));
        assert_eq!(numeric, Ok(Event::UserAccessRevocation { user_id: "42".into() }));
        assert_eq!(
            field_err(parse(json!({"type": "USER_ACCESS_REVOCATION"}))),
            "user_access_revocation.user_id"
        );
        assert_eq!(
            field_err(parse(
                json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": null}})
            )),
            "user_access_revocation.user_id"
        );
        assert_eq!(
            field_err(parse(
                json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": "a b"}})
            )),
            "user_access_revocation.user_id"
        );
    }

    // docs/events/post.md: `post_update: {type, post: {token, category, city, district, …}}`.
    #[test]
    fn post_update_publish_and_retire() {
        let event = parse(json!({
            "type": "POST_UPDATE",
            "metadata": {"key": "value"},
            "post_update": {
                "type": "PUBLISH",
                "post": {
                    "token": "gZd7omnS", "category": "apartment-sell", "city": "tehran", "district": "vanak",
                    "chat_enabled": true, "first_published_at": "2024-10-20T13:12:06.14Z",
                    "data": {"title": "a flat", "phone": "0912"}
                }
            }
        }))
        .expect("valid");
        assert_eq!(
            event,
            Event::PostUpdate {
                change: PostChange::Publish,
                post_token: Some("gZd7omnS".into()),
                category: Some("apartment-sell".into()),
                city: Some("tehran".into()),
                district: Some("vanak".into()),
                chat_enabled: Some(true),
                first_published_at_micros: Some(1_729_429_926_140_000),
                metadata: json!({"key": "value"}).as_object().cloned(),
            }
        );
        let retire =
            parse(json!({"type": "POST_UPDATE", "post_update": {"type": "retire", "post": {"token": "AZTH74V2"}}}));
        assert!(matches!(
            retire,
            Ok(Event::PostUpdate { change: PostChange::Retire, post_token: Some(ref t), category: None, metadata: None, .. })
                if t == "AZTH74V2"
        ));
        for (raw, change) in [
            ("ONGOING", PostChange::Ongoing),
            ("Archive", PostChange::Archive),
            ("SOLD", PostChange::Other("SOLD".into())),
        ] {
            let event = parse(json!({"type": "POST_UPDATE", "post_update": {"type": raw, "post": {"token": "t"}}}));
            assert!(
                matches!(event, Ok(Event::PostUpdate { change: ref c, .. }) if *c == change),
                "{raw}"
            );
        }
        let bare = parse(json!({"type": "POST_UPDATE", "post_update": {}})).expect("valid");
        assert!(matches!(
            bare,
            Event::PostUpdate { change: PostChange::Other(ref s), post_token: None, .. } if s.is_empty()
        ));
        assert_eq!(field_err(parse(json!({"type": "POST_UPDATE"}))), "post_update");
        assert_eq!(
            field_err(parse(json!({"type": "POST_UPDATE", "post_update": "x"}))),
            "post_update"
        );
        assert_eq!(
            field_err(parse(
                json!({"type": "POST_UPDATE", "post_update": {"post": {"token": "../x"}}})
            )),
            "post_update.post.token"
        );
    }

    // docs/events/payment.md's own example, verbatim (it uses `payment_transaction`).
    #[test]
    fn payment_transaction_documented_example() {
        let event = parse_event(
            r#"{
                "type": "PAYMENT_TRANSACTION",
                "payment_transaction": {
                    "id": "550e8400-e29b-41d4-a716-446655440000",
                    "cost_rials": 100000,
                    "extra_details": "توکن آگهی بازنشر: ABC123",
                    "state": "TRANSACTION_STATE_COMPLETED",
                    "type": "TRANSACTION_TYPE_REORDER"
                },
                "metadata": {
                    "key": "value"
                }
            }"#
            .as_bytes(),
        )
        .expect("valid");
        assert_eq!(
            event,
            Event::PaymentTransaction {
                transaction: Transaction {
                    id: "550e8400-e29b-41d4-a716-446655440000".into(),
                    cost_rials: Some(100_000),
                    extra_details: Some("توکن آگهی بازنشر: ABC123".into()),
                    state: TransactionState::Completed,
                    kind: TransactionKind::Reorder,
                    app_slug: None,
                    created_at_micros: None,
                },
                metadata: json!({"key": "value"}).as_object().cloned(),
            }
        );
    }

    // The envelope table's key (`transaction`), protobuf JSON's string int64 and enum numbers.
    #[test]
    fn payment_transaction_variants() {
        let tx = |t: Value| match parse(json!({"type": "PAYMENT_TRANSACTION", "transaction": t})) {
            Ok(Event::PaymentTransaction { transaction, .. }) => transaction,
            other => panic!("expected a transaction, got {other:?}"),
        };
        let t = tx(json!({
            "id": "t-1", "cost_rials": "250000", "state": 4, "type": "TRANSACTION_TYPE_RENEW",
            "app_slug": "my-app", "created_at": "2025-07-16T10:41:42.648410Z"
        }));
        assert_eq!(t.cost_rials, Some(250_000));
        assert_eq!(t.state, TransactionState::Refunded);
        assert_eq!(t.kind, TransactionKind::Renew);
        assert_eq!(t.app_slug.as_deref(), Some("my-app"));
        assert_eq!(t.created_at_micros, Some(1_752_662_502_648_410));
        assert_eq!(
            tx(json!({"id": "t", "state": "pending"})).state,
            TransactionState::Pending
        );
        assert_eq!(tx(json!({"id": "t", "state": 3})).state, TransactionState::Failed);
        assert_eq!(
            tx(json!({"id": "t", "state": 9})).state,
            TransactionState::Other("#9".into())
        );
        assert_eq!(
            tx(json!({"id": "t", "state": "NEW_STATE"})).state,
            TransactionState::Other("NEW_STATE".into())
        );
        assert_eq!(tx(json!({"id": "t", "type": "SUBMIT"})).kind, TransactionKind::Submit);
        assert_eq!(tx(json!({"id": "t", "type": 1})).kind, TransactionKind::Reorder);
        let sparse = tx(json!({"id": "t", "cost_rials": "lots", "extra_details": "x".repeat(2000), "state": null}));
        assert_eq!(sparse.cost_rials, None);
        assert_eq!(sparse.extra_details, None);
        assert_eq!(sparse.state, TransactionState::Other(String::new()));
        assert_eq!(sparse.kind, TransactionKind::Other(String::new()));
        assert_eq!(
            field_err(parse(json!({"type": "PAYMENT_TRANSACTION", "transaction": {}}))),
            "transaction.id"
        );
        assert_eq!(field_err(parse(json!({"type": "PAYMENT_TRANSACTION"}))), "transaction");
        assert_eq!(
            field_err(parse(
                json!({"type": "PAYMENT_TRANSACTION", "transaction": {"id": "a;b"}})
            )),
            "transaction.id"
        );
    }

    #[test]
    fn unknown_types_parse_as_unknown() {
        let kind = |v: Value| match parse(v) {
            Ok(Event::Unknown { kind }) => kind,
            other => panic!("expected Unknown, got {other:?}"),
        };
        assert_eq!(
            kind(json!({"type": "SOMETHING_NEW", "something_new": {"x": 1}})),
            "SOMETHING_NEW"
        );
        assert_eq!(kind(json!({"type": "Post.Deleted"})), "Post.Deleted");
        // The legacy notify body (API.md §8.5).
        assert_eq!(
            kind(
                json!({"type": "CHAT_MESSAGE", "timestamp": "", "payload": {"id": "", "type": "TEXT",
                "data": {"text": ""}, "sender": {"id": "", "is_supply": true}}})
            ),
            "CHAT_MESSAGE"
        );
        assert_eq!(kind(json!({})), "");
        assert_eq!(
            kind(json!({"type": 5, "new_message": {"id": "m", "conversation": {"id": "c"}}})),
            ""
        );
        assert_eq!(kind(json!({"type": ["NEW_MESSAGE"]})), "");
        assert_eq!(kind(json!({"type": "X".repeat(65)})), "");
        assert_eq!(kind(json!({"type": "<script>"})), "");
        assert_eq!(kind(json!({"type": "NEW MESSAGE"})), "");
        // Two payloads and no type: nothing to go on.
        assert_eq!(kind(json!({"new_message": {}, "post_update": {}})), "");
    }

    #[test]
    fn type_matching_ignores_case_and_spaces_only() {
        let msg = message_with("text", Some(json!("x")));
        for t in ["new_chatbot_message", " New_Chatbot_Message "] {
            assert!(
                matches!(
                    parse(json!({"type": t, "new_chatbot_message": msg})),
                    Ok(Event::NewChatbotMessage(_))
                ),
                "{t}"
            );
        }
        for t in ["NEW_MESSAGE", "new_message", "NEW_MESSAGE_ON_POST"] {
            assert!(
                matches!(
                    parse(json!({"type": t, "new_message": msg})),
                    Ok(Event::NewMessage { .. })
                ),
                "{t}"
            );
        }
        // Close is not the same: the payload key is not enough when the type says otherwise.
        assert!(matches!(
            parse(json!({"type": "NEW_CHATBOT_MESSAGES", "new_chatbot_message": msg})),
            Ok(Event::Unknown { .. })
        ));
        // A known type reads only its own payload key.
        assert_eq!(
            field_err(parse(json!({"type": "NEW_MESSAGE", "new_chatbot_message": msg}))),
            "new_message"
        );
        // No type at all: the one payload key decides.
        assert!(matches!(
            parse(json!({"new_chatbot_message": msg})),
            Ok(Event::NewChatbotMessage(_))
        ));
        assert!(matches!(
            parse(json!({"type": null, "payment_transaction": {"id": "t"}})),
            Ok(Event::PaymentTransaction { .. })
        ));
    }

    // docs/events/chat.md's examples for the media kinds, and a contact (the page has none).
    #[test]
    fn every_content_kind() {
        let base = |kind: &str, key: &str, data: Value| {
            json!({
                "id": "f1b2c3d4-9abc-11ef-bb22-5f6e7d8a9b0c",
                "conversation": {"id": "edbb9499-cccc-4d35-b21f-621fa95f2b3e", "type": "POST", "post_token": "gZd7omnS"},
                "sender": {"side": "BUYER", "type": "USER"},
                "type": kind, "sent_at": 1729430126140000_i64, key: data
            })
        };
        let cases = [
            (
                "TEXT",
                "text",
                json!("hello world"),
                Content::Text("hello world".into()),
            ),
            (
                "IMAGE",
                "image_data",
                json!({"link": "https://example.com/images/image1.jpg", "size_bytes": 204800, "height_px": 1080, "width_px": 1920}),
                Content::Image,
            ),
            (
                "FILE",
                "file_data",
                json!({"link": "https://example.com/files/document.pdf", "name": "document.pdf", "size_bytes": 1048576}),
                Content::File,
            ),
            (
                "VOICE",
                "voice_data",
                json!({"link": "https://example.com/voice/message.ogg", "size_bytes": 512000}),
                Content::Voice,
            ),
            (
                "VIDEO",
                "video_data",
                json!({"link": "https://example.com/videos/video.mp4",
                       "thumbnail_link": "https://example.com/videos/thumbnail.jpg", "size_bytes": "20971520"}),
                Content::Video,
            ),
            (
                "LOCATION",
                "location_data",
                json!({"latitude": 35.6892, "longitude": 51.3890}),
                Content::Location,
            ),
            (
                "CONTACT",
                "contact_data",
                json!({"name": "Ali", "phone": "+98912"}),
                Content::Contact,
            ),
        ];
        for (kind, key, data, want) in cases {
            let m = chatbot(base(kind, key, data.clone())).expect(kind);
            assert_eq!(m.content, want, "{kind}");
            assert_eq!(m.sender.side, Some(UserSide::Demand));
            assert_eq!(m.post_token.as_deref(), Some("gZd7omnS"));
            // Lower case type, and no type at all (the payload key decides).
            assert_eq!(
                chatbot(base(&kind.to_lowercase(), key, data.clone()))
                    .expect(kind)
                    .content,
                want
            );
            let mut untyped = base(kind, key, data);
            untyped.as_object_mut().expect("object").remove("type");
            assert_eq!(chatbot(untyped).expect(kind).content, want, "untyped {kind}");
        }
        // The text is kept raw, spaces, markup and all.
        let raw = "  /start CHAT c-1 <b>\n";
        assert_eq!(
            chatbot(message_with("text", Some(json!(raw)))).expect("ok").content,
            Content::Text(raw.into())
        );
        // Undocumented kinds, and a TEXT with no usable text.
        assert_eq!(
            chatbot(message_with("type", Some(json!("STICKER"))))
                .expect("ok")
                .content,
            Content::Other
        );
        assert_eq!(chatbot(message_with("text", None)).expect("ok").content, Content::Other);
        assert_eq!(
            chatbot(message_with("text", Some(json!(5)))).expect("ok").content,
            Content::Other
        );
        // The type wins over the keys present.
        let mut image_with_text = message_with("type", Some(json!("IMAGE")));
        image_with_text["image_data"] = json!({});
        assert_eq!(chatbot(image_with_text).expect("ok").content, Content::Image);
    }

    #[test]
    fn sent_at_as_micros_or_rfc3339() {
        let at = |v: Value| chatbot(message_with("sent_at", Some(v))).expect("valid").sent_at_micros;
        assert_eq!(at(json!(1729429926140000_i64)), Some(1_729_429_926_140_000));
        assert_eq!(at(json!(0)), Some(0));
        assert_eq!(at(json!("1730120961634000")), Some(1_730_120_961_634_000));
        // 2025-07-16T10:41:42Z: 20 285 days (55 years with 14 leap days, then 196 days into
        // 2025) * 86 400 + 38 502 s = 1 752 662 502 s.
        assert_eq!(at(json!("2025-07-16T10:41:42.648410Z")), Some(1_752_662_502_648_410));
        // 1729429926.14 s, written in UTC, in Tehran (+03:30) and five hours behind.
        assert_eq!(at(json!("2024-10-20T13:12:06.14Z")), Some(1_729_429_926_140_000));
        assert_eq!(at(json!("2024-10-20T16:42:06.140+03:30")), Some(1_729_429_926_140_000));
        assert_eq!(
            at(json!("2024-10-20T08:12:06.140000-05:00")),
            Some(1_729_429_926_140_000)
        );
        assert_eq!(at(json!("2024-10-20t13:12:06.140000000z")), Some(1_729_429_926_140_000));
        assert_eq!(at(json!("2024-10-20 13:12:06.1400001Z")), Some(1_729_429_926_140_000));
        assert_eq!(at(json!("2024-10-20T13:12:06Z")), Some(1_729_429_926_000_000));
        // Unknown time, never a failed event.
        for garbage in [
            json!(null),
            json!(""),
            json!("yesterday"),
            json!(-5),
            json!(1.5),
            json!(18446744073709551615_u64),
            json!("99999999999999999999"),
            json!("2024-10-20"),
            json!("1969-12-31T23:59:59Z"),
            json!({"seconds": 1}),
            json!([1]),
            json!(true),
        ] {
            assert_eq!(at(garbage.clone()), None, "{garbage}");
        }
        assert_eq!(
            chatbot(message_with("sent_at", None)).expect("valid").sent_at_micros,
            None
        );
    }

    #[test]
    fn rfc3339_conversion_is_exact() {
        let cases: [(&str, i64); 10] = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:00.000001Z", 1),
            ("1970-01-01T03:30:00+03:30", 0),
            ("1969-12-31T23:59:59Z", -1_000_000),
            // 2000 is a leap year (divisible by 400); 23:59:59.999999 at -05:00 is 04:59:59.999999
            // UTC on 1 March: 11 017 days * 86 400 + 17 999.999999 s.
            ("2000-02-29T23:59:59.999999-05:00", 951_886_799_999_999),
            // A leap second is the next minute's first second.
            ("2016-12-31T23:59:60Z", 1_483_228_800_000_000),
            ("2017-01-01T00:00:00Z", 1_483_228_800_000_000),
            ("2024-02-29T00:00:00.123456+14:00", 1_709_114_400_123_456),
            ("2024-10-20T13:12:06.14-00:00", 1_729_429_926_140_000),
            ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
        ];
        for (text, micros) in cases {
            assert_eq!(rfc3339_to_unix_micros(text), Some(micros), "{text}");
        }
        for bad in [
            "",
            "2024-10-20",
            "2024-10-20T13:12:06",
            "2024-10-20T13:12:06.Z",
            "2024-10-20T13:12:06+0330",
            "2024-10-20T13:12:06+03:3",
            "2024-10-20T13:12:06+24:00",
            "2024-10-20T13:12:06+03:60",
            "2024-10-20T13:12:06Z ",
            " 2024-10-20T13:12:06Z",
            "2024-10-20T13:12:06ZZ",
            "2024-10-20X13:12:06Z",
            "2024/10/20T13:12:06Z",
            "2024-13-20T13:12:06Z",
            "2024-00-20T13:12:06Z",
            "2024-10-00T13:12:06Z",
            "2024-04-31T13:12:06Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-10-20T24:00:00Z",
            "2024-10-20T13:60:00Z",
            "2024-10-20T13:12:61Z",
            "+2024-10-20T13:12:06Z",
            "2024-10-20T13:12:06.1234567890123456789012345678901234Z",
            "２０２４-10-20T13:12:06Z",
            "2024-1٠-20T13:12:06Z",
            "2024-10-20T13:12:-6Z",
        ] {
            assert_eq!(rfc3339_to_unix_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_bot_is_a_bot() {
        let sender = |v: Value| chatbot(message_with("sender", Some(v))).expect("valid").sender;
        assert_eq!(sender(json!({"type": "BOT"})).kind, SenderKind::Bot);
        assert_eq!(sender(json!({"type": "bot"})).kind, SenderKind::Bot);
        assert_eq!(sender(json!({"type": " Bot "})).kind, SenderKind::Bot);
        for v in [
            json!({"type": "HUMAN"}),
            json!({"type": "USER"}),
            json!({"type": "ROBOT"}),
            json!({"type": "BOTS"}),
            json!({"type": ""}),
            json!({"type": null}),
            json!({"type": 2}),
            json!({}),
            json!(null),
            json!("BOT"),
            json!(["BOT"]),
        ] {
            assert_eq!(sender(v.clone()).kind, SenderKind::Human, "{v}");
        }
        assert_eq!(
            chatbot(message_with("sender", None)).expect("valid").sender.kind,
            SenderKind::Human
        );
        let s = sender(json!({"type": "HUMAN", "side": "buyer", "user_id": "awoDdf1ecd2wac"}));
        assert_eq!(s.side, Some(UserSide::Demand));
        assert_eq!(s.user_id.as_deref(), Some("awoDdf1ecd2wac"));
        assert_eq!(
            sender(json!({"id": 77, "side": "NEITHER"})).user_id.as_deref(),
            Some("77")
        );
        assert_eq!(sender(json!({"side": 1})).side, None);
    }

    #[test]
    fn optional_fields_may_be_null() {
        let m = chatbot(json!({
            "id": "m-1",
            "conversation": {"id": "c-1", "type": null, "post_token": null},
            "sender": {"type": null, "side": null, "user_id": null},
            "type": null,
            "sent_at": null,
            "text": null,
            "image_data": null
        }))
        .expect("valid");
        assert_eq!(m.conversation_kind, ConversationKind::Unknown);
        assert_eq!(m.post_token, None);
        assert_eq!(
            m.sender,
            Sender {
                kind: SenderKind::Human,
                side: None,
                user_id: None
            }
        );
        assert_eq!(m.sent_at_micros, None);
        assert_eq!(m.content, Content::Other);
        // Only the two ids are needed; a flat conversation_id is accepted too.
        let flat = chatbot(json!({"id": "m", "conversation_id": "c", "post_token": "p"})).expect("valid");
        assert_eq!(
            (flat.conversation_id.as_str(), flat.post_token.as_deref()),
            ("c", Some("p"))
        );
        let empty_token = chatbot(json!({"id": "m", "conversation": {"id": "c", "post_token": ""}})).expect("valid");
        assert_eq!(empty_token.post_token, None);
        let numeric = chatbot(json!({"id": 12, "conversation": {"id": 34}})).expect("valid");
        assert_eq!((numeric.id.as_str(), numeric.conversation_id.as_str()), ("12", "34"));
    }

    #[test]
    fn messages_need_their_ids() {
        let cases = [
            (json!({"conversation": {"id": "c"}}), "message.id"),
            (json!({"id": null, "conversation": {"id": "c"}}), "message.id"),
            (json!({"id": "  ", "conversation": {"id": "c"}}), "message.id"),
            (json!({"id": "m"}), "message.conversation.id"),
            (
                json!({"id": "m", "conversation": {"type": "BOT"}}),
                "message.conversation.id",
            ),
            (json!({"id": "m", "conversation": "c"}), "message.conversation.id"),
        ];
        for (msg, field) in cases {
            assert_eq!(field_err(chatbot(msg.clone())), field, "{msg}");
        }
        assert_eq!(
            field_err(parse(json!({"type": "NEW_CHATBOT_MESSAGE"}))),
            "new_chatbot_message"
        );
        assert_eq!(
            field_err(parse(
                json!({"type": "NEW_CHATBOT_MESSAGE", "new_chatbot_message": null})
            )),
            "new_chatbot_message"
        );
        assert_eq!(
            field_err(parse(json!({"type": "NEW_MESSAGE", "new_message": "hello"}))),
            "new_message"
        );
    }

    #[test]
    fn oversized_or_unsafe_ids_are_refused() {
        let msg = |id: Value, conv: Value, token: Value, user: Value| {
            chatbot(json!({"id": id, "conversation": {"id": conv, "post_token": token}, "sender": {"user_id": user}}))
        };
        let ok = || (json!("m"), json!("c"), json!("p"), json!("u"));
        assert!(msg(ok().0, ok().1, ok().2, ok().3).is_ok());
        // The documented shapes pass: UUIDs, 8-letter tokens, base64 user ids, the odd
        // "aabbccdd-1234-5678-90ab-1c2d3e4f5g6h" of chat.md.
        assert!(msg(
            json!("aabbccdd-1234-5678-90ab-1c2d3e4f5g6h"),
            json!("62c82c02-6a71-4501-a1fd-4bf226b3aa78"),
            json!("AZTH74V2"),
            json!("6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI=")
        )
        .is_ok());
        assert!(msg(
            json!("m".repeat(MAX_ID)),
            ok().1,
            json!("p".repeat(MAX_POST_TOKEN)),
            ok().3
        )
        .is_ok());
        let bad_ids = [
            json!("m".repeat(MAX_ID + 1)),
            json!("a/b"),
            json!("a b"),
            json!("a.b"),
            json!("../etc"),
            json!("m\u{0}"),
            json!("م"),
            json!("a+b="),
            json!("<script>"),
            json!(-1),
            json!(1.5),
            json!(true),
            json!(["m"]),
            json!({"id": "m"}),
        ];
        for bad in &bad_ids {
            assert_eq!(
                field_err(msg(bad.clone(), ok().1, ok().2, ok().3)),
                "message.id",
                "{bad}"
            );
            assert_eq!(
                field_err(msg(ok().0, bad.clone(), ok().2, ok().3)),
                "message.conversation.id",
                "{bad}"
            );
            assert_eq!(
                field_err(msg(ok().0, ok().1, bad.clone(), ok().3)),
                "message.conversation.post_token",
                "{bad}"
            );
        }
        assert_eq!(
            field_err(msg(ok().0, ok().1, json!("p".repeat(MAX_POST_TOKEN + 1)), ok().3)),
            "message.conversation.post_token"
        );
        for bad in [
            json!("u".repeat(MAX_ID + 1)),
            json!("a b"),
            json!("a.b"),
            json!("<u>"),
            json!("%2F"),
            json!(false),
        ] {
            assert_eq!(
                field_err(msg(ok().0, ok().1, ok().2, bad.clone())),
                "message.sender.user_id",
                "{bad}"
            );
        }
        assert_eq!(
            field_err(chatbot(
                json!({"id": "m", "conversation": {"id": "c"}, "sender": {"id": "a;b"}})
            )),
            "message.sender.id"
        );
    }

    #[test]
    fn errors_are_short_and_never_echo_the_input() {
        let secret = "<img src=x onerror=alert(1)>";
        let errors = [
            parse_event(secret.as_bytes()).expect_err("not json"),
            parse(json!(secret)).expect_err("not an object"),
            chatbot(json!({"id": secret, "conversation": {"id": "c"}})).expect_err("bad id"),
            chatbot(json!({"id": "m", "conversation": {"id": "c", "post_token": secret}})).expect_err("bad token"),
        ];
        for err in errors {
            let text = err.to_string();
            assert!(!text.contains("img") && !text.contains("alert"), "{text}");
            assert!(text.len() < 80, "{text}");
        }
    }

    #[test]
    fn bodies_that_are_not_json_objects() {
        for body in [
            &b""[..],
            b"not json",
            b"{",
            b"{\"type\": \"NEW_MESSAGE\",}",
            b"\xff\xfe",
            b"type=NEW_MESSAGE",
        ] {
            assert_eq!(parse_event(body), Err(EventError::NotJson), "{body:?}");
        }
        for body in [
            &b"[]"[..],
            b"null",
            b"true",
            b"42",
            b"\"NEW_MESSAGE\"",
            b"[{\"type\": \"NEW_MESSAGE\"}]",
        ] {
            assert_eq!(parse_event(body), Err(EventError::NotObject), "{body:?}");
        }
    }

    #[test]
    fn hostile_bodies_do_not_panic() {
        // Nesting far past serde_json's recursion limit, at the top and inside the message.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_event(deep.as_bytes()), Err(EventError::NotJson));
        let deep_in_message = format!(
            r#"{{"type":"NEW_CHATBOT_MESSAGE","new_chatbot_message":{{"id":"m","conversation":{{"id":"c"}},"text":{}1{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(parse_event(deep_in_message.as_bytes()), Err(EventError::NotJson));
        // Nesting within the limit, in metadata and in a media payload, is just data.
        let nested = (0..100).fold(json!("x"), |v, _| json!({ "k": v }));
        let event = parse(
            json!({"type": "NEW_MESSAGE", "metadata": nested, "new_message": message_with("image_data", Some(nested.clone()))}),
        );
        assert!(matches!(event, Ok(Event::NewMessage { metadata: Some(_), .. })));
        // Huge numbers everywhere a number may go.
        for huge in [
            "1e400",
            "-1e400",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "18446744073709551616",
        ] {
            let body = format!(
                r#"{{"type":"PAYMENT_TRANSACTION","transaction":{{"id":"t","cost_rials":{huge},"state":{huge},"type":{huge},"created_at":{huge}}}}}"#
            );
            let _ = parse_event(body.as_bytes());
            let body = format!(
                r#"{{"type":"NEW_CHATBOT_MESSAGE","new_chatbot_message":{{"id":{huge},"conversation":{{"id":"c"}},"sent_at":{huge}}}}}"#
            );
            let _ = parse_event(body.as_bytes());
        }
        let max = parse(
            json!({"type": "PAYMENT_TRANSACTION", "transaction": {"id": "t", "cost_rials": u64::MAX, "state": u64::MAX}}),
        );
        assert!(matches!(
            max,
            Ok(Event::PaymentTransaction {
                transaction: Transaction { cost_rials: None, .. },
                ..
            })
        ));
        // A u64 id is its decimal text; the time far in the future is kept, not overflowed.
        let big = chatbot(json!({"id": u64::MAX, "conversation": {"id": "c"}, "sent_at": i64::MAX})).expect("valid");
        assert_eq!(big.id, "18446744073709551615");
        assert_eq!(big.sent_at_micros, Some(i64::MAX));
        // A long body of text survives untouched.
        let long = "ب".repeat(100_000);
        assert_eq!(
            chatbot(message_with("text", Some(json!(long)))).expect("valid").content,
            Content::Text(long)
        );
    }

    /// Every field of every envelope set to every JSON type: never a panic, and a field the
    /// event can do without never fails it.
    #[test]
    fn wrong_types_for_every_field() {
        let values = [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(1.5),
            json!(u64::MAX),
            json!(""),
            json!("x y"),
            json!([]),
            json!([1, "a"]),
            json!({}),
            json!({"a": {"b": []}}),
        ];
        let mut envelopes = vec![
            json!({"type": "NEW_CHATBOT_MESSAGE", "new_chatbot_message": {
                "id": "m", "conversation": {"id": "c", "type": "BOT", "post_token": "p"},
                "sender": {"type": "HUMAN", "side": "BUYER", "user_id": "u"}, "type": "TEXT", "sent_at": 1, "text": "t",
                "image_data": {"link": "l"}, "file_data": {}, "voice_data": {}, "video_data": {},
                "location_data": {"latitude": 1.0}, "contact_data": {"phone": "+98"}}}),
            json!({"type": "NEW_MESSAGE", "metadata": {"k": "v"}, "new_message": {"id": "m", "conversation": {"id": "c"}}}),
            json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": "u"}}),
            json!({"type": "POST_UPDATE", "metadata": {}, "post_update": {"type": "PUBLISH", "post": {
                "token": "p", "category": "c", "city": "c", "district": "d", "chat_enabled": true,
                "first_published_at": "2024-10-20T13:12:06Z", "data": {}}}}),
            json!({"type": "PAYMENT_TRANSACTION", "metadata": {}, "transaction": {"id": "t", "cost_rials": 1,
                "extra_details": "e", "state": "TRANSACTION_STATE_PENDING", "type": "TRANSACTION_TYPE_REORDER",
                "app_slug": "a", "created_at": "2024-10-20T13:12:06Z"}}),
        ];
        // Fields whose loss (or a bad value) may rightly fail the event.
        let essential = [
            "/type",
            "/new_chatbot_message",
            "/new_chatbot_message/id",
            "/new_chatbot_message/conversation",
            "/new_chatbot_message/conversation/id",
            "/new_chatbot_message/conversation/post_token",
            "/new_chatbot_message/sender",
            "/new_chatbot_message/sender/user_id",
            "/new_message",
            "/new_message/id",
            "/new_message/conversation",
            "/new_message/conversation/id",
            "/user_access_revocation",
            "/user_access_revocation/user_id",
            "/post_update",
            "/post_update/post",
            "/post_update/post/token",
            "/transaction",
            "/transaction/id",
        ];
        fn paths(v: &Value, at: String, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, child) in m {
                    let p = format!("{at}/{k}");
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
        }
        let mut checked = 0;
        for envelope in envelopes.drain(..) {
            assert!(parse(envelope.clone()).is_ok(), "{envelope}");
            let mut all = Vec::new();
            paths(&envelope, String::new(), &mut all);
            for path in all {
                for value in &values {
                    let mut hostile = envelope.clone();
                    *hostile.pointer_mut(&path).expect("path") = value.clone();
                    let result = parse(hostile);
                    if !essential.contains(&path.as_str()) {
                        assert!(result.is_ok(), "{path} = {value}: {result:?}");
                    } else if let Err(e) = result {
                        assert!(matches!(e, EventError::Field { .. }), "{path} = {value}: {e:?}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }
}
