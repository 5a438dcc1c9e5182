//! Divar calling the app: session init (server link), dynamic actions and events. Every call
//! is recorded with its request, answer and latency so tests and the UI can see both ways.

use crate::state::{wall_ms, Chat, Delivery, Message, SimState};
use crate::AppState;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct AppAnswer {
    pub delivery_id: u64,
    /// None when the call failed at the transport level (refused, timeout).
    pub status: Option<u16>,
    /// The answer parsed as JSON, or as a string when it was not JSON.
    pub body: Value,
    pub error: Option<String>,
    pub latency_ms: u64,
}

pub async fn post_to_app(
    shared: &AppState,
    kind: &str,
    url: &str,
    body: Value,
    extra_headers: &[(&str, &str)],
) -> AppAnswer {
    let mut headers: Vec<(String, String)> = vec![
        ("Authorization".into(), shared.config.identification_key.clone()),
        ("Content-Type".into(), "application/json".into()),
    ];
    headers.extend(extra_headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut req = shared.http.post(url).body(body.to_string());
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let started = Instant::now();
    let result = req.send().await;
    let (status, text, error) = match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(t) => (Some(status), Some(t), None),
                Err(e) => (Some(status), None, Some(format!("reading body: {e}"))),
            }
        }
        Err(e) => (
            None,
            None,
            Some(if e.is_timeout() {
                format!("timeout: {e}")
            } else {
                e.to_string()
            }),
        ),
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    let parsed = text
        .as_deref()
        .map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())))
        .unwrap_or(Value::Null);
    let mut st = shared.lock();
    let id = st.next_id();
    st.push_delivery(Delivery {
        id,
        at_ms: wall_ms(),
        kind: kind.to_string(),
        url: url.to_string(),
        request_headers: headers,
        request_body: body,
        status,
        response_body: text,
        error: error.clone(),
        latency_ms,
    });
    AppAnswer {
        delivery_id: id,
        status,
        body: parsed,
        error,
        latency_ms,
    }
}

/// Who is launching the add-on and from which conversation.
#[derive(Debug, Clone)]
pub struct LaunchCtx {
    pub post_token: Option<String>,
    pub conversation_id: String,
    pub user_id: String,
    /// SUPPLY / DEMAND for post chats; None in a chatbot conversation.
    pub user_side: Option<&'static str>,
    pub chat: Option<Chat>,
}

impl LaunchCtx {
    pub fn for_chat(chat: &Chat, seller: bool) -> Self {
        LaunchCtx {
            post_token: Some(chat.post_token.clone()),
            conversation_id: chat.conversation_id.clone(),
            user_id: if seller {
                chat.seller_user_id.clone()
            } else {
                chat.buyer_user_id.clone()
            },
            user_side: Some(if seller { "SUPPLY" } else { "DEMAND" }),
            chat: Some(chat.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LaunchResult {
    pub status: Option<u16>,
    pub body: Value,
    /// The `url` of the app's answer: what Divar would open in the pop-up / webview.
    pub url: Option<String>,
    pub delivery_id: u64,
    pub error: Option<String>,
}

/// POST the session-init (server link) request, in the v2 shape or the legacy v1 shape.
pub async fn session_init(
    shared: &AppState,
    ctx: &LaunchCtx,
    source: &str,
    version: u8,
    extra_data: Value,
) -> LaunchResult {
    let url = shared.config.session_init_url();
    shared.lock().current_user = Some(ctx.user_id.clone());
    let answer = if version == 1 {
        let (peer, supplier, demand) = match &ctx.chat {
            Some(c) => {
                let peer = if c.seller_user_id == ctx.user_id {
                    c.buyer_user_id.clone()
                } else {
                    c.seller_user_id.clone()
                };
                (Value::String(peer), c.seller_user_id.clone(), c.buyer_user_id.clone())
            }
            None => (Value::Null, String::new(), ctx.user_id.clone()),
        };
        // v1 wrapped a message button's data in extra_data.provider_data.
        let extra = if source == "CHAT_MESSAGE_ACTION" {
            json!({ "provider_data": extra_data })
        } else {
            extra_data
        };
        let body = json!({
            "callback_url": format!("{}/completion", shared.base_url),
            "post_token": ctx.post_token,
            "conversation_id": ctx.conversation_id,
            "user_id": ctx.user_id,
            "peer_id": peer,
            "supplier": {"id": supplier},
            "demand": {"id": demand},
            "extra_data": extra,
        });
        post_to_app(shared, "session_init", &url, body, &[]).await
    } else {
        let body = json!({
            "source": source,
            "post_token": ctx.post_token,
            "conversation_id": ctx.conversation_id,
            "user_side": ctx.user_side,
            "extra_data": extra_data,
            "user_id": ctx.user_id,
        });
        post_to_app(shared, "session_init", &url, body, &[("API-Version", "2")]).await
    };
    let url = if answer.status == Some(200) {
        answer.body.get("url").and_then(Value::as_str).map(str::to_string)
    } else {
        None
    };
    LaunchResult {
        status: answer.status,
        body: answer.body,
        url,
        delivery_id: answer.delivery_id,
        error: answer.error,
    }
}

pub async fn dynamic_action(shared: &AppState, ctx: &LaunchCtx, extra_data: Value) -> AppAnswer {
    let body = json!({
        "touchpoint": "CHAT",
        "post_token": ctx.post_token,
        "conversation_id": ctx.conversation_id,
        "user_side": ctx.user_side,
        "extra_data": extra_data,
        "user_id": ctx.user_id,
    });
    let url = shared.config.dynamic_action_url();
    post_to_app(shared, "dynamic_action", &url, body, &[]).await
}

/// A message in the ChatMessage shape of events (§8.4).
pub fn chat_message_json(m: &Message) -> Value {
    let mut conversation = json!({"id": m.conversation_id, "type": m.conversation_type});
    if let Some(p) = &m.post_token {
        conversation["post_token"] = json!(p);
    }
    let mut sender = json!({"type": m.sender_type});
    if let Some(side) = m.sender_side {
        sender["side"] = json!(side);
    }
    json!({
        "id": m.id,
        "conversation": conversation,
        "sender": sender,
        "type": "TEXT",
        "sent_at": m.sent_at,
        "text": m.text,
    })
}

/// Event payloads a new message produces: one NEW_MESSAGE per live subscription covering the
/// post, or one NEW_CHATBOT_MESSAGE for a person writing to the bot.
pub fn events_for_message(st: &mut SimState, m: &Message) -> Vec<Value> {
    if m.conversation_type == "BOT" {
        if m.sender_type == "HUMAN" {
            return vec![json!({
                "type": "NEW_CHATBOT_MESSAGE",
                "new_chatbot_message": chat_message_json(m),
            })];
        }
        return vec![];
    }
    let Some(post) = m.post_token.clone() else {
        return vec![];
    };
    let seller = st
        .chat(&m.conversation_id)
        .map(|c| c.seller_user_id.clone())
        .unwrap_or_default();
    st.live_subscriptions()
        .into_iter()
        .filter(|s| s.event_type == "NEW_MESSAGE_ON_POST")
        .filter(|s| match s.event_resource_id.as_deref() {
            Some(r) if !r.is_empty() => r == post,
            _ => s.user_id == seller,
        })
        .map(|s| {
            let mut ev = json!({"type": "NEW_MESSAGE", "new_message": chat_message_json(m)});
            if let Some(md) = s.metadata {
                ev["metadata"] = md;
            }
            ev
        })
        .collect()
}

pub async fn deliver_events(shared: &AppState, events: Vec<Value>) -> Vec<AppAnswer> {
    let url = shared.config.events_url();
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        out.push(post_to_app(shared, "event", &url, ev, &[]).await);
    }
    out
}
