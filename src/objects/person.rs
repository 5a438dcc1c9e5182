//! A person's object: their grants (one per conversation, one per post they sell on), the token
//! manager that refreshes them one at a time, their assistants' settings and the events
//! subscriptions kept alive for them (`seller`, `delivery::subscriptions`), and the post
//! conversations the events revealed. Revoking a person is one step here. Named by
//! `PersonKey`, a digest of the user id.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::seller::{self, AssistantView, Writer};
use super::sql::{Sql, StoreError};
use super::ObjectHost;
use crate::config::Config;
use crate::crypto::Sealer;
use crate::delivery::subscriptions::{self, Kept};
use crate::delivery::tokens::{self, Grant, TokenStatus};
use crate::delivery::{GrantFor, PersonKey};
use crate::error::AppError;
use crate::platform::{ObjectClass, Objects};
use crate::services::assistant::Settings;
use crate::web::Response;

/// How many of a post's conversations the seller's page lists.
pub const LIST_LIMIT: usize = 50;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonCommand {
    SaveGrant {
        person: PersonKey,
        scope: GrantFor,
        grant: Grant,
    },
    Token {
        person: PersonKey,
        scope: GrantFor,
        #[serde(default)]
        rejected: Option<String>,
    },
    /// The person revoked the app's access at Divar (`USER_ACCESS_REVOCATION`): everything of
    /// theirs goes, in one transaction, and nothing more is sent for them until they consent
    /// again.
    Revoke { person: PersonKey },
    /// Divar refused this access token for good (403, or 401 after a refresh).
    Forget {
        person: PersonKey,
        scope: GrantFor,
        refused: String,
    },
    /// The seller's page: their assistant for a post and the post's conversations.
    Assistant { person: PersonKey, post_token: String },
    /// The seller saved their assistant's settings; the subscription follows them.
    SaveAssistant {
        person: PersonKey,
        post_token: String,
        settings: Settings,
    },
    /// The seller just granted the post's scopes: the assistant is on, subscribe now.
    Subscribe { person: PersonKey, post_token: String },
    /// A message on the seller's post (an event of their subscription): noted in the post's
    /// list; answers the assistant's settings when it is on and may speak.
    PostMessage {
        person: PersonKey,
        post_token: String,
        conversation_key: String,
        from: Writer,
        text: String,
        at_ms: u64,
    },
}

fn internal(e: impl std::fmt::Display) -> Response {
    AppError::Internal(e.to_string()).to_response()
}

fn store(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn has_grant<H: ObjectHost>(h: &H, sealer: &Sealer, person: &PersonKey, post_token: &str) -> Result<bool, StoreError> {
    let name = GrantFor::Post(post_token.to_string()).storage_name();
    Ok(tokens::load(h.sql(), sealer, (person, &name))?.is_some())
}

/// The seller's page: status, settings and the post's conversations.
fn assistant_view<H: ObjectHost>(
    h: &H,
    sealer: &Sealer,
    person: &PersonKey,
    post_token: &str,
) -> Result<Vec<u8>, StoreError> {
    let row = seller::load(h.sql(), post_token)?;
    let granted = has_grant(h, sealer, person, post_token)?;
    let listed = seller::conversations(h.sql(), sealer, person, post_token, LIST_LIMIT)?;
    encode(&AssistantView::new(row, granted, listed))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(store)
}

/// Runs one command in the person's object.
pub async fn handle<H: ObjectHost>(h: &H, cfg: &Config, command: &[u8]) -> Response {
    if let Err(e) = super::ensure_schema(h, &[tokens::SCHEMA, seller::SCHEMA]) {
        return internal(e);
    }
    let Ok(command) = serde_json::from_slice::<PersonCommand>(command) else {
        return super::bad_command("person");
    };
    match run(h, cfg, command).await {
        Ok(body) => Response::json_bytes(200, body),
        Err(e) => internal(e),
    }
}

/// Runs a command; the answer is its JSON body.
async fn run<H: ObjectHost>(h: &H, cfg: &Config, command: PersonCommand) -> Result<Vec<u8>, StoreError> {
    let sealer = Sealer::new(&cfg.token_encryption_key);
    match command {
        PersonCommand::SaveGrant { person, scope, grant } => {
            tokens::save(h.sql(), &sealer, (&person, &scope.storage_name()), &grant, h.now_ms())?;
            encode(&json!({ "saved": true }))
        }
        PersonCommand::Token {
            person,
            scope,
            rejected,
        } => {
            let status = tokens::token(h, cfg, (&person, &scope.storage_name()), rejected.as_deref()).await?;
            if let (GrantFor::Post(post), TokenStatus::Ready(token)) = (&scope, &status) {
                // A send refreshed the post's token: the subscription made with the old one
                // dies with it, so the alarm makes a new one right away.
                let subscribed_with = seller::load(h.sql(), post)?.and_then(|r| r.subscribed_with);
                if subscribed_with.is_some_and(|d| d != seller::token_digest(token)) {
                    h.schedule(h.now_ms()).await;
                }
            }
            encode(&status)
        }
        PersonCommand::Revoke { .. } => {
            let (grants, assistants) = h
                .sql()
                .transaction(|| Ok::<_, StoreError>((tokens::forget_all(h.sql())?, seller::forget_all(h.sql())?)))?;
            h.unschedule().await;
            encode(&json!({ "revoked_grants": grants, "assistants": assistants }))
        }
        PersonCommand::Forget { person, scope, refused } => {
            let forgotten = tokens::forget_refused(h.sql(), &sealer, (&person, &scope.storage_name()), &refused)?;
            encode(&json!({ "forgotten": forgotten }))
        }
        PersonCommand::Assistant { person, post_token } => assistant_view(h, &sealer, &person, &post_token),
        PersonCommand::SaveAssistant {
            person,
            post_token,
            settings,
        } => {
            seller::save_settings(h.sql(), (&person, &post_token), &settings, h.now_ms())?;
            if settings.enabled {
                subscriptions::keep(h, cfg, &post_token, false).await?;
            }
            subscriptions::rearm(h, cfg).await?;
            assistant_view(h, &sealer, &person, &post_token)
        }
        PersonCommand::Subscribe { person, post_token } => {
            let mut settings = seller::load(h.sql(), &post_token)?
                .map(|r| r.settings)
                .unwrap_or_default();
            settings.enabled = true;
            seller::save_settings(h.sql(), (&person, &post_token), &settings, h.now_ms())?;
            // A new grant is a new token: the subscription is made with it now.
            let kept = subscriptions::keep(h, cfg, &post_token, true).await?;
            subscriptions::rearm(h, cfg).await?;
            encode(&json!({ "subscribed": kept == Kept::Subscribed }))
        }
        PersonCommand::PostMessage {
            person,
            post_token,
            conversation_key,
            from,
            text,
            at_ms,
        } => {
            let row = h.sql().transaction(|| {
                let row = seller::load(h.sql(), &post_token)?;
                // Nothing is kept for a post without an assistant (never set up, or revoked
                // while an event was on its way).
                if row.is_some() {
                    seller::note_message(
                        h.sql(),
                        &sealer,
                        (&person, &post_token, &conversation_key),
                        (from, &text, at_ms),
                    )?;
                }
                Ok::<_, StoreError>(row)
            })?;
            let speaks = match row {
                Some(r) if r.settings.enabled && has_grant(h, &sealer, &person, &post_token)? => Some(r.settings),
                _ => None,
            };
            #[derive(Serialize)]
            struct Answer {
                assistant: Option<Settings>,
            }
            encode(&Answer { assistant: speaks })
        }
    }
}

/// The alarm: keeps the person's events subscriptions alive.
pub async fn alarm<H: ObjectHost>(h: &H, cfg: &Config) {
    if let Err(e) = super::ensure_schema(h, &[tokens::SCHEMA, seller::SCHEMA]) {
        h.log(&format!("person alarm: {e}"));
        return;
    }
    if let Err(e) = subscriptions::renew_all(h, cfg).await {
        h.log(&format!("person alarm: {e}"));
        // Try again later rather than never.
        h.schedule(h.now_ms() + subscriptions::RETRY_MS).await;
    }
}

/// One command to the person's object, its answer read straight into `T` (from bytes, like
/// every other JSON the worker reads, so each type's decoder is linked once).
async fn call<O: Objects, T: serde::de::DeserializeOwned>(
    objects: &O,
    person: &PersonKey,
    command: &PersonCommand,
) -> Result<T, String> {
    let body = serde_json::to_string(command).map_err(|e| e.to_string())?;
    let response = objects
        .call(ObjectClass::Person, person.as_str(), body)
        .await
        .map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("person object answered {}", response.status));
    }
    serde_json::from_slice(&response.body).map_err(|e| e.to_string())
}

/// A usable token for `person`'s grant `scope`, from their object.
pub async fn token<O: Objects>(
    objects: &O,
    person: &PersonKey,
    scope: &GrantFor,
    rejected: Option<&str>,
) -> TokenStatus {
    let command = PersonCommand::Token {
        person: person.clone(),
        scope: scope.clone(),
        rejected: rejected.map(str::to_string),
    };
    call(objects, person, &command)
        .await
        .unwrap_or_else(TokenStatus::Unavailable)
}

pub async fn save_grant<O: Objects>(
    objects: &O,
    person: &PersonKey,
    scope: &GrantFor,
    grant: Grant,
) -> Result<(), String> {
    let command = PersonCommand::SaveGrant {
        person: person.clone(),
        scope: scope.clone(),
        grant,
    };
    call::<_, Value>(objects, person, &command).await.map(|_| ())
}

/// Removes everything the person's object holds for them.
pub async fn revoke<O: Objects>(objects: &O, person: &PersonKey) -> Result<Value, String> {
    call(objects, person, &PersonCommand::Revoke { person: person.clone() }).await
}

/// Drops the grant whose access token Divar refused for good; a grant saved since stays.
pub async fn forget<O: Objects>(
    objects: &O,
    person: &PersonKey,
    scope: &GrantFor,
    refused: &str,
) -> Result<(), String> {
    let command = PersonCommand::Forget {
        person: person.clone(),
        scope: scope.clone(),
        refused: refused.to_string(),
    };
    call::<_, Value>(objects, person, &command).await.map(|_| ())
}

/// The seller's assistant for a post, as their page shows it (before the conversations'
/// own states are added).
pub async fn assistant<O: Objects>(objects: &O, person: &PersonKey, post_token: &str) -> Result<Value, String> {
    let command = PersonCommand::Assistant {
        person: person.clone(),
        post_token: post_token.to_string(),
    };
    call(objects, person, &command).await
}

pub async fn save_assistant<O: Objects>(
    objects: &O,
    person: &PersonKey,
    post_token: &str,
    settings: Settings,
) -> Result<Value, String> {
    let command = PersonCommand::SaveAssistant {
        person: person.clone(),
        post_token: post_token.to_string(),
        settings,
    };
    call(objects, person, &command).await
}

/// After the seller granted the post's scopes.
pub async fn subscribe<O: Objects>(objects: &O, person: &PersonKey, post_token: &str) -> Result<bool, String> {
    let command = PersonCommand::Subscribe {
        person: person.clone(),
        post_token: post_token.to_string(),
    };
    call::<_, Value>(objects, person, &command)
        .await
        .map(|v| v["subscribed"].as_bool().unwrap_or(false))
}

/// A message on the seller's post, seen through their subscription: `Some(settings)` when the
/// assistant is on and may speak for them.
pub async fn post_message<O: Objects>(
    objects: &O,
    person: &PersonKey,
    (post_token, conversation_key): (&str, &str),
    (from, text, at_ms): (Writer, &str, u64),
) -> Result<Option<Settings>, String> {
    let command = PersonCommand::PostMessage {
        person: person.clone(),
        post_token: post_token.to_string(),
        conversation_key: conversation_key.to_string(),
        from,
        text: text.to_string(),
        at_ms,
    };
    #[derive(serde::Deserialize)]
    struct Answer {
        assistant: Option<Settings>,
    }
    call::<_, Answer>(objects, person, &command).await.map(|a| a.assistant)
}
