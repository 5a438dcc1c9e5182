//! The Kenar REST API the app calls: API key + bearer token checks, OAuth scope rules, request
//! bodies validated against Divar's OpenAPI, grpc-gateway error shapes, and injected faults.

use crate::faults::{self, grpc_code_for};
use crate::http::{header, json_response, GrpcError};
use crate::ids;
use crate::openapi;
use crate::state::{
    ApiRequest, EventStyle, HumanSenderType, Message, SentAtFormat, SimState, Subscription, TokenOwner,
};
use crate::webhooks::{chat_message_json, deliver_events, events_for_message};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::time::Duration;

const SEND_PATH: &str = "/v2/open-platform/conversations/{conversation_id}/messages";
const BOT_CONV_PATH: &str = "/v1/open-platform/chat/bot/conversations/{conversation_id}/messages";
const BOT_USER_PATH: &str = "/v1/open-platform/chat/bot/users/{user_id}/messages";
const SUBS_PATH: &str = "/v1/open-platform/events/subscriptions";
const USERS_PATH: &str = "/v1/open-platform/users";
const CONV_GET_PATH: &str = "/v1/open-platform/chat/conversations/{conversation_id}";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(SEND_PATH, post(conversation_send))
        .route(BOT_CONV_PATH, post(bot_send))
        .route(BOT_USER_PATH, post(bot_user_send))
        .route(SUBS_PATH, post(subscriptions))
        // The official SDK and the older `kenar` SDK "get user" with POST; the spec lists GET.
        .route(USERS_PATH, get(users).post(users))
        .route(CONV_GET_PATH, get(conversation_get))
        // The SDKs still expose the bot endpoints under their experimental prefix.
        .route(
            "/experimental/open-platform/chat/bot/conversations/{conversation_id}/messages",
            post(bot_send),
        )
        .route(
            "/experimental/open-platform/chat/bot/users/{user_id}/messages",
            post(bot_user_send),
        )
}

/// What a handler produced: the answer, the schema violations seen, and events to send after.
struct Outcome {
    result: Result<Value, GrpcError>,
    violations: Vec<String>,
    events: Vec<Value>,
}

impl Outcome {
    fn err(e: GrpcError, violations: Vec<String>) -> Self {
        Outcome {
            result: Err(e),
            violations,
            events: vec![],
        }
    }
}

struct Call<'a> {
    endpoint: &'static str,
    method: &'static str,
    path: String,
    headers: &'a HeaderMap,
    body: Option<&'a Bytes>,
}

/// The pipeline every endpoint shares: fault, API key, handler, request log, async events.
async fn run<F>(shared: AppState, call: Call<'_>, handler: F) -> Response
where
    F: FnOnce(&mut SimState, &TokenCheck) -> Outcome,
{
    let request_body = call.body.map(|b| {
        serde_json::from_slice::<Value>(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
    });
    let action = faults::take(&mut shared.lock().faults, call.endpoint);
    if let Some(a) = &action {
        if a.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if a.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(a.latency_ms)).await;
        }
    }
    let fault_desc = action.as_ref().map(|a| a.describe());
    let outcome = match action.as_ref().and_then(|a| a.status.map(|s| (s, a.retry_after))) {
        Some((status, retry_after)) => {
            let msg = if status == 429 {
                "rate limit exceeded (injected fault)".to_string()
            } else {
                format!("injected fault: HTTP {status}")
            };
            let mut e = GrpcError::new(status, grpc_code_for(status), msg);
            e.retry_after = retry_after;
            Outcome::err(e, vec![])
        }
        None => {
            let check = TokenCheck {
                api_key_ok: header(call.headers, "x-api-key") == Some(shared.config.api_key.as_str()),
                bearer: bearer_token(call.headers),
            };
            let mut st = shared.lock();
            if check.api_key_ok {
                handler(&mut st, &check)
            } else {
                Outcome::err(
                    GrpcError::unauthenticated("missing or invalid API key (x-api-key)"),
                    vec![],
                )
            }
        }
    };
    let (status, body, retry_after) = match &outcome.result {
        Ok(v) => (200, v.clone(), None),
        Err(e) => (e.status, e.body(), e.retry_after),
    };
    {
        let mut st = shared.lock();
        let id = st.next_id();
        let at_ms = st.now_ms();
        st.push_request(ApiRequest {
            id,
            at_ms,
            endpoint: call.endpoint.to_string(),
            method: call.method.to_string(),
            path: call.path,
            status,
            // Warnings (fields Divar would ignore) do not make a call invalid; our own e2e
            // tests still require none.
            valid: outcome.violations.iter().all(|v| v.starts_with("warning: ")),
            violations: outcome.violations,
            fault: fault_desc,
            request_body,
            response_body: body.clone(),
        });
    }
    if !outcome.events.is_empty() {
        // Divar notifies asynchronously; the app must not have to answer a webhook while it is
        // still waiting for this API call.
        let shared2 = shared.clone();
        let events = outcome.events;
        tokio::spawn(async move {
            deliver_events(&shared2, events).await;
        });
    }
    json_response(status, body, retry_after)
}

struct TokenCheck {
    api_key_ok: bool,
    bearer: Option<String>,
}

impl TokenCheck {
    fn owner(&self, st: &SimState) -> Result<TokenOwner, GrpcError> {
        let token = self
            .bearer
            .as_deref()
            .ok_or_else(|| GrpcError::unauthenticated("missing access token (Authorization: Bearer)"))?;
        st.token_owner(token)
            .ok_or_else(|| GrpcError::unauthenticated("invalid, expired or revoked access token"))
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let raw = header(headers, "authorization")?.trim();
    let (scheme, token) = raw.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_string())
}

/// The body if Divar would take it, and what was wrong with it: errors (then no body) or
/// warnings about what Divar would silently ignore.
fn body_check(path: &str, body: &Bytes, grids: &[&str]) -> (Option<Value>, Vec<String>) {
    match openapi::validate_body(path, "post", body, grids) {
        Ok((v, warnings)) => (Some(v), warnings),
        Err(v) => (None, v),
    }
}

fn invalid(violations: &[String]) -> GrpcError {
    GrpcError::invalid_argument(format!("invalid request body: {}", violations.join("; ")))
}

fn restricted() -> GrpcError {
    GrpcError::new(412, 9, "message delivery failed due to recipient's restriction")
}

fn new_message(st: &SimState) -> (String, i64) {
    (ids::uuid(), (st.now_ms() as i64) * 1000)
}

async fn conversation_send(
    State(shared): State<AppState>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        endpoint: "conversation_send",
        method: "POST",
        path: format!("/v2/open-platform/conversations/{cid}/messages"),
        headers: &headers,
        body: Some(&body),
    };
    run(shared, call, |st, tc| {
        let (value, violations) = body_check(SEND_PATH, &body, &["sender_buttons", "receiver_buttons"]);
        let owner = match tc.owner(st) {
            Ok(o) => o,
            Err(e) => return Outcome::err(e, violations),
        };
        let Some(value) = value else {
            return Outcome::err(invalid(&violations), violations);
        };
        let chat = st.chat(&cid).cloned();
        let is_seller = chat.as_ref().is_some_and(|c| c.seller_user_id == owner.user_id);
        let allowed = owner.has(&format!("CONVERSATION_SEND_MESSAGE.{cid}"))
            || (is_seller
                && chat
                    .as_ref()
                    .is_some_and(|c| owner.has(&format!("CHAT_POST_CONVERSATIONS_MESSAGE_SEND.{}", c.post_token))))
            || (is_seller && owner.has("CHAT_SUPPLIER_ALL_CONVERSATIONS_MESSAGE_SEND"));
        if !allowed {
            return Outcome::err(
                GrpcError::permission_denied(format!(
                    "access token lacks scope CONVERSATION_SEND_MESSAGE.{cid} (or a post/supplier-wide send scope)"
                )),
                vec![],
            );
        }
        let Some(chat) = chat else {
            return Outcome::err(GrpcError::not_found(format!("conversation {cid} not found")), vec![]);
        };
        let recipient = if is_seller {
            chat.buyer_user_id.clone()
        } else if chat.buyer_user_id == owner.user_id {
            chat.seller_user_id.clone()
        } else {
            return Outcome::err(
                GrpcError::permission_denied("the token's user is not a side of this conversation"),
                vec![],
            );
        };
        if st.user(&recipient).is_some_and(|u| u.blocked) {
            return Outcome::err(restricted(), vec![]);
        }
        let (id, sent_at) = new_message(st);
        let msg = Message {
            id,
            conversation_id: cid.clone(),
            conversation_type: "POST",
            post_token: Some(chat.post_token.clone()),
            sender_user_id: Some(owner.user_id.clone()),
            sender_side: Some(if is_seller { "SELLER" } else { "BUYER" }),
            sender_type: "BOT",
            kind: "TEXT",
            text: value.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            media: None,
            media_token: value.get("media_token").and_then(Value::as_str).map(str::to_string),
            sender_buttons: value.get("sender_buttons").filter(|v| !v.is_null()).cloned(),
            receiver_buttons: value.get("receiver_buttons").filter(|v| !v.is_null()).cloned(),
            buttons: None,
            sent_at,
        };
        let style = st.settings.into();
        let events = events_for_message(st, &msg, style);
        st.messages.push(msg);
        Outcome {
            result: Ok(json!({"status": 200, "message": "success"})),
            // Unknown fields: accepted and ignored as Divar does, recorded as warnings.
            violations,
            events,
        }
    })
    .await
}

fn bot_message(st: &SimState, conversation_id: &str, value: &Value) -> Message {
    let (id, sent_at) = new_message(st);
    Message {
        id,
        conversation_id: conversation_id.to_string(),
        conversation_type: "BOT",
        post_token: None,
        sender_user_id: None,
        sender_side: None,
        sender_type: "BOT",
        kind: "TEXT",
        media: None,
        text: value
            .get("text_message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        media_token: value.get("media_token").and_then(Value::as_str).map(str::to_string),
        sender_buttons: None,
        receiver_buttons: None,
        buttons: value.get("buttons").filter(|v| !v.is_null()).cloned(),
        sent_at,
    }
}

async fn bot_send(
    State(shared): State<AppState>,
    Path(cid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        endpoint: "bot_send",
        method: "POST",
        path: format!("/v1/open-platform/chat/bot/conversations/{cid}/messages"),
        headers: &headers,
        body: Some(&body),
    };
    run(shared, call, |st, _tc| {
        let (value, violations) = body_check(BOT_CONV_PATH, &body, &["buttons"]);
        let Some(value) = value else {
            return Outcome::err(invalid(&violations), violations);
        };
        let Some(conv) = st.bot_conversation(&cid).cloned() else {
            return Outcome::err(
                GrpcError::not_found(format!("chatbot conversation {cid} not found")),
                vec![],
            );
        };
        if st.user(&conv.user_id).is_some_and(|u| u.blocked) {
            return Outcome::err(restricted(), vec![]);
        }
        let msg = bot_message(st, &cid, &value);
        let style = st.settings.into();
        let events = events_for_message(st, &msg, style);
        st.messages.push(msg);
        Outcome {
            result: Ok(json!({"conversation_id": cid})),
            // Unknown fields: accepted and ignored as Divar does, recorded as warnings.
            violations,
            events,
        }
    })
    .await
}

async fn bot_user_send(
    State(shared): State<AppState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        endpoint: "bot_user_send",
        method: "POST",
        path: format!("/v1/open-platform/chat/bot/users/{user_id}/messages"),
        headers: &headers,
        body: Some(&body),
    };
    run(shared, call, |st, tc| {
        let (value, violations) = body_check(BOT_USER_PATH, &body, &["buttons"]);
        let owner = match tc.owner(st) {
            Ok(o) => o,
            Err(e) => return Outcome::err(e, violations),
        };
        let Some(value) = value else {
            return Outcome::err(invalid(&violations), violations);
        };
        if !owner.has("CHAT_BOT_USER_MESSAGE_SEND") {
            return Outcome::err(
                GrpcError::permission_denied("access token lacks scope CHAT_BOT_USER_MESSAGE_SEND"),
                vec![],
            );
        }
        if owner.user_id != user_id {
            return Outcome::err(
                GrpcError::permission_denied("user_id must match the obfuscated id of the authenticated user"),
                vec![],
            );
        }
        if st.user(&user_id).is_some_and(|u| u.blocked) {
            return Outcome::err(restricted(), vec![]);
        }
        let conv = st.bot_conversation_for(&user_id);
        let msg = bot_message(st, &conv.conversation_id, &value);
        let style = st.settings.into();
        let events = events_for_message(st, &msg, style);
        st.messages.push(msg);
        Outcome {
            result: Ok(json!({"conversation_id": conv.conversation_id})),
            // Unknown fields: accepted and ignored as Divar does, recorded as warnings.
            violations,
            events,
        }
    })
    .await
}

async fn subscriptions(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let call = Call {
        endpoint: "subscriptions",
        method: "POST",
        path: SUBS_PATH.to_string(),
        headers: &headers,
        body: Some(&body),
    };
    run(shared, call, |st, tc| {
        let (value, violations) = body_check(SUBS_PATH, &body, &[]);
        let owner = match tc.owner(st) {
            Ok(o) => o,
            Err(e) => return Outcome::err(e, violations),
        };
        let Some(value) = value else {
            return Outcome::err(invalid(&violations), violations);
        };
        let event_type = value.get("event_type").and_then(Value::as_str).unwrap_or("");
        let resource = value
            .get("event_resource_id")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let allowed = match event_type {
            "NEW_MESSAGE_ON_POST" => match &resource {
                Some(post) => {
                    let is_poster = st
                        .chats
                        .iter()
                        .any(|c| &c.post_token == post && c.seller_user_id == owner.user_id);
                    if !is_poster {
                        return Outcome::err(
                            GrpcError::permission_denied("only the poster can subscribe to a post's messages"),
                            vec![],
                        );
                    }
                    owner.has(&format!("CHAT_POST_CONVERSATIONS_READ.{post}"))
                        || owner.has("CHAT_SUPPLIER_ALL_CONVERSATIONS_READ")
                }
                None => owner.has("CHAT_SUPPLIER_ALL_CONVERSATIONS_READ"),
            },
            "POST_UPDATE" => owner.has("USER_POSTS_GET"),
            _ => {
                let v = vec!["event_type: missing required field".to_string()];
                return Outcome::err(invalid(&v), v);
            }
        };
        if !allowed {
            return Outcome::err(
                GrpcError::permission_denied(format!(
                    "access token lacks the scope needed to subscribe to {event_type}"
                )),
                vec![],
            );
        }
        let token = tc.bearer.clone().unwrap_or_default();
        // Re-subscribing (after a refresh) replaces the old subscription rather than doubling
        // every event.
        st.subscriptions
            .retain(|s| !(s.user_id == owner.user_id && s.event_type == event_type && s.event_resource_id == resource));
        st.next_subscription += 1;
        let sub = Subscription {
            id: st.next_subscription,
            user_id: owner.user_id.clone(),
            event_type: event_type.to_string(),
            event_resource_id: resource,
            metadata: value.get("metadata").filter(|m| !m.is_null()).cloned(),
            access_token: token,
            created_at_ms: st.now_ms(),
        };
        st.subscriptions.push(sub);
        Outcome {
            result: Ok(json!({})),
            // Unknown fields: accepted and ignored as Divar does, recorded as warnings.
            violations,
            events: vec![],
        }
    })
    .await
}

async fn users(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    let call = Call {
        endpoint: "users",
        method: "GET",
        path: USERS_PATH.to_string(),
        headers: &headers,
        body: None,
    };
    run(shared, call, |st, tc| {
        let owner = match tc.owner(st) {
            Ok(o) => o,
            Err(e) => return Outcome::err(e, vec![]),
        };
        if !owner.has("USER_ID") && !owner.has("USER_PHONE") {
            return Outcome::err(
                GrpcError::permission_denied("access token lacks scope USER_ID or USER_PHONE"),
                vec![],
            );
        }
        let mut out = json!({});
        if owner.has("USER_ID") {
            out["user_id"] = json!(owner.user_id);
        }
        if owner.has("USER_PHONE") {
            if let Some(u) = st.user(&owner.user_id) {
                out["phone_number"] = json!(u.phone);
            }
        }
        Outcome {
            result: Ok(out),
            violations: vec![],
            events: vec![],
        }
    })
    .await
}

async fn conversation_get(State(shared): State<AppState>, Path(cid): Path<String>, headers: HeaderMap) -> Response {
    let call = Call {
        endpoint: "conversation_get",
        method: "GET",
        path: format!("/v1/open-platform/chat/conversations/{cid}"),
        headers: &headers,
        body: None,
    };
    run(shared, call, |st, tc| {
        let owner = match tc.owner(st) {
            Ok(o) => o,
            Err(e) => return Outcome::err(e, vec![]),
        };
        if !owner.has(&format!("CHAT_CONVERSATION_READ.{cid}")) {
            return Outcome::err(
                GrpcError::permission_denied(format!("access token lacks scope CHAT_CONVERSATION_READ.{cid}")),
                vec![],
            );
        }
        let Some(chat) = st.chat(&cid).cloned() else {
            return Outcome::err(GrpcError::not_found(format!("conversation {cid} not found")), vec![]);
        };
        if chat.seller_user_id != owner.user_id && chat.buyer_user_id != owner.user_id {
            return Outcome::err(
                GrpcError::permission_denied("the token's user is not a side of this conversation"),
                vec![],
            );
        }
        let messages: Vec<Value> = st
            .messages
            .iter()
            .filter(|m| m.conversation_id == cid && m.media_token.is_none())
            .map(|m| {
                // The REST API's ChatMessage follows the OpenAPI: sent_at is a date-time
                // (RFC 3339) and sender.type is HUMAN or BOT, whatever the event settings say.
                let style = EventStyle {
                    sent_at_format: SentAtFormat::Rfc3339,
                    human_sender_type: HumanSenderType::Human,
                };
                chat_message_json(m, style)
            })
            .collect();
        Outcome {
            result: Ok(json!({
                "conversation": {"id": chat.conversation_id, "post_token": chat.post_token, "type": "POST"},
                "messages": messages,
            })),
            violations: vec![],
            events: vec![],
        }
    })
    .await
}

pub use crate::state::rfc3339_from_micros;

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(super::rfc3339_from_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            super::rfc3339_from_micros(1_729_429_926_140_000),
            "2024-10-20T13:12:06.140000Z"
        );
    }
}
