//! A person's object: their grants (one per conversation), the token manager that refreshes
//! them one at a time, and, next, their event subscriptions; revoking a person is one step
//! here. Named by `PersonKey`, a digest of the user id.

use serde::{Deserialize, Serialize};

use super::sql::Sql;
use super::ObjectHost;
use crate::config::Config;
use crate::crypto::Sealer;
use crate::delivery::tokens::{self, Grant, TokenStatus};
use crate::delivery::PersonKey;
use crate::error::AppError;
use crate::platform::{ObjectClass, Objects};
use crate::web::Response;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonCommand {
    SaveGrant {
        person: PersonKey,
        conversation_id: String,
        grant: Grant,
    },
    Token {
        person: PersonKey,
        conversation_id: String,
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
        conversation_id: String,
        refused: String,
    },
}

fn internal(e: impl std::fmt::Display) -> Response {
    AppError::Internal(e.to_string()).to_response()
}

/// Runs one command in the person's object.
pub async fn handle<H: ObjectHost>(h: &H, cfg: &Config, command: &[u8]) -> Response {
    if let Err(e) = super::ensure_schema(h, &[tokens::SCHEMA]) {
        return internal(e);
    }
    let Ok(command) = serde_json::from_slice::<PersonCommand>(command) else {
        return super::bad_command("person");
    };
    let sealer = Sealer::new(&cfg.token_encryption_key);
    let result = match command {
        PersonCommand::SaveGrant {
            person,
            conversation_id,
            grant,
        } => tokens::save(h.sql(), &sealer, (&person, &conversation_id), &grant, h.now_ms())
            .map(|()| serde_json::json!({ "saved": true })),
        PersonCommand::Token {
            person,
            conversation_id,
            rejected,
        } => tokens::token(h, cfg, (&person, &conversation_id), rejected.as_deref())
            .await
            .and_then(|status| serde_json::to_value(status).map_err(|e| super::sql::StoreError(e.to_string()))),
        PersonCommand::Revoke { .. } => h
            .sql()
            .transaction(|| tokens::forget_all(h.sql()))
            .map(|grants| serde_json::json!({ "revoked_grants": grants })),
        PersonCommand::Forget {
            person,
            conversation_id,
            refused,
        } => tokens::forget_refused(h.sql(), &sealer, (&person, &conversation_id), &refused)
            .map(|forgotten| serde_json::json!({ "forgotten": forgotten })),
    };
    match result {
        Ok(body) => Response::json(200, &body),
        Err(e) => internal(e),
    }
}

async fn call<O: Objects>(
    objects: &O,
    person: &PersonKey,
    command: &PersonCommand,
) -> Result<serde_json::Value, String> {
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

/// A usable token for `person` in `conversation_id`, from their object.
pub async fn token<O: Objects>(
    objects: &O,
    person: &PersonKey,
    conversation_id: &str,
    rejected: Option<&str>,
) -> TokenStatus {
    let command = PersonCommand::Token {
        person: person.clone(),
        conversation_id: conversation_id.to_string(),
        rejected: rejected.map(str::to_string),
    };
    match call(objects, person, &command).await {
        Ok(value) => serde_json::from_value(value).unwrap_or_else(|e| TokenStatus::Unavailable(e.to_string())),
        Err(why) => TokenStatus::Unavailable(why),
    }
}

pub async fn save_grant<O: Objects>(
    objects: &O,
    person: &PersonKey,
    conversation_id: &str,
    grant: Grant,
) -> Result<(), String> {
    let command = PersonCommand::SaveGrant {
        person: person.clone(),
        conversation_id: conversation_id.to_string(),
        grant,
    };
    call(objects, person, &command).await.map(|_| ())
}

/// Removes everything the person's object holds for them.
pub async fn revoke<O: Objects>(objects: &O, person: &PersonKey) -> Result<serde_json::Value, String> {
    call(objects, person, &PersonCommand::Revoke { person: person.clone() }).await
}

/// Drops the grant whose access token Divar refused for good; a grant saved since stays.
pub async fn forget<O: Objects>(
    objects: &O,
    person: &PersonKey,
    conversation_id: &str,
    refused: &str,
) -> Result<(), String> {
    let command = PersonCommand::Forget {
        person: person.clone(),
        conversation_id: conversation_id.to_string(),
        refused: refused.to_string(),
    };
    call(objects, person, &command).await.map(|_| ())
}
