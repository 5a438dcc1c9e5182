//! A seller's side of their assistant, inside their person object: the settings per post, the
//! state of the post's events subscription, and the post's conversations as Divar's events
//! revealed them (Divar has no call that lists a post's conversations). Conversations are
//! kept by the digest that names their object, and their last message sealed, so this table
//! shows neither ids nor words.

use serde::{Deserialize, Serialize};

use super::sql::{Sql, SqlValue, StoreError};
use crate::crypto::{digest_hex, Sealer};
use crate::delivery::PersonKey;
use crate::services::assistant::Settings;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS assistants (
        post_token TEXT PRIMARY KEY,
        person TEXT NOT NULL,
        settings TEXT NOT NULL,
        subscribed_with TEXT,
        subscribed_at INTEGER NOT NULL DEFAULT 0,
        problem TEXT,
        updated_at INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS post_conversations (
        post_token TEXT NOT NULL,
        conversation_key TEXT NOT NULL,
        n INTEGER NOT NULL,
        last_sealed TEXT NOT NULL,
        last_at INTEGER NOT NULL,
        PRIMARY KEY (post_token, conversation_key)
    )",
];

/// How many conversations of one post are remembered; the page shows the newest.
const KEEP_PER_POST: i64 = 500;

/// Who wrote a post's message, as the seller's list says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Writer {
    Buyer,
    Seller,
    /// The app, on the seller's behalf (the assistant, or a visit message).
    App,
    Unknown,
}

/// One assistant's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssistantRow {
    /// Whose object this is: the alarm, which has no command to say so, needs it.
    pub person: PersonKey,
    pub settings: Settings,
    /// A digest of the access token the live subscription was made with.
    pub subscribed_with: Option<String>,
    pub subscribed_at_ms: u64,
    /// Why the last subscription attempt failed: a fixed word of ours.
    pub problem: Option<String>,
}

pub fn token_digest(access_token: &str) -> String {
    digest_hex(&["subscribed-with", access_token])
}

pub fn load<S: Sql>(s: &S, post_token: &str) -> Result<Option<AssistantRow>, StoreError> {
    let Some(row) = s
        .exec(
            "SELECT person, settings, subscribed_with, subscribed_at, problem FROM assistants WHERE post_token = ?",
            &[post_token.into()],
        )?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut it = row.into_iter();
    let person = it
        .next()
        .and_then(SqlValue::into_string)
        .and_then(|p| PersonKey::parse(&p))
        .ok_or_else(|| StoreError("an assistant row without its person".into()))?;
    let settings = super::sql::from_json(&it.next().unwrap_or(SqlValue::Null))?;
    Ok(Some(AssistantRow {
        person,
        settings,
        subscribed_with: it.next().and_then(SqlValue::into_string),
        subscribed_at_ms: it.next().map(|v| v.as_u64()).unwrap_or(0),
        problem: it.next().and_then(SqlValue::into_string),
    }))
}

/// The posts whose assistant is on.
pub fn enabled_posts<S: Sql>(s: &S) -> Result<Vec<String>, StoreError> {
    let rows = s.exec("SELECT post_token, settings FROM assistants ORDER BY post_token", &[])?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut it = row.into_iter();
            let post = it.next()?.into_string()?;
            let settings: Settings = super::sql::from_json(&it.next()?).ok()?;
            settings.enabled.then_some(post)
        })
        .collect())
}

pub fn save_settings<S: Sql>(
    s: &S,
    (person, post_token): (&PersonKey, &str),
    settings: &Settings,
    now_ms: u64,
) -> Result<(), StoreError> {
    s.exec(
        "INSERT INTO assistants (post_token, person, settings, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(post_token) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        &[
            post_token.into(),
            person.as_str().into(),
            super::sql::to_json(settings)?,
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// Records how the last subscription attempt went.
pub fn record_subscription<S: Sql>(
    s: &S,
    post_token: &str,
    outcome: Result<&str, &str>,
    now_ms: u64,
) -> Result<(), StoreError> {
    match outcome {
        Ok(token) => s.exec(
            "UPDATE assistants SET subscribed_with = ?, subscribed_at = ?, problem = NULL WHERE post_token = ?",
            &[token_digest(token).into(), now_ms.into(), post_token.into()],
        )?,
        Err(problem) => s.exec(
            "UPDATE assistants SET problem = ? WHERE post_token = ?",
            &[problem.into(), post_token.into()],
        )?,
    };
    Ok(())
}

fn bound_to(person: &PersonKey, post_token: &str, conversation_key: &str) -> String {
    format!("post-conversation:{}:{post_token}:{conversation_key}", person.as_str())
}

#[derive(Serialize, Deserialize)]
struct Last {
    text: String,
    from: Writer,
}

/// A message seen on the post: the conversation joins the list (numbered in order of first
/// sight) and its last message moves on, unless this one is older (a reordered delivery).
pub fn note_message<S: Sql>(
    s: &S,
    sealer: &Sealer,
    (person, post_token, conversation_key): (&PersonKey, &str, &str),
    (from, text, at_ms): (Writer, &str, u64),
) -> Result<(), StoreError> {
    let last = serde_json::to_vec(&Last {
        text: text.chars().take(300).collect(),
        from,
    })
    .map_err(|e| StoreError(e.to_string()))?;
    let sealed = sealer
        .seal(&last, &bound_to(person, post_token, conversation_key))
        .map_err(|e| StoreError(e.to_string()))?;
    s.exec(
        "INSERT INTO post_conversations (post_token, conversation_key, n, last_sealed, last_at)
         VALUES (?, ?, (SELECT COALESCE(MAX(n), 0) + 1 FROM post_conversations WHERE post_token = ?), ?, ?)
         ON CONFLICT(post_token, conversation_key) DO UPDATE SET last_sealed = excluded.last_sealed,
         last_at = excluded.last_at WHERE excluded.last_at >= post_conversations.last_at",
        &[
            post_token.into(),
            conversation_key.into(),
            post_token.into(),
            sealed.into(),
            at_ms.into(),
        ],
    )?;
    s.exec(
        "DELETE FROM post_conversations WHERE post_token = ? AND conversation_key NOT IN
         (SELECT conversation_key FROM post_conversations WHERE post_token = ? ORDER BY last_at DESC LIMIT ?)",
        &[post_token.into(), post_token.into(), SqlValue::Int(KEEP_PER_POST)],
    )?;
    Ok(())
}

/// One conversation of the post as the seller's list shows it; `key` names its object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedConversation {
    pub key: String,
    pub n: u64,
    pub last_text: String,
    pub last_from: Writer,
    pub last_at_ms: u64,
}

/// The post's conversations, newest activity first.
pub fn conversations<S: Sql>(
    s: &S,
    sealer: &Sealer,
    person: &PersonKey,
    post_token: &str,
    limit: usize,
) -> Result<Vec<ListedConversation>, StoreError> {
    let rows = s.exec(
        "SELECT conversation_key, n, last_sealed, last_at FROM post_conversations WHERE post_token = ?
         ORDER BY last_at DESC, n DESC LIMIT ?",
        &[post_token.into(), SqlValue::Int(limit as i64)],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut it = row.into_iter();
            let key = it.next()?.into_string()?;
            let n = it.next()?.as_u64();
            let sealed = it.next()?.into_string()?;
            let last_at_ms = it.next()?.as_u64();
            let last: Last = sealer
                .open(&sealed, &bound_to(person, post_token, &key))
                .ok()
                .and_then(|plain| serde_json::from_slice(&plain).ok())?;
            Some(ListedConversation {
                key,
                n,
                last_text: last.text,
                last_from: last.from,
                last_at_ms,
            })
        })
        .collect())
}

/// Everything of the seller's assistants: they revoked the app's access.
pub fn forget_all<S: Sql>(s: &S) -> Result<usize, StoreError> {
    let n = s
        .scalar("SELECT COUNT(*) FROM assistants", &[])?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    s.exec("DELETE FROM assistants", &[])?;
    s.exec("DELETE FROM post_conversations", &[])?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The seller's page: the assistant's status, its settings and the post's conversations.
#[derive(Debug, Serialize)]
pub struct AssistantView {
    /// `off`, `needs_consent` (on, but no grant for the post), `failing` (the subscription
    /// could not be made; `problem` says why) or `on`.
    pub status: &'static str,
    pub problem: Option<String>,
    pub settings: Settings,
    pub conversations: Vec<ListedConversation>,
}

impl AssistantView {
    pub fn new(row: Option<AssistantRow>, has_grant: bool, conversations: Vec<ListedConversation>) -> Self {
        let (status, problem, settings) = match row {
            Some(r) if r.settings.enabled && !has_grant => ("needs_consent", None, r.settings),
            Some(r) if r.settings.enabled && r.problem.is_some() => ("failing", r.problem, r.settings),
            Some(r) if r.settings.enabled => ("on", None, r.settings),
            Some(r) => ("off", None, r.settings),
            None => ("off", None, Settings::default()),
        };
        AssistantView {
            status,
            problem,
            settings,
            conversations,
        }
    }
}
