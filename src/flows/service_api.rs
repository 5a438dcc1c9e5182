//! The page's door to the services: `GET /api/<service>` and `POST /api/<service>/<op>`, and
//! the files services serve (`GET /ics/<conversation key>-<name>.ics`). Authenticates, checks
//! the body's shape and its idempotency key once, and hands the rest to the conversation's
//! object, where the service runs.

use crate::config::Config;
use crate::delivery::conversation_key;
use crate::error::{AppError, AppResult};
use crate::flows::divar_auth::json_body;
use crate::flows::session::authenticate;
use crate::ids::IdempotencyKey;
use crate::objects::conversation::{self, ConversationCommand};
use crate::platform::Platform;
use crate::services::ServiceId;
use crate::web::{Request, Response};

const BODY_LIMIT: usize = 4 * 1024;

/// Every service operation's body is a JSON object with the client's idempotency key.
#[derive(serde::Deserialize)]
struct Keyed {
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// `GET /api/<service>`: what the page shows.
pub async fn view<P: Platform>(p: &P, cfg: &Config, req: &Request, service: ServiceId) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let conversation_id = session.conversation_id()?;
    let command = ConversationCommand::View {
        conversation_id: conversation_id.to_string(),
        service,
        actor: session.actor(),
    };
    conversation::call(p.objects(), &conversation_key(conversation_id), &command).await
}

/// `POST /api/<service>/<op>` with a JSON object carrying `idempotency_key`.
pub async fn act<P: Platform>(p: &P, cfg: &Config, req: &Request, service: ServiceId, op: &str) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let raw = json_body(req, BODY_LIMIT)?;
    let body = std::str::from_utf8(raw).map_err(|_| AppError::BadRequest("the body is not UTF-8".into()))?;
    let keyed: Keyed = serde_json::from_slice(body.as_bytes())
        .map_err(|e| AppError::BadRequest(format!("the body must be a JSON object with idempotency_key: {e}")))?;
    let key = keyed
        .idempotency_key
        .ok_or_else(|| AppError::InvalidField {
            field: "idempotency_key".into(),
            why: "is required".into(),
        })
        .and_then(|k| IdempotencyKey::parse(&k))?;
    let conversation_id = session.conversation_id()?;
    let command = ConversationCommand::Act {
        conversation_id: conversation_id.to_string(),
        service,
        actor: session.actor(),
        op: op.to_string(),
        idempotency_key: key.as_str().to_string(),
        body: body.to_string(),
    };
    conversation::call(p.objects(), &conversation_key(conversation_id), &command).await
}

/// `GET /ics/<conversation key>-<proposal id>.ics`: the agreed visit for a calendar. The key
/// is the digest that names the conversation's object, so the URL reveals no id.
pub async fn calendar<P: Platform>(p: &P, req: &Request) -> AppResult<Response> {
    let name = req
        .path
        .strip_prefix("/ics/")
        .and_then(|n| n.strip_suffix(".ics"))
        .ok_or(AppError::NotFound)?;
    let (key, proposal_id) = name.split_once('-').ok_or(AppError::NotFound)?;
    let well_formed = key.len() == 64
        && key.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && (1..=32).contains(&proposal_id.len())
        && proposal_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed {
        return Err(AppError::NotFound);
    }
    let command = ConversationCommand::Resource {
        conversation_key: key.to_string(),
        service: ServiceId::Visit,
        name: proposal_id.to_string(),
    };
    conversation::call(p.objects(), key, &command).await
}

/// `POST /_selftest/storage`: the storage contract inside a real object. Only where
/// `KENAR_SELFTEST=on` (the end-to-end harness); a 404 everywhere else.
pub async fn selftest<P: Platform>(p: &P, cfg: &Config) -> AppResult<Response> {
    if !cfg.selftest {
        return Err(AppError::NotFound);
    }
    let mut name = [0u8; 16];
    crate::platform::random_bytes(&mut name).map_err(|e| AppError::Internal(e.to_string()))?;
    conversation::call(p.objects(), &crate::ids::hex(&name), &ConversationCommand::SelfTest).await
}
