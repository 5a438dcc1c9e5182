//! The seller's page for their assistant: `GET /api/assistant` and
//! `POST /api/assistant/settings`. Only a seller who opened the add-on from their post gets
//! it. The settings and the list of the post's conversations come from the seller's object;
//! each listed conversation's own object adds what its services say of it (the visit, how
//! often the assistant answered, whether the seller took over).

use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::flows::divar_auth::json_body;
use crate::flows::session::authenticate;
use crate::ids::IdempotencyKey;
use crate::objects::conversation::{self, ConversationCommand};
use crate::objects::person;
use crate::platform::Platform;
use crate::services::assistant::Settings;
use crate::web::{Request, Response};

const BODY_LIMIT: usize = 8 * 1024;
/// Conversations whose own objects are asked for their state, per page load: each is one
/// subrequest, and a Worker has 50 on the Free plan.
const GLANCE_LIMIT: usize = 20;

/// `GET /api/assistant`.
pub async fn view<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let post_token = match session.seller_post() {
        Ok(post) => post.to_string(),
        // Not an error for the page: it just has no assistant to show this person.
        Err(why) => return Ok(Response::json(200, &json!({ "available": false, "why": why.word() }))),
    };
    let view = person::assistant(p.objects(), &session.person(), &post_token)
        .await
        .map_err(AppError::Internal)?;
    Ok(Response::json(200, &with_glances(p, view).await))
}

/// `POST /api/assistant/settings` with `{"idempotency_key", "settings"}`.
pub async fn save<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let post_token = session.seller_post()?.to_string();
    let raw = json_body(req, BODY_LIMIT)?;
    let body: Value = serde_json::from_slice(raw)
        .map_err(|e| AppError::BadRequest(format!("the body must be a JSON object: {e}")))?;
    // Saving the same settings twice is the same save; the key is checked for its shape only,
    // so the page sends one like every other action.
    if let Some(key) = body.get("idempotency_key") {
        IdempotencyKey::parse(key.as_str().unwrap_or(""))?;
    }
    let settings = Settings::from_page(body.get("settings").unwrap_or(&Value::Null))?;
    let view = person::save_assistant(p.objects(), &session.person(), &post_token, settings)
        .await
        .map_err(AppError::Internal)?;
    Ok(Response::json(200, &with_glances(p, view).await))
}

/// Adds each listed conversation's own state (from its object) and drops the keys that name
/// the objects: the page shows no identifiers.
async fn with_glances<P: Platform>(p: &P, mut view: Value) -> Value {
    view["available"] = Value::Bool(true);
    let Some(list) = view["conversations"].as_array_mut() else {
        return view;
    };
    for (i, entry) in list.iter_mut().enumerate() {
        let key = entry
            .as_object_mut()
            .and_then(|o| o.remove("key"))
            .and_then(|k| k.as_str().map(str::to_string));
        let glance = match key {
            Some(key) if i < GLANCE_LIMIT => glance(p, &key).await,
            _ => Value::Null,
        };
        entry["visit"] = glance.get("visit").cloned().unwrap_or(Value::Null);
        entry["replies"] = glance
            .get("assist")
            .and_then(|a| a.get("replies"))
            .cloned()
            .unwrap_or(json!(0));
        entry["seller_joined"] = glance.get("seller_joined").cloned().unwrap_or(Value::Bool(false));
    }
    view
}

/// A conversation's state for the list; nothing when its object cannot say (the list still
/// shows the conversation).
async fn glance<P: Platform>(p: &P, key: &str) -> Value {
    match conversation::call(p.objects(), key, &ConversationCommand::Glance).await {
        Ok(r) if r.status == 200 => serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
