//! Divar calling the app: session init (server link), dynamic actions and events. Every call
//! is recorded with its request, answer and latency so tests and the UI can see both ways.

use crate::event_faults::{self, EventFaultMode, HeldEvent};
use crate::state::{wall_ms, Chat, Delivery, EventStyle, Message, SimState, MEDIA_KINDS};
use crate::AppState;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct AppAnswer {
    /// The recorded delivery (`GET /_sim/deliveries`); None only for an event a `reorder`
    /// fault is still holding.
    pub delivery_id: Option<u64>,
    /// None when the call failed at the transport level (refused, timeout), or is held.
    pub status: Option<u16>,
    /// The answer parsed as JSON, or as a string when it was not JSON.
    pub body: Value,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// Events only: the envelope's id, shared by every copy of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<u64>,
    /// Events only: the injected fault that shaped this delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Events only: held by a `reorder` fault, not sent yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// What a delivery record says beyond the HTTP exchange.
#[derive(Debug, Clone, Default)]
pub struct DeliveryMeta {
    pub event_type: Option<String>,
    pub event_id: Option<u64>,
    pub fault: Option<String>,
}

pub async fn post_to_app(
    shared: &AppState,
    kind: &str,
    url: &str,
    body: Value,
    extra_headers: &[(&str, &str)],
) -> AppAnswer {
    post_to_app_with(shared, kind, url, body, extra_headers, DeliveryMeta::default()).await
}

pub async fn post_to_app_with(
    shared: &AppState,
    kind: &str,
    url: &str,
    body: Value,
    extra_headers: &[(&str, &str)],
    meta: DeliveryMeta,
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
    let outcome = match status {
        Some(s) if (200..300).contains(&s) && error.is_none() => "ok",
        Some(_) if error.is_none() => "http_error",
        _ => "transport_error",
    };
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
        outcome,
        event_type: meta.event_type,
        event_id: meta.event_id,
        fault: meta.fault.clone(),
    });
    AppAnswer {
        delivery_id: Some(id),
        status,
        body: parsed,
        error,
        latency_ms,
        event_id: meta.event_id,
        fault: meta.fault,
        held: false,
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
        let mut body = json!({
            "source": source,
            "post_token": ctx.post_token,
            "conversation_id": ctx.conversation_id,
            "user_side": ctx.user_side,
            "extra_data": extra_data,
            "user_id": ctx.user_id,
        });
        drop_nulls(&mut body);
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
        delivery_id: answer.delivery_id.unwrap_or_default(),
        error: answer.error,
    }
}

/// A context field Divar has no value for (a chatbot conversation has no post and no side) is
/// left out rather than sent as null.
fn drop_nulls(body: &mut Value) {
    if let Some(o) = body.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
}

/// The dynamic-action call (API.md §4.3). In a post chat it is the documented body; in a
/// chatbot conversation (no post, no side; API.md shows no example) it is the same body with
/// the bot conversation's id and without `post_token` / `user_side`.
pub async fn dynamic_action(shared: &AppState, ctx: &LaunchCtx, extra_data: Value) -> AppAnswer {
    let mut body = json!({
        "touchpoint": "CHAT",
        "post_token": ctx.post_token,
        "conversation_id": ctx.conversation_id,
        "user_side": ctx.user_side,
        "extra_data": extra_data,
        "user_id": ctx.user_id,
    });
    drop_nulls(&mut body);
    let url = shared.config.dynamic_action_url();
    post_to_app(shared, "dynamic_action", &url, body, &[]).await
}

/// A message in the ChatMessage shape of events (§8.4), spelled as `style` says.
pub fn chat_message_json(m: &Message, style: EventStyle) -> Value {
    let mut conversation = json!({"id": m.conversation_id, "type": m.conversation_type});
    if let Some(p) = &m.post_token {
        conversation["post_token"] = json!(p);
    }
    let sender_type = if m.sender_type == "HUMAN" {
        style.human_sender_type.as_str()
    } else {
        m.sender_type
    };
    let mut sender = json!({"type": sender_type});
    if let Some(side) = m.sender_side {
        sender["side"] = json!(side);
    }
    let mut message = json!({
        "id": m.id,
        "conversation": conversation,
        "sender": sender,
        "type": m.kind,
        "sent_at": style.sent_at_format.render(m.sent_at),
    });
    // A media message carries its `<kind>_data` instead of `text` (API.md §8.4).
    match (MEDIA_KINDS.iter().find(|(k, _)| *k == m.kind), &m.media) {
        (Some((_, field)), Some(data)) => message[*field] = data.clone(),
        _ => message["text"] = json!(m.text),
    }
    message
}

/// Event payloads a new message produces: one NEW_MESSAGE per live subscription covering the
/// post, or one NEW_CHATBOT_MESSAGE for a person writing to the bot (and, when the
/// `echo_bot_messages` setting is on, for the bot's own messages too).
pub fn events_for_message(st: &mut SimState, m: &Message, style: EventStyle) -> Vec<Value> {
    if m.conversation_type == "BOT" {
        if m.sender_type == "HUMAN" || st.settings.echo_bot_messages {
            return vec![json!({
                "type": "NEW_CHATBOT_MESSAGE",
                "new_chatbot_message": chat_message_json(m, style),
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
            let mut ev = json!({"type": "NEW_MESSAGE", "new_message": chat_message_json(m, style)});
            if let Some(md) = s.metadata {
                ev["metadata"] = md;
            }
            ev
        })
        .collect()
}

/// Deliver envelopes to the events URL one after the other, through whatever event faults
/// are set (`event_faults.rs`). Returns one answer per POST made (a duplicated envelope has
/// several), plus a `held` marker for each envelope a `reorder` fault keeps back.
pub async fn deliver_events(shared: &AppState, events: Vec<Value>) -> Vec<AppAnswer> {
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        out.extend(deliver_event(shared, ev).await);
    }
    out
}

async fn send_event(
    shared: &AppState,
    body: Value,
    event_id: u64,
    event_type: &str,
    fault: Option<String>,
) -> AppAnswer {
    let url = shared.config.events_url();
    let meta = DeliveryMeta {
        event_type: Some(event_type.to_string()),
        event_id: Some(event_id),
        fault,
    };
    post_to_app_with(shared, "event", &url, body, &[], meta).await
}

async fn deliver_event(shared: &AppState, body: Value) -> Vec<AppAnswer> {
    let event_type = body.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let (event_id, action) = {
        let mut st = shared.lock();
        st.next_event += 1;
        let id = st.next_event;
        (id, event_faults::take(&mut st.event_faults, &event_type))
    };
    let Some(a) = action else {
        return vec![send_event(shared, body, event_id, &event_type, None).await];
    };
    let rule = a.rule_id;
    if a.mode == EventFaultMode::Reorder {
        shared.lock().held_events.push(HeldEvent {
            event_id,
            rule_id: rule,
            event_type: event_type.clone(),
            position: a.position,
            batch: a.batch,
            body,
            held_at_ms: wall_ms(),
        });
        if !a.release_now {
            return vec![AppAnswer {
                delivery_id: None,
                status: None,
                body: Value::Null,
                error: None,
                latency_ms: 0,
                event_id: Some(event_id),
                fault: Some(format!("rule {rule}: reorder held {}/{}", a.position, a.batch)),
                held: true,
            }];
        }
        if a.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(a.delay_ms)).await;
        }
        return release_held(shared, Some(rule)).await;
    }
    if a.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(a.delay_ms)).await;
    }
    match a.mode {
        EventFaultMode::Delay => {
            let fault = format!("rule {rule}: delay {}ms", a.delay_ms);
            vec![send_event(shared, body, event_id, &event_type, Some(fault)).await]
        }
        EventFaultMode::Duplicate => {
            let mut out = Vec::with_capacity(a.copies as usize);
            for i in 1..=a.copies {
                let fault = format!("rule {rule}: duplicate {i}/{}", a.copies);
                out.push(send_event(shared, body.clone(), event_id, &event_type, Some(fault)).await);
            }
            out
        }
        EventFaultMode::Concurrent => {
            // Every copy waits at the barrier, so all the POSTs leave together.
            let barrier = Arc::new(tokio::sync::Barrier::new(a.copies as usize));
            let tasks: Vec<_> = (1..=a.copies)
                .map(|i| {
                    let shared = shared.clone();
                    let barrier = barrier.clone();
                    let body = body.clone();
                    let event_type = event_type.clone();
                    let fault = format!("rule {rule}: concurrent {i}/{}", a.copies);
                    tokio::spawn(async move {
                        barrier.wait().await;
                        send_event(&shared, body, event_id, &event_type, Some(fault)).await
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                if let Ok(answer) = t.await {
                    out.push(answer);
                }
            }
            out
        }
        EventFaultMode::Reorder => unreachable!("handled above"),
    }
}

/// Send held envelopes (of one `reorder` rule, or all of them) newest first.
pub async fn release_held(shared: &AppState, rule: Option<u64>) -> Vec<AppAnswer> {
    let held: Vec<HeldEvent> = {
        let mut st = shared.lock();
        let (take, keep): (Vec<HeldEvent>, Vec<HeldEvent>) = std::mem::take(&mut st.held_events)
            .into_iter()
            .partition(|h| rule.is_none_or(|r| h.rule_id == r));
        st.held_events = keep;
        take
    };
    let n = held.len();
    let mut out = Vec::with_capacity(n);
    for (i, h) in held.into_iter().rev().enumerate() {
        let fault = format!(
            "rule {}: reorder sent {}/{n} (arrived {}/{})",
            h.rule_id,
            i + 1,
            h.position,
            h.batch
        );
        out.push(send_event(shared, h.body, h.event_id, &h.event_type, Some(fault)).await);
    }
    out
}
