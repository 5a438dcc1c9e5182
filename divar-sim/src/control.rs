//! The `/_sim/` control API: what tests (and the chat UI) use to play the people in the chat,
//! inspect both directions of traffic, and bend the simulator (faults, blocks, revocations).

use crate::event_faults::{self, EventFaultRule, EventFaultSpec};
use crate::faults::{self, FaultRule, FaultSpec};
use crate::http::{control_error, json_response};
use crate::ids;
use crate::oauth;
use crate::state::{
    wall_ms, Chat, Completion, EventStyle, HumanSenderType, Message, SentAtFormat, Settings, SimState, MEDIA_KINDS,
};
use crate::webhooks::{self, deliver_events, events_for_message, release_held, LaunchCtx};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/config", get(config))
        .route("/_sim/reset", post(reset))
        .route("/_sim/users", get(list_users))
        .route("/_sim/users/block", post(block))
        .route("/_sim/users/unblock", post(unblock))
        .route("/_sim/users/revoke", post(revoke))
        .route("/_sim/users/expire-tokens", post(expire_tokens))
        .route("/_sim/current-user", post(set_current_user))
        .route("/_sim/chats", get(list_chats).post(create_chat))
        .route("/_sim/chats/{conversation_id}/launch", post(launch))
        .route("/_sim/chats/{conversation_id}/messages", post(user_message))
        .route("/_sim/conversations/{conversation_id}/messages", get(list_messages))
        .route("/_sim/messages/{message_id}/press", post(press))
        .route("/_sim/bot/messages", post(bot_user_message))
        .route("/_sim/bot/start", post(bot_start))
        .route(
            "/_sim/bot/conversations",
            get(list_bot_conversations).post(open_bot_conversation),
        )
        .route("/_sim/posts", get(list_posts))
        .route("/_sim/settings", get(get_settings).post(set_settings))
        .route(
            "/_sim/event-faults",
            get(list_event_faults).post(add_event_fault).delete(clear_event_faults),
        )
        .route("/_sim/event-faults/release", post(release_event_faults))
        .route("/_sim/deliveries", get(list_deliveries))
        .route("/_sim/requests", get(list_requests))
        .route("/_sim/oauth/authorizations", get(list_authorizations))
        .route("/_sim/oauth/authorizations/{id}/approve", post(approve))
        .route("/_sim/oauth/authorizations/{id}/deny", post(deny))
        .route("/_sim/tokens", get(list_tokens).post(mint_token))
        .route("/_sim/subscriptions", get(list_subscriptions))
        .route("/_sim/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/_sim/completions", get(completions))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/completion", get(completion_page))
}

fn ok(v: Value) -> Response {
    json_response(200, v, None)
}

/// Parse an optional JSON body leniently: tests often POST without one.
fn body<T: for<'de> Deserialize<'de> + Default>(raw: &axum::body::Bytes) -> Result<T, Box<Response>> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(raw).map_err(|e| Box::new(control_error(400, format!("bad JSON body: {e}"))))
}

async fn config(State(s): State<AppState>) -> Response {
    let c = &s.config;
    ok(json!({
        "base_url": s.base_url,
        "app_slug": c.app_slug,
        "session_init_url": c.session_init_url(),
        "dynamic_action_url": c.dynamic_action_url(),
        "events_url": c.events_url(),
        "redirect_uris": c.redirect_uris(),
        "fault_endpoints": faults::ENDPOINTS,
        "event_types": event_faults::EVENT_TYPES,
        "settings": s.lock().settings,
    }))
}

async fn reset(State(s): State<AppState>) -> Response {
    s.lock().reset();
    ok(json!({}))
}

async fn list_users(State(s): State<AppState>) -> Response {
    ok(json!({"users": s.lock().users}))
}

#[derive(Deserialize, Default)]
struct UserBody {
    user_id: String,
}

fn set_blocked(s: &AppState, raw: &axum::body::Bytes, blocked: bool) -> Response {
    let b: UserBody = match body(raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match s.lock().user_mut(&b.user_id) {
        Some(u) => {
            u.blocked = blocked;
            ok(json!({"user_id": b.user_id, "blocked": blocked}))
        }
        None => control_error(404, format!("no user {:?}", b.user_id)),
    }
}

async fn block(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    set_blocked(&s, &raw, true)
}

async fn unblock(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    set_blocked(&s, &raw, false)
}

async fn revoke(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let b: UserBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let notify = {
        let mut st = s.lock();
        if st.user(&b.user_id).is_none() {
            return control_error(404, format!("no user {:?}", b.user_id));
        }
        let grants = st.grants_of_user(&b.user_id);
        // API.md §8.1: USER_ACCESS_REVOCATION needs NOTIFICATION_ACCESS_REVOCATION + USER_ID,
        // held together by what the user granted the app.
        let (mut wants_notice, mut has_user_id) = (false, false);
        for g in &grants {
            if let Some(grant) = st.grants.get_mut(g) {
                grant.revoked = true;
                wants_notice |= grant.scopes.iter().any(|x| x == "NOTIFICATION_ACCESS_REVOCATION");
                has_user_id |= grant.scopes.iter().any(|x| x == "USER_ID");
            }
        }
        st.subscriptions.retain(|sub| sub.user_id != b.user_id);
        (grants.len(), wants_notice && has_user_id)
    };
    let deliveries = if notify.1 {
        let ev = json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": b.user_id}});
        deliver_events(&s, vec![ev]).await
    } else {
        vec![]
    };
    ok(json!({"revoked_grants": notify.0, "notified": notify.1, "deliveries": deliveries}))
}

async fn expire_tokens(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let b: UserBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = s.lock();
    let now = st.now_ms();
    let grants = st.grants_of_user(&b.user_id);
    let mut n = 0;
    for at in st.access_tokens.values_mut() {
        if grants.contains(&at.grant) && at.expires_at_ms > now {
            at.expires_at_ms = now;
            n += 1;
        }
    }
    ok(json!({"expired": n}))
}

async fn set_current_user(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let b: UserBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = s.lock();
    if st.user(&b.user_id).is_none() {
        return control_error(404, format!("no user {:?}", b.user_id));
    }
    st.current_user = Some(b.user_id.clone());
    ok(json!({"user_id": b.user_id}))
}

#[derive(Deserialize, Default)]
struct NewChat {
    post_token: Option<String>,
    seller_user_id: Option<String>,
    buyer_user_id: Option<String>,
}

async fn create_chat(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let req: NewChat = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let slug = s.config.app_slug.clone();
    let mut st = s.lock();
    let existing_seller = req.post_token.as_ref().and_then(|p| {
        st.chats
            .iter()
            .find(|c| &c.post_token == p)
            .map(|c| c.seller_user_id.clone())
    });
    let seller = match (existing_seller, req.seller_user_id) {
        (Some(owner), Some(asked)) if owner != asked => {
            return control_error(409, "that post already belongs to another seller")
        }
        (Some(owner), _) => owner,
        (None, Some(id)) if st.user(&id).is_some() => id,
        (None, Some(id)) => return control_error(404, format!("no user {id:?}")),
        (None, None) => st.new_user(&slug).user_id,
    };
    let buyer = match req.buyer_user_id {
        Some(id) if id == seller => return control_error(400, "buyer and seller must differ"),
        Some(id) if st.user(&id).is_some() => id,
        Some(id) => return control_error(404, format!("no user {id:?}")),
        None => st.new_user(&slug).user_id,
    };
    let post_token = match req.post_token {
        Some(p) if p.len() <= 10 && !p.is_empty() => p,
        Some(_) => return control_error(400, "post_token must be 1..=10 characters"),
        None => ids::post_token(),
    };
    // A buyer has one conversation per post: asking again gives back the same one.
    if let Some(existing) = st.chat_of(&post_token, &buyer) {
        return ok(json!(existing));
    }
    let chat = Chat {
        post_token,
        conversation_id: ids::uuid(),
        seller_user_id: seller,
        buyer_user_id: buyer,
        created_at_ms: wall_ms(),
    };
    st.chats.push(chat.clone());
    ok(json!(chat))
}

async fn list_chats(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let post = q.get("post_token");
    let user = q.get("user_id");
    let st = s.lock();
    let chats: Vec<&Chat> = st
        .chats
        .iter()
        .filter(|c| post.is_none_or(|p| &c.post_token == p))
        .filter(|c| user.is_none_or(|u| &c.seller_user_id == u || &c.buyer_user_id == u))
        .collect();
    ok(json!({"chats": chats}))
}

/// The seller's view: every post with its conversations (one per buyer), newest last.
async fn list_posts(State(s): State<AppState>) -> Response {
    let st = s.lock();
    let mut posts: Vec<Value> = Vec::new();
    for c in &st.chats {
        let msgs: Vec<&Message> = st
            .messages
            .iter()
            .filter(|m| m.conversation_id == c.conversation_id)
            .collect();
        let conv = json!({
            "conversation_id": c.conversation_id,
            "buyer_user_id": c.buyer_user_id,
            "created_at_ms": c.created_at_ms,
            "message_count": msgs.len(),
            "last_message": msgs.last(),
        });
        match posts.iter_mut().find(|p| p["post_token"] == c.post_token.as_str()) {
            Some(p) => {
                if let Some(list) = p["conversations"].as_array_mut() {
                    list.push(conv);
                }
            }
            None => posts.push(json!({
                "post_token": c.post_token,
                "seller_user_id": c.seller_user_id,
                "conversations": [conv],
            })),
        }
    }
    ok(json!({"posts": posts}))
}

fn parse_side(side: &str) -> Option<bool> {
    match side.to_ascii_lowercase().as_str() {
        "seller" | "supply" => Some(true),
        "buyer" | "demand" => Some(false),
        _ => None,
    }
}

#[derive(Deserialize, Default)]
struct LaunchReq {
    side: String,
    version: Option<u8>,
    extra_data: Option<Value>,
}

async fn launch(State(s): State<AppState>, Path(cid): Path<String>, raw: axum::body::Bytes) -> Response {
    let req: LaunchReq = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(seller) = parse_side(&req.side) else {
        return control_error(400, "side must be \"buyer\" or \"seller\"");
    };
    let Some(chat) = s.lock().chat(&cid).cloned() else {
        return control_error(404, format!("no chat {cid:?}"));
    };
    let version = req.version.unwrap_or(2);
    if version != 1 && version != 2 {
        return control_error(400, "version must be 1 or 2");
    }
    let ctx = LaunchCtx::for_chat(&chat, seller);
    let extra = req.extra_data.unwrap_or_else(|| json!({}));
    let r = webhooks::session_init(&s, &ctx, "CHAT", version, extra).await;
    ok(json!(r))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserMessage {
    side: String,
    text: String,
    /// TEXT (the default) or a media kind, whose data is `data` (API.md §8.4).
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<Value>,
    /// Spell this message's events differently from the run's settings.
    sent_at_format: Option<SentAtFormat>,
    sender_type: Option<HumanSenderType>,
}

/// What a person sends: text, or a media message of one of `MEDIA_KINDS` with its data object
/// (the `<kind>_data` of its events; its text, if any, is not sent).
fn content(
    kind: Option<&str>,
    text: &str,
    data: Option<Value>,
) -> Result<(&'static str, Option<Value>), Box<Response>> {
    match kind.unwrap_or("TEXT") {
        "TEXT" if text.trim().is_empty() => Err(Box::new(control_error(400, "text is required"))),
        "TEXT" => Ok(("TEXT", None)),
        other => {
            let Some((kind, field)) = MEDIA_KINDS.iter().find(|(k, _)| *k == other) else {
                return Err(Box::new(control_error(
                    400,
                    "type must be TEXT, IMAGE, FILE, VOICE, LOCATION, VIDEO or CONTACT",
                )));
            };
            match data {
                Some(d @ Value::Object(_)) => Ok((kind, Some(d))),
                _ => Err(Box::new(control_error(
                    400,
                    format!("a {kind} message needs data: the {field} object"),
                ))),
            }
        }
    }
}

/// The run's event style with one message's overrides applied.
fn style_for(st: &SimState, sent_at_format: Option<SentAtFormat>, sender_type: Option<HumanSenderType>) -> EventStyle {
    let base: EventStyle = st.settings.into();
    EventStyle {
        sent_at_format: sent_at_format.unwrap_or(base.sent_at_format),
        human_sender_type: sender_type.unwrap_or(base.human_sender_type),
    }
}

async fn user_message(State(s): State<AppState>, Path(cid): Path<String>, raw: axum::body::Bytes) -> Response {
    let req: UserMessage = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(seller) = parse_side(&req.side) else {
        return control_error(400, "side must be \"buyer\" or \"seller\"");
    };
    let (kind, media) = match content(req.kind.as_deref(), &req.text, req.data) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let (msg, events) = {
        let mut st = s.lock();
        let Some(chat) = st.chat(&cid).cloned() else {
            return control_error(404, format!("no chat {cid:?}"));
        };
        let msg = Message {
            id: ids::uuid(),
            conversation_id: cid.clone(),
            conversation_type: "POST",
            post_token: Some(chat.post_token.clone()),
            sender_user_id: Some(if seller {
                chat.seller_user_id
            } else {
                chat.buyer_user_id
            }),
            sender_side: Some(if seller { "SELLER" } else { "BUYER" }),
            sender_type: "HUMAN",
            kind,
            text: req.text,
            media,
            media_token: None,
            sender_buttons: None,
            receiver_buttons: None,
            buttons: None,
            sent_at: (st.now_ms() as i64) * 1000,
        };
        let style = style_for(&st, req.sent_at_format, req.sender_type);
        let events = events_for_message(&mut st, &msg, style);
        st.messages.push(msg.clone());
        (msg, events)
    };
    let deliveries = deliver_events(&s, events).await;
    ok(json!({"message": msg, "deliveries": deliveries}))
}

async fn list_messages(State(s): State<AppState>, Path(cid): Path<String>) -> Response {
    let st = s.lock();
    let conversation = if let Some(c) = st.chat(&cid) {
        json!({"type": "POST", "chat": c})
    } else if let Some(b) = st.bot_conversation(&cid) {
        json!({"type": "BOT", "bot": b})
    } else {
        return control_error(404, format!("no conversation {cid:?}"));
    };
    let messages: Vec<&Message> = st.messages.iter().filter(|m| m.conversation_id == cid).collect();
    ok(json!({"conversation": conversation, "messages": messages}))
}

#[derive(Deserialize, Default)]
struct PressReq {
    side: Option<String>,
    row: usize,
    button: usize,
    version: Option<u8>,
}

async fn press(State(s): State<AppState>, Path(message_id): Path<String>, raw: axum::body::Bytes) -> Response {
    let req: PressReq = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (msg, ctx) = {
        let st = s.lock();
        let Some(msg) = st.messages.iter().find(|m| m.id == message_id).cloned() else {
            return control_error(404, format!("no message {message_id:?}"));
        };
        let ctx = if let Some(chat) = st.chat(&msg.conversation_id) {
            let Some(seller) = req.side.as_deref().and_then(parse_side) else {
                return control_error(400, "side must be \"buyer\" or \"seller\" for a post chat");
            };
            LaunchCtx::for_chat(chat, seller)
        } else if let Some(b) = st.bot_conversation(&msg.conversation_id) {
            LaunchCtx {
                post_token: None,
                conversation_id: b.conversation_id.clone(),
                user_id: b.user_id.clone(),
                user_side: None,
                chat: None,
            }
        } else {
            return control_error(404, "the message's conversation is gone");
        };
        (msg, ctx)
    };
    // Each side sees its own grid: the sender's buttons for the sender, the receiver's for the other.
    let grid = if msg.conversation_type == "BOT" {
        msg.buttons.clone()
    } else if msg.sender_user_id.as_deref() == Some(ctx.user_id.as_str()) {
        msg.sender_buttons.clone()
    } else {
        msg.receiver_buttons.clone()
    };
    let Some(button) = grid
        .as_ref()
        .and_then(|g| g.get("rows"))
        .and_then(|r| r.get(req.row))
        .and_then(|r| r.get("buttons"))
        .and_then(|b| b.get(req.button))
        .cloned()
    else {
        return control_error(404, "this side has no button at that row/button position");
    };
    let action = button.get("action").cloned().unwrap_or(Value::Null);
    ok(perform(&s, &ctx, &action, req.version.unwrap_or(2), true).await)
}

/// Do what Divar's client does for an action; a dynamic action's returned action is followed
/// once (never recursively, so an app cannot loop the simulator).
async fn perform(s: &AppState, ctx: &LaunchCtx, action: &Value, version: u8, follow: bool) -> Value {
    if let Some(url) = action.get("open_direct_link").and_then(Value::as_str) {
        return json!({"kind": "open_direct_link", "url": url});
    }
    if let Some(link) = action.get("open_server_link") {
        let data = link.get("data").cloned().unwrap_or_else(|| json!({}));
        let r = webhooks::session_init(s, ctx, "CHAT_MESSAGE_ACTION", version, data).await;
        let mut v = json!(r);
        v["kind"] = json!("open_server_link");
        return v;
    }
    if let Some(d) = action.get("get_dynamic_action") {
        let data = d.get("data").cloned().unwrap_or_else(|| json!({}));
        let a = webhooks::dynamic_action(s, ctx, data).await;
        let ok200 = a.status == Some(200);
        let text = ok200.then(|| a.body.get("text_message").cloned()).flatten();
        let next = ok200.then(|| a.body.get("action").cloned()).flatten();
        let follow_up = match (&next, follow) {
            (Some(n), true) if n.is_object() => Some(Box::pin(perform(s, ctx, n, version, false)).await),
            _ => None,
        };
        return json!({
            "kind": "get_dynamic_action",
            "status": a.status,
            "body": a.body,
            "error": a.error,
            "delivery_id": a.delivery_id,
            "text_message": text,
            "action": next,
            "follow_up": follow_up,
        });
    }
    for kind in ["open_post_page", "open_post_manage_page"] {
        if let Some(p) = action.get(kind) {
            return json!({"kind": kind, "post_token": p.get("post_token")});
        }
    }
    json!({"kind": "unknown", "action": action})
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BotUserMessage {
    user_id: String,
    text: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<Value>,
    sent_at_format: Option<SentAtFormat>,
    sender_type: Option<HumanSenderType>,
}

/// A person writes `text` in their chatbot conversation (created on first use); Divar delivers
/// it as NEW_CHATBOT_MESSAGE with no subscription (API.md §7.2).
async fn send_to_bot(s: &AppState, req: BotUserMessage) -> Response {
    if req.user_id.is_empty() {
        return control_error(400, "user_id is required: whose chatbot conversation is this?");
    }
    let (kind, media) = match content(req.kind.as_deref(), &req.text, req.data) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let (msg, events) = {
        let mut st = s.lock();
        if st.user(&req.user_id).is_none() {
            return control_error(404, format!("no user {:?}", req.user_id));
        }
        let conv = st.bot_conversation_for(&req.user_id);
        let msg = Message {
            id: ids::uuid(),
            conversation_id: conv.conversation_id,
            conversation_type: "BOT",
            post_token: None,
            sender_user_id: Some(req.user_id.clone()),
            sender_side: None,
            sender_type: "HUMAN",
            kind,
            text: req.text,
            media,
            media_token: None,
            sender_buttons: None,
            receiver_buttons: None,
            buttons: None,
            sent_at: (st.now_ms() as i64) * 1000,
        };
        let style = style_for(&st, req.sent_at_format, req.sender_type);
        let events = events_for_message(&mut st, &msg, style);
        st.messages.push(msg.clone());
        (msg, events)
    };
    let deliveries = deliver_events(s, events).await;
    ok(json!({"conversation_id": msg.conversation_id, "message": msg, "deliveries": deliveries}))
}

async fn bot_user_message(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    match body::<BotUserMessage>(&raw) {
        Ok(req) => send_to_bot(&s, req).await,
        Err(r) => *r,
    }
}

/// The touchpoints that can start the chatbot, and whether they carry an id (API.md §7.1).
const START_TOUCHPOINTS: &[&str] = &["MY_POST", "MY_DIVAR", "DIVAR_PRO", "CHAT", "DEMAND_POST"];

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct BotStart {
    user_id: String,
    /// MY_POST, MY_DIVAR, DIVAR_PRO, CHAT or DEMAND_POST.
    touchpoint: Option<String>,
    /// The post token (MY_POST, DEMAND_POST) or conversation id (CHAT); left out when absent.
    resource_id: Option<String>,
    /// Instead of touchpoint/resource_id: the text after `/start ` verbatim (may be empty).
    payload: Option<String>,
    sent_at_format: Option<SentAtFormat>,
    sender_type: Option<HumanSenderType>,
}

/// A touchpoint whose action is START_CHAT_BOT opens the bot and Divar sends, as the user, an
/// automatic `/start TOUCHPOINT [id]` message (API.md §7.1).
async fn bot_start(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let req: BotStart = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let text = match (&req.payload, &req.touchpoint) {
        (Some(_), Some(_)) => return control_error(400, "give either payload or touchpoint, not both"),
        (Some(p), None) if p.trim().is_empty() => "/start".to_string(),
        (Some(p), None) => format!("/start {}", p.trim()),
        (None, Some(t)) => {
            if !START_TOUCHPOINTS.contains(&t.as_str()) {
                return control_error(
                    400,
                    format!("unknown touchpoint {t:?}; known: {}", START_TOUCHPOINTS.join(", ")),
                );
            }
            match req.resource_id.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                Some(id) => format!("/start {t} {id}"),
                // "If the id is not available only the touchpoint name is sent."
                None => format!("/start {t}"),
            }
        }
        (None, None) => "/start".to_string(),
    };
    let msg = BotUserMessage {
        user_id: req.user_id,
        text,
        kind: None,
        data: None,
        sent_at_format: req.sent_at_format,
        sender_type: req.sender_type,
    };
    send_to_bot(&s, msg).await
}

async fn list_bot_conversations(State(s): State<AppState>) -> Response {
    ok(json!({"conversations": s.lock().bot_conversations}))
}

/// Open (or find) a person's chatbot conversation without writing anything, as visiting
/// `https://divar.ir/chat/addon_{slug}` does.
async fn open_bot_conversation(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let b: UserBody = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = s.lock();
    if b.user_id.is_empty() {
        return control_error(400, "user_id is required");
    }
    if st.user(&b.user_id).is_none() {
        return control_error(404, format!("no user {:?}", b.user_id));
    }
    ok(json!(st.bot_conversation_for(&b.user_id)))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct SettingsReq {
    sent_at_format: Option<SentAtFormat>,
    human_sender_type: Option<HumanSenderType>,
    echo_bot_messages: Option<bool>,
}

async fn get_settings(State(s): State<AppState>) -> Response {
    ok(json!({"settings": s.lock().settings}))
}

async fn set_settings(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let req: SettingsReq = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = s.lock();
    let cur = st.settings;
    st.settings = Settings {
        sent_at_format: req.sent_at_format.unwrap_or(cur.sent_at_format),
        human_sender_type: req.human_sender_type.unwrap_or(cur.human_sender_type),
        echo_bot_messages: req.echo_bot_messages.unwrap_or(cur.echo_bot_messages),
    };
    ok(json!({"settings": st.settings}))
}

async fn list_event_faults(State(s): State<AppState>) -> Response {
    let st = s.lock();
    ok(json!({"faults": st.event_faults, "held": st.held_events}))
}

async fn add_event_fault(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let spec: EventFaultSpec = match serde_json::from_slice(&raw) {
        Ok(v) => v,
        Err(e) => return control_error(400, format!("bad JSON body: {e}")),
    };
    let spec = match event_faults::validate(spec) {
        Ok(v) => v,
        Err(e) => return control_error(400, e),
    };
    let mut st = s.lock();
    let id = st.next_id();
    let rule = EventFaultRule {
        id,
        remaining: spec.count,
        spec,
        hits: 0,
    };
    st.event_faults.push(rule.clone());
    ok(json!({"fault": rule}))
}

/// Drop every event fault; envelopes a `reorder` rule still holds are sent (newest first) so
/// nothing is lost silently.
async fn clear_event_faults(State(s): State<AppState>) -> Response {
    let cleared = {
        let mut st = s.lock();
        let n = st.event_faults.len();
        st.event_faults.clear();
        n
    };
    let released = release_held(&s, None).await;
    ok(json!({"cleared": cleared, "released": released}))
}

/// Send every held envelope now, newest first, without waiting for the batch to fill.
async fn release_event_faults(State(s): State<AppState>) -> Response {
    let released = release_held(&s, None).await;
    ok(json!({"released": released}))
}

fn since(q: &HashMap<String, String>) -> u64 {
    q.get("since").and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn list_deliveries(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let after = since(&q);
    let kind = q.get("kind");
    let event_type = q.get("event_type");
    let event_id: Option<u64> = q.get("event_id").and_then(|v| v.parse().ok());
    let st = s.lock();
    let list: Vec<_> = st
        .deliveries
        .iter()
        .filter(|d| d.id > after && kind.is_none_or(|k| &d.kind == k))
        .filter(|d| event_type.is_none_or(|t| d.event_type.as_ref() == Some(t)))
        .filter(|d| event_id.is_none_or(|e| d.event_id == Some(e)))
        .collect();
    ok(json!({"deliveries": list}))
}

async fn list_requests(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let after = since(&q);
    let endpoint = q.get("endpoint");
    let st = s.lock();
    let list: Vec<_> = st
        .requests
        .iter()
        .filter(|r| r.id > after && endpoint.is_none_or(|e| &r.endpoint == e))
        .collect();
    ok(json!({"requests": list}))
}

async fn list_authorizations(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let status = q.get("status");
    let st = s.lock();
    let list: Vec<_> = st
        .authorizations
        .iter()
        .filter(|a| status.is_none_or(|x| &a.status == x))
        .collect();
    ok(json!({"authorizations": list}))
}

#[derive(Deserialize, Default)]
struct ApproveReq {
    user_id: Option<String>,
}

async fn approve(State(s): State<AppState>, Path(id): Path<String>, raw: axum::body::Bytes) -> Response {
    let req: ApproveReq = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = oauth::decide(&mut s.lock(), &id, true, req.user_id.as_deref());
    match result {
        Ok((url, code)) => ok(json!({"redirect_url": url, "code": code})),
        Err((status, msg)) => control_error(status, msg),
    }
}

async fn deny(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let result = oauth::decide(&mut s.lock(), &id, false, None);
    match result {
        Ok((url, _)) => ok(json!({"redirect_url": url})),
        Err((status, msg)) => control_error(status, msg),
    }
}

#[derive(Deserialize, Default)]
struct MintReq {
    user_id: String,
    scopes: Vec<String>,
}

/// Mint tokens directly, skipping the consent dance, for tests of the Kenar API alone.
async fn mint_token(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let req: MintReq = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if let Err(e) = oauth::parse_scopes(&req.scopes.join(" ")) {
        return control_error(400, e);
    }
    let mut st = s.lock();
    if st.user(&req.user_id).is_none() {
        return control_error(404, format!("no user {:?}", req.user_id));
    }
    let grant = st.new_grant(&req.user_id, req.scopes);
    let (at, rt) = st.issue_tokens(grant);
    ok(st.token_response(&at, rt.as_deref()))
}

async fn list_tokens(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let user = q.get("user_id");
    let st = s.lock();
    let now = st.now_ms();
    let list: Vec<Value> = st
        .access_tokens
        .iter()
        .filter_map(|(tok, at)| {
            let g = st.grants.get(&at.grant)?;
            if user.is_some_and(|u| &g.user_id != u) {
                return None;
            }
            Some(json!({
                "access_token": tok,
                "user_id": g.user_id,
                "scopes": g.scopes,
                "expires_at_ms": at.expires_at_ms,
                "valid": !g.revoked && at.expires_at_ms > now,
            }))
        })
        .collect();
    ok(json!({"tokens": list}))
}

async fn list_subscriptions(State(s): State<AppState>) -> Response {
    let live = s.lock().live_subscriptions();
    ok(json!({"subscriptions": live}))
}

async fn list_faults(State(s): State<AppState>) -> Response {
    ok(json!({"faults": s.lock().faults}))
}

async fn add_fault(State(s): State<AppState>, Json(spec): Json<FaultSpec>) -> Response {
    if let Err(e) = faults::validate(&spec) {
        return control_error(400, e);
    }
    let mut st = s.lock();
    let id = st.next_id();
    let rule = FaultRule {
        id,
        remaining: spec.count,
        spec,
        hits: 0,
    };
    st.faults.push(rule.clone());
    ok(json!({"fault": rule}))
}

async fn clear_faults(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = s.lock();
    let before = st.faults.len();
    match q.get("endpoint") {
        Some(e) => st.faults.retain(|f| &f.spec.endpoint != e),
        None => st.faults.clear(),
    }
    ok(json!({"cleared": before - st.faults.len()}))
}

async fn completions(State(s): State<AppState>) -> Response {
    let st = s.lock();
    ok(json!({"count": st.completions.len(), "completions": st.completions}))
}

#[derive(Deserialize, Default)]
struct AdvanceReq {
    seconds: u64,
}

async fn advance_clock(State(s): State<AppState>, raw: axum::body::Bytes) -> Response {
    let req: AdvanceReq = match body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = s.lock();
    st.clock_offset_ms += req.seconds * 1000;
    ok(json!({"offset_seconds": st.clock_offset_ms / 1000}))
}

async fn completion_page(State(s): State<AppState>) -> Response {
    {
        let mut st = s.lock();
        let user_id = st.current_user.clone();
        st.completions.push(Completion {
            at_ms: wall_ms(),
            user_id,
        });
    }
    crate::http::html(
        r#"<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8"><title>بازگشت به دیوار</title>
<style>body{font-family:Tahoma,sans-serif;text-align:center;padding:40px;background:#f5f5f5}main{background:#fff;border-radius:12px;padding:24px;max-width:360px;margin:auto}</style></head>
<body><main><h1>به دیوار برگشتید ✓</h1><p>افزونه کارش را تمام کرد. می‌توانید این پنجره را ببندید.</p>
<button onclick="window.close()">بستن</button></main></body></html>"#
            .to_string(),
    )
}
