//! Sending into Divar, below the services: the outbox each conversation keeps in its object
//! (`outbox`), the engine that drains it in order with retries (`engine`), the token manager
//! each person's object runs (`tokens`), and the events subscriptions it keeps alive for a
//! seller's assistant (`subscriptions`). A service only says what to post and to whom.

pub mod engine;
pub mod outbox;
pub mod subscriptions;
pub mod tokens;

use serde::{Deserialize, Serialize};

use crate::crypto::digest_hex;
use crate::kenar::message::{BotMessage, ConversationMessage};

/// Names a person's object: a digest, so storage and logs never show the id. Without a user id
/// (Divar's v2 field is nullable) a launch session stands in for the person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonKey(String);

impl PersonKey {
    pub fn of_user(user_id: &str) -> Self {
        PersonKey(digest_hex(&["person", &format!("user:{user_id}")]))
    }
    pub fn of_session(session_id: &str) -> Self {
        PersonKey(digest_hex(&["person", &format!("session:{session_id}")]))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A key handed back to us (in events metadata): exactly the digest's shape.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| PersonKey(raw.to_string()))
    }
}

/// Names a conversation's object, and its calendar links: a digest of Divar's id.
pub fn conversation_key(conversation_id: &str) -> String {
    digest_hex(&["conversation", conversation_id])
}

/// What a grant covers: one conversation (the page's consent) or every conversation of one
/// post, as its seller (the assistant's consent). A person holds at most one of each.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantFor {
    Conversation(String),
    Post(String),
}

impl GrantFor {
    /// The name the grant is stored under. A conversation's grant keeps the bare id it has
    /// always been stored under; a post's is prefixed, and Divar's conversation ids are UUIDs.
    pub fn storage_name(&self) -> String {
        match self {
            GrantFor::Conversation(id) => id.clone(),
            GrantFor::Post(token) => format!("post:{token}"),
        }
    }
}

/// Where a message goes and on whose authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// A post's conversation, on behalf of `person`, with the grant they gave for it.
    User { conversation_id: String, person: PersonKey },
    /// The app's bot conversation with someone: the API key alone.
    Bot { conversation_id: String },
    /// A post's conversation, on behalf of its seller, with the grant they gave for every
    /// conversation of the post (the seller's assistant).
    Poster {
        conversation_id: String,
        person: PersonKey,
        post_token: String,
    },
}

impl Destination {
    /// Messages keep their order per sender: one lane per destination.
    pub fn lane(&self) -> String {
        match self {
            // The seller's own messages and their assistant's share one lane: one sender.
            Destination::User { person, .. } | Destination::Poster { person, .. } => {
                format!("user:{}", person.as_str())
            }
            Destination::Bot { .. } => "bot".into(),
        }
    }
}

/// What goes out, in the shape its destination takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Conversation(ConversationMessage),
    Bot(BotMessage),
}
