//! A person's grants and the one token manager that serves them, run inside the person's
//! object. One writer per person means a refresh is never raced by another refresh of the same
//! grant: a second caller finds the refresh lease and waits for its result instead of spending
//! the rotated refresh token again. Tokens are sealed at rest (AES-256-GCM, bound to the row).

use serde::{Deserialize, Serialize};

use super::PersonKey;
use crate::config::Config;
use crate::crypto::{digest_hex, Sealer};
use crate::kenar::client::token_request;
use crate::kenar::oauth::{refresh_form, ClientCredentials, TokenAnswer, TokenError};
use crate::objects::sql::{Sql, SqlValue, StoreError};
use crate::objects::ObjectHost;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    refreshing_until INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
)"];

/// Divar's access tokens live an hour; an answer without `expires_in` is taken to mean that.
const DEFAULT_ACCESS_SECS: u64 = 3600;
/// How often a caller that found a refresh under way looks again.
const REFRESH_POLL_MS: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at_ms: u64,
    pub scope: Option<String>,
}

impl Grant {
    /// Treated as expired a minute early, so a token never dies in flight.
    pub fn access_usable(&self, now_ms: u64) -> bool {
        now_ms + 60_000 < self.expires_at_ms
    }

    pub fn from_answer(answer: TokenAnswer, previous_refresh: Option<String>, now_ms: u64) -> Self {
        Grant {
            access_token: answer.access_token,
            // Hydra rotates refresh tokens; keep the old one only if none came back.
            refresh_token: answer.refresh_token.or(previous_refresh),
            expires_at_ms: now_ms + answer.expires_in.unwrap_or(DEFAULT_ACCESS_SECS) * 1000,
            scope: answer.scope,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "token", rename_all = "snake_case")]
pub enum TokenStatus {
    Ready(String),
    /// No grant, or one Divar no longer honours: the person must consent (again).
    ConsentNeeded,
    /// Divar's token endpoint is failing; try later.
    Unavailable(String),
}

/// A grant is for one conversation; its row id is a digest, so storage shows no id.
fn grant_id(conversation_id: &str) -> String {
    digest_hex(&["grant", conversation_id])
}

fn bound_to(person: &PersonKey, id: &str) -> String {
    format!("grant:{}:{id}", person.as_str())
}

pub fn save<S: Sql>(
    s: &S,
    sealer: &Sealer,
    (person, conversation_id): (&PersonKey, &str),
    grant: &Grant,
    now_ms: u64,
) -> Result<(), StoreError> {
    let id = grant_id(conversation_id);
    let json = serde_json::to_vec(grant).map_err(|e| StoreError(e.to_string()))?;
    let sealed = sealer
        .seal(&json, &bound_to(person, &id))
        .map_err(|e| StoreError(e.to_string()))?;
    s.exec(
        "INSERT INTO grants (grant_id, sealed, refreshing_until, updated_at) VALUES (?, ?, 0, ?)
         ON CONFLICT(grant_id) DO UPDATE SET sealed = excluded.sealed, refreshing_until = 0,
         updated_at = excluded.updated_at",
        &[id.into(), sealed.into(), now_ms.into()],
    )?;
    Ok(())
}

pub fn forget<S: Sql>(s: &S, conversation_id: &str) -> Result<(), StoreError> {
    s.exec(
        "DELETE FROM grants WHERE grant_id = ?",
        &[grant_id(conversation_id).into()],
    )?;
    Ok(())
}

/// The stored grant and whether a refresh of it is under way (until when).
pub fn load<S: Sql>(
    s: &S,
    sealer: &Sealer,
    (person, conversation_id): (&PersonKey, &str),
) -> Result<Option<(Grant, u64)>, StoreError> {
    let id = grant_id(conversation_id);
    let Some(row) = s
        .exec(
            "SELECT sealed, refreshing_until FROM grants WHERE grant_id = ?",
            &[id.as_str().into()],
        )?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut it = row.into_iter();
    let sealed = it.next().and_then(SqlValue::into_string).unwrap_or_default();
    let refreshing_until = it.next().map(|v| v.as_u64()).unwrap_or(0);
    // A row that no longer opens (the key was rotated) is as good as no grant.
    let Ok(plain) = sealer.open(&sealed, &bound_to(person, &id)) else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&plain).ok().map(|g| (g, refreshing_until)))
}

fn set_refreshing<S: Sql>(s: &S, conversation_id: &str, until_ms: u64) -> Result<(), StoreError> {
    s.exec(
        "UPDATE grants SET refreshing_until = ? WHERE grant_id = ?",
        &[until_ms.into(), grant_id(conversation_id).into()],
    )?;
    Ok(())
}

/// What to do after looking at the stored grant.
enum Next {
    Answer(TokenStatus),
    Wait,
    Refresh(String),
}

/// A usable access token for `person` in `conversation_id`: the stored one while it lives, a
/// refreshed one after. `rejected` is a token Divar refused although our clock said it was
/// alive: refresh now, unless it was already replaced.
pub async fn token<H: ObjectHost>(
    h: &H,
    cfg: &Config,
    (person, conversation_id): (&PersonKey, &str),
    rejected: Option<&str>,
) -> Result<TokenStatus, StoreError> {
    let sealer = Sealer::new(&cfg.token_encryption_key);
    // The refresh lease outlives the token call it covers (one retry inside `token_request`).
    let lease_ms = 2 * u64::from(cfg.api_timeout_ms) + 1_000;
    let deadline = h.now_ms() + lease_ms + 1_000;
    let refresh_token = loop {
        let now = h.now_ms();
        let next = h.sql().transaction(|| {
            let Some((grant, refreshing_until)) = load(h.sql(), &sealer, (person, conversation_id))? else {
                return Ok::<_, StoreError>(Next::Answer(TokenStatus::ConsentNeeded));
            };
            if grant.access_usable(now) && rejected != Some(grant.access_token.as_str()) {
                return Ok(Next::Answer(TokenStatus::Ready(grant.access_token)));
            }
            if refreshing_until > now {
                return Ok(Next::Wait);
            }
            let Some(refresh_token) = grant.refresh_token.clone() else {
                forget(h.sql(), conversation_id)?;
                return Ok(Next::Answer(TokenStatus::ConsentNeeded));
            };
            set_refreshing(h.sql(), conversation_id, now + lease_ms)?;
            Ok(Next::Refresh(refresh_token))
        })?;
        match next {
            Next::Answer(status) => return Ok(status),
            Next::Refresh(refresh_token) => break refresh_token,
            Next::Wait if now >= deadline => {
                return Ok(TokenStatus::Unavailable("a refresh is taking too long".into()))
            }
            Next::Wait => h.sleep_ms(REFRESH_POLL_MS).await,
        }
    };
    let client_id = cfg.app_slug.clone();
    let redirect_uri = cfg.oauth_redirect_uri();
    let creds = ClientCredentials {
        client_id: &client_id,
        client_secret: cfg.oauth_client_secret.expose(),
        redirect_uri: &redirect_uri,
    };
    let answer = token_request(
        h.http(),
        cfg.kenar_oauth_base.as_str(),
        refresh_form(&creds, &refresh_token),
        cfg.api_timeout_ms,
    )
    .await;
    let now = h.now_ms();
    h.sql().transaction(|| match answer {
        Ok(answer) => {
            let fresh = Grant::from_answer(answer, Some(refresh_token), now);
            save(h.sql(), &sealer, (person, conversation_id), &fresh, now)?;
            h.log("oauth: refreshed a grant");
            Ok(TokenStatus::Ready(fresh.access_token))
        }
        Err(TokenError::Refused(_)) => {
            // Only this object refreshes this grant, so a refusal is about this very pair.
            forget(h.sql(), conversation_id)?;
            h.log("oauth: Divar refused a refresh; the person must consent again");
            Ok(TokenStatus::ConsentNeeded)
        }
        Err(TokenError::Misconfigured(code)) => {
            set_refreshing(h.sql(), conversation_id, 0)?;
            h.log(&format!(
                "oauth: Divar refused our client credentials on refresh ({code}); check KENAR_OAUTH_CLIENT_SECRET"
            ));
            Ok(TokenStatus::Unavailable("the token endpoint refused our client".into()))
        }
        Err(TokenError::Unavailable(why)) => {
            set_refreshing(h.sql(), conversation_id, 0)?;
            Ok(TokenStatus::Unavailable(why))
        }
    })
}
