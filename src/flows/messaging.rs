//! Posting into the chat on the person's behalf, through the outbox, so nothing they submit is
//! lost: the item is in KV before the first send, and what does not go now is retried by the
//! cron sweep. A submission carries an idempotency key; the same key is the same item, and an
//! item that was sent is never sent again.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::digest_hex;
use crate::error::{AppError, AppResult};
use crate::flows::divar_auth::json_body;
use crate::flows::grants::{refresh_after_rejection, usable_token, TokenStatus};
use crate::flows::session::authenticate;
use crate::kenar::client::{KenarClient, SendError};
use crate::kenar::launch::LaunchContext;
use crate::kenar::message::{Action, Button, ButtonGrid, ConversationMessage, MAX_MESSAGE_CHARS};
use crate::platform::{KvError, Platform};
use crate::store::grants::{self, grant_key};
use crate::store::outbox::{self, Delivery, DeliveryState, OutboxItem};
use crate::web::{clean_text, Request, Response};

const SUBMIT_MAX_BYTES: usize = 8 * 1024;
/// After this many attempts an item is given up on and the person told so.
pub const MAX_ATTEMPTS: u32 = 12;
const LIST_LIMIT: usize = 50;

#[derive(Deserialize)]
struct Submission {
    text: String,
    idempotency_key: String,
}

#[derive(Serialize)]
pub struct ItemView {
    id: String,
    text: String,
    state: DeliveryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    attempts: u32,
    created_at_ms: u64,
}

fn view(item: &OutboxItem, delivery: &Delivery) -> ItemView {
    ItemView {
        id: item.id.clone(),
        text: item.text.clone(),
        state: delivery.state,
        reason: delivery.reason.clone(),
        attempts: delivery.attempts,
        created_at_ms: item.created_at_ms,
    }
}

fn internal(e: KvError) -> AppError {
    AppError::Internal(e.to_string())
}

/// The chat message for what the person wrote: the text for both sides, a button for the
/// receiver to answer through the add-on, and one for the sender to come back to it.
pub fn compose(context: &LaunchContext, text: &str) -> ConversationMessage {
    let open = |purpose: &str| Action::server_link(&[("purpose", purpose)]);
    let receiver = ButtonGrid::default().row(vec![Button::new("پاسخ در افزونه", open("reply")).icon("CHAT_BUBBLE")]);
    let mut sender_row = vec![Button::new("مشاهده در افزونه", open("view"))];
    if let Some(post) = &context.post_token {
        sender_row.push(Button::new(
            "آگهی",
            Action::OpenPostPage {
                post_token: post.clone(),
            },
        ));
    }
    let sender = ButtonGrid::default().row(sender_row);
    ConversationMessage {
        message: text.to_string(),
        // Both grids are one row of at most two buttons: within 3x3 by construction.
        sender_buttons: sender.unwrap_or_default(),
        receiver_buttons: receiver.unwrap_or_default(),
    }
}

/// Checks a submission whose text was already cleaned (`clean_text`).
fn validate(text: &str, sub: &Submission) -> AppResult<()> {
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_MESSAGE_CHARS {
        return Err(AppError::InvalidField {
            field: "text".into(),
            why: format!("must be 1 to {MAX_MESSAGE_CHARS} characters"),
        });
    }
    let key = &sub.idempotency_key;
    if !(8..=64).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(AppError::InvalidField {
            field: "idempotency_key".into(),
            why: "must be 8 to 64 letters, digits, '-' or '_'".into(),
        });
    }
    Ok(())
}

/// Tries one delivery and returns the new state. Never sends an item that was already sent.
pub async fn attempt<P: Platform>(
    p: &P,
    cfg: &Config,
    item: &OutboxItem,
    before: &Delivery,
) -> Result<Delivery, KvError> {
    if before.is_final() {
        return Ok(before.clone());
    }
    let now = p.now_ms();
    let attempts = before.attempts + 1;
    let done = |state, reason: Option<&str>, next: u64| Delivery {
        state,
        reason: reason.map(str::to_string),
        attempts,
        next_attempt_at_ms: next,
        updated_at_ms: p.now_ms(),
    };
    let token = match usable_token(p, cfg, &item.grant_key).await? {
        TokenStatus::Ready(token) => token,
        TokenStatus::ConsentNeeded => return Ok(done(DeliveryState::NeedsConsent, Some("permission_needed"), 0)),
        TokenStatus::Unavailable(_) => return Ok(retry_later(done, attempts, now, None)),
    };
    let client = KenarClient {
        platform: p,
        api_base: cfg.kenar_api_base.as_str(),
        api_key: cfg.api_key.expose(),
        timeout_ms: cfg.api_timeout_ms,
    };
    let mut result = client
        .send_conversation_message(&item.conversation_id, &token, &item.message)
        .await;
    if result == Err(SendError::TokenRejected) {
        // Divar dropped the token before its stated expiry: one refresh, one more try.
        result = match refresh_after_rejection(p, cfg, &item.grant_key, &token).await? {
            TokenStatus::Ready(fresh) => {
                client
                    .send_conversation_message(&item.conversation_id, &fresh, &item.message)
                    .await
            }
            TokenStatus::ConsentNeeded => Err(SendError::PermissionRejected),
            TokenStatus::Unavailable(_) => Err(SendError::Transient {
                reason: "token refresh failed".into(),
                retry_after_secs: None,
            }),
        };
    }
    Ok(match result {
        Ok(()) => done(DeliveryState::Sent, None, 0),
        Err(SendError::RecipientRestricted) => done(DeliveryState::Failed, Some("recipient_restricted"), 0),
        Err(SendError::PermissionRejected | SendError::TokenRejected) => {
            grants::forget(p.kv(), &item.grant_key).await?;
            done(DeliveryState::NeedsConsent, Some("permission_revoked"), 0)
        }
        Err(SendError::Rejected(_)) => done(DeliveryState::Failed, Some("rejected_by_divar"), 0),
        Err(SendError::Transient { retry_after_secs, .. }) => retry_later(done, attempts, now, retry_after_secs),
    })
}

/// Waiting with exponential backoff (30 s, 1 min, 2 min … capped at 30 min), or Divar's own
/// `Retry-After` when longer; failed once the attempt budget is spent.
fn retry_later(
    done: impl Fn(DeliveryState, Option<&str>, u64) -> Delivery,
    attempts: u32,
    now: u64,
    retry_after_secs: Option<u64>,
) -> Delivery {
    if attempts >= MAX_ATTEMPTS {
        return done(DeliveryState::Failed, Some("divar_unavailable"), 0);
    }
    let backoff_secs = (30u64 << attempts.saturating_sub(1).min(6)).min(1800);
    let wait = backoff_secs.max(retry_after_secs.unwrap_or(0));
    done(DeliveryState::Waiting, Some("divar_unavailable"), now + wait * 1000)
}

/// A message some flow wants posted: kept in the outbox, then sent.
pub struct Outgoing {
    /// The namespace of the outbox item: the launch session, or a conversation for one-tap answers.
    pub session_id: String,
    pub grant_key: String,
    pub conversation_id: String,
    pub idempotency_key: String,
    /// What the person sees of it in their list.
    pub text: String,
    pub message: ConversationMessage,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The idempotency key was used before for a different message.
    #[error("this idempotency key was already used for a different message")]
    KeyReused,
}

impl From<OutboxError> for AppError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Kv(e) => internal(e),
            OutboxError::KeyReused => AppError::InvalidField {
                field: "idempotency_key".into(),
                why: e.to_string(),
            },
        }
    }
}

/// Writes the item (once per idempotency key) and tries to deliver it now. Returns the item and
/// its state after this attempt; a sent item is returned as it is, never sent again.
pub async fn send_through_outbox<P: Platform>(
    p: &P,
    cfg: &Config,
    out: Outgoing,
) -> Result<(OutboxItem, Delivery), OutboxError> {
    let id = digest_hex(&["outbox", &out.session_id, &out.idempotency_key])[..32].to_string();
    let item = match outbox::get_item(p.kv(), &out.session_id, &id).await? {
        Some(existing) if existing.message != out.message => return Err(OutboxError::KeyReused),
        Some(existing) => existing,
        None => {
            let item = OutboxItem {
                id,
                session_id: out.session_id,
                grant_key: out.grant_key,
                conversation_id: out.conversation_id,
                text: out.text,
                message: out.message,
                created_at_ms: p.now_ms(),
            };
            // Written before the first send: from here on the submission cannot be lost.
            outbox::put_item(p.kv(), &item).await?;
            item
        }
    };
    let before = outbox::get_state(p.kv(), &item).await?;
    let after = attempt(p, cfg, &item, &before).await?;
    if after != before {
        outbox::set_state(p.kv(), &item, &after, before.state == DeliveryState::Waiting).await?;
    }
    Ok((item, after))
}

/// `POST /api/messages` `{text, idempotency_key}`.
pub async fn submit<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let body = json_body(req, SUBMIT_MAX_BYTES)?;
    let sub: Submission = serde_json::from_slice(body).map_err(|_| {
        AppError::BadRequest("the body must be JSON with string fields text and idempotency_key".into())
    })?;
    let text = clean_text(&sub.text);
    validate(&text, &sub)?;
    let conversation_id = session
        .context
        .conversation_id
        .clone()
        .ok_or_else(|| AppError::InvalidField {
            field: "conversation_id".into(),
            why: "this launch did not come from a chat".into(),
        })?;
    let outgoing = Outgoing {
        session_id: session.handle.session_id.to_string(),
        grant_key: grant_key(&session.context, session.handle.session_id),
        conversation_id,
        idempotency_key: sub.idempotency_key.clone(),
        message: compose(&session.context, &text),
        text,
    };
    let (item, after) = send_through_outbox(p, cfg, outgoing).await?;
    Ok(Response::json(200, &serde_json::json!({ "item": view(&item, &after) })))
}

/// `GET /api/messages`: this session's submissions and where each one stands.
pub async fn list<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let session_id = session.handle.session_id.to_string();
    let mut views = Vec::new();
    for item in outbox::list_session(p.kv(), &session_id, LIST_LIMIT)
        .await
        .map_err(internal)?
    {
        let delivery = outbox::get_state(p.kv(), &item).await.map_err(internal)?;
        views.push(view(&item, &delivery));
    }
    Ok(Response::json(200, &serde_json::json!({ "items": views })))
}

/// The cron sweep: retries due items, a bounded number per run (Workers Free allows 50
/// subrequests per invocation; an item costs at most a refresh and a send).
pub const SWEEP_BATCH: usize = 10;

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub examined: usize,
    pub sent: usize,
    pub still_waiting: usize,
    pub failed: usize,
}

pub async fn sweep<P: Platform>(p: &P, cfg: &Config) -> Result<SweepReport, KvError> {
    let mut report = SweepReport::default();
    for (session_id, id) in outbox::list_due(p.kv(), SWEEP_BATCH).await? {
        report.examined += 1;
        let Some(item) = outbox::get_item(p.kv(), &session_id, &id).await? else {
            continue;
        };
        let before = outbox::get_state(p.kv(), &item).await?;
        if !before.is_final() && before.next_attempt_at_ms > p.now_ms() {
            report.still_waiting += 1;
            continue;
        }
        let after = attempt(p, cfg, &item, &before).await?;
        match after.state {
            DeliveryState::Sent => report.sent += 1,
            DeliveryState::Waiting => report.still_waiting += 1,
            _ => report.failed += 1,
        }
        outbox::set_state(p.kv(), &item, &after, true).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::crypto::Sealer;
    use crate::flows::launch::session_init;
    use crate::handle::HandleSigner;
    use crate::store::grants::Grant;
    use crate::testkit::TestPlatform;
    use crate::web::Method;
    use serde_json::{json, Value};

    const SEND: &str = "/v2/open-platform/conversations/";

    struct World {
        p: TestPlatform,
        cfg: Config,
        handle: String,
    }

    fn world(with_grant: bool) -> World {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let req = Request::new(Method::Post, "/divar/session-init")
            .with_header("authorization", "dev-divar-identification-key-0123456789")
            .with_header("content-type", "application/json")
            .with_body(r#"{"source":"CHAT","post_token":"wZC44q5D","conversation_id":"conv-1","user_side":"DEMAND","user_id":"u-1"}"#);
        let resp = pollster::block_on(session_init(&p, &cfg, &req)).expect("launch");
        p.run_deferred();
        let handle = resp.json_body()["url"]
            .as_str()
            .expect("url")
            .split_once("#h=")
            .expect("h")
            .1
            .to_string();
        let w = World { p, cfg, handle };
        if with_grant {
            let s = HandleSigner::new(&w.cfg.session_signing_key)
                .verify(&w.handle, w.p.now_ms() / 1000)
                .expect("h");
            let key = grant_key(s.context.as_ref().expect("ctx"), s.session_id);
            let grant = Grant {
                access_token: "ory_at_1".into(),
                refresh_token: Some("ory_rt_1".into()),
                expires_at_ms: w.p.now_ms() + 3_600_000,
                scope: None,
            };
            let sealer = Sealer::new(&w.cfg.token_encryption_key);
            pollster::block_on(grants::save(w.p.kv(), &sealer, &key, &grant, w.p.now_ms())).expect("grant");
        }
        w
    }

    impl World {
        fn submit(&self, text: &str, key: &str) -> Response {
            let req = Request::new(Method::Post, "/api/messages")
                .with_header("authorization", &format!("Bearer {}", self.handle))
                .with_header("content-type", "application/json")
                .with_body(json!({"text": text, "idempotency_key": key}).to_string());
            pollster::block_on(submit(&self.p, &self.cfg, &req)).unwrap_or_else(|e| e.to_response())
        }
        fn state(&self, text: &str, key: &str) -> Value {
            self.submit(text, key).json_body()["item"]["state"].clone()
        }
        fn listed(&self) -> Value {
            let req = Request::new(Method::Get, "/api/messages")
                .with_header("authorization", &format!("Bearer {}", self.handle));
            pollster::block_on(list(&self.p, &self.cfg, &req))
                .expect("list")
                .json_body()["items"]
                .clone()
        }
        fn sweep(&self) -> SweepReport {
            pollster::block_on(sweep(&self.p, &self.cfg)).expect("sweep")
        }
    }

    #[test]
    fn sends_with_each_sides_buttons() {
        let w = world(true);
        w.p.http.route(SEND, 200, r#"{"status":200,"message":"success"}"#);
        assert_eq!(w.state("سلام، فردا ساعت ۵؟", "key-00000001"), "sent");
        let sent = w.p.http.sent_to(SEND);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].url.ends_with("/v2/open-platform/conversations/conv-1/messages"));
        let body: Value = serde_json::from_str(sent[0].body.as_deref().unwrap_or("")).expect("json");
        assert_eq!(body["message"], "سلام، فردا ساعت ۵؟");
        assert_eq!(
            body["receiver_buttons"]["rows"][0]["buttons"][0]["action"]["open_server_link"]["data"]["purpose"],
            "reply"
        );
        assert_eq!(
            body["sender_buttons"]["rows"][0]["buttons"][1]["action"]["open_post_page"]["post_token"],
            "wZC44q5D"
        );
        assert!(body.get("type").is_none(), "not in Divar's OpenAPI schema");
    }

    #[test]
    fn the_same_key_is_never_sent_twice() {
        let w = world(true);
        w.p.http.route(SEND, 200, "{}");
        w.p.http.route(SEND, 200, "{}");
        assert_eq!(w.state("one", "key-00000001"), "sent");
        assert_eq!(w.state("one", "key-00000001"), "sent");
        assert_eq!(w.p.http.sent_to(SEND).len(), 1);
        assert_eq!(w.state("two", "key-00000002"), "sent");
        assert_eq!(
            w.submit("other text", "key-00000001").status,
            422,
            "a key names one message"
        );
        assert_eq!(w.listed().as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn without_permission_the_item_waits_for_consent_then_goes() {
        let w = world(false);
        assert_eq!(w.state("hi", "key-00000001"), "needs_consent");
        assert!(w.p.http.sent().is_empty());
        assert_eq!(
            w.listed()[0]["state"],
            "needs_consent",
            "kept across the OAuth round trip"
        );
        let s = HandleSigner::new(&w.cfg.session_signing_key)
            .verify(&w.handle, w.p.now_ms() / 1000)
            .expect("h");
        let key = grant_key(s.context.as_ref().expect("ctx"), s.session_id);
        let grant = Grant {
            access_token: "a".into(),
            refresh_token: None,
            expires_at_ms: w.p.now_ms() + 3_600_000,
            scope: None,
        };
        pollster::block_on(grants::save(
            w.p.kv(),
            &Sealer::new(&w.cfg.token_encryption_key),
            &key,
            &grant,
            w.p.now_ms(),
        ))
        .expect("g");
        w.p.http.route(SEND, 200, "{}");
        assert_eq!(w.state("hi", "key-00000001"), "sent");
    }

    #[test]
    fn a_blocked_recipient_fails_clearly_and_is_not_retried() {
        let w = world(true);
        w.p.http.route(
            SEND,
            412,
            r#"{"code":9,"message":"message delivery failed due to recipient's restriction"}"#,
        );
        let item = w.submit("hi", "key-00000001").json_body()["item"].clone();
        assert_eq!(
            (item["state"].as_str(), item["reason"].as_str()),
            (Some("failed"), Some("recipient_restricted"))
        );
        w.p.advance_secs(3600);
        assert_eq!(w.sweep(), SweepReport::default());
        assert_eq!(w.p.http.sent_to(SEND).len(), 1);
    }

    #[test]
    fn a_token_divar_dropped_early_is_refreshed_and_the_send_retried() {
        let w = world(true);
        w.p.http.route(SEND, 401, r#"{"code":16}"#);
        w.p.http.route(
            "/oauth2/token",
            200,
            r#"{"access_token":"ory_at_2","refresh_token":"ory_rt_2","expires_in":3600}"#,
        );
        w.p.http.route(SEND, 200, "{}");
        assert_eq!(w.state("hi", "key-00000001"), "sent");
        let sends = w.p.http.sent_to(SEND);
        assert_eq!(sends.len(), 2);
        assert!(sends[1]
            .headers
            .contains(&("authorization".into(), "Bearer ory_at_2".into())));
    }

    #[test]
    fn a_revoked_grant_whose_refresh_fails_leads_back_to_consent() {
        let w = world(true);
        w.p.http.route(SEND, 401, r#"{"code":16}"#);
        w.p.http.route("/oauth2/token", 400, r#"{"error":"invalid_grant"}"#);
        assert_eq!(w.state("hi", "key-00000001"), "needs_consent");
        assert_eq!(w.p.http.sent_to(SEND).len(), 1);
    }

    #[test]
    fn a_revoked_grant_leads_back_to_consent() {
        let w = world(true);
        w.p.http.route(SEND, 403, r#"{"code":7}"#);
        assert_eq!(w.state("hi", "key-00000001"), "needs_consent");
        assert_eq!(
            w.state("hi", "key-00000001"),
            "needs_consent",
            "the grant is gone, nothing is sent"
        );
        assert_eq!(w.p.http.sent_to(SEND).len(), 1);
    }

    #[test]
    fn outages_wait_in_the_outbox_and_the_sweep_delivers_once() {
        let w = world(true);
        for _ in 0..3 {
            w.p.http.route(SEND, 500, "{}");
        }
        let item = w.submit("hi", "key-00000001").json_body()["item"].clone();
        assert_eq!(
            (item["state"].as_str(), item["attempts"].as_u64()),
            (Some("waiting"), Some(1))
        );
        assert_eq!(w.p.http.sent_to(SEND).len(), 3, "bounded retries inside the request");
        assert_eq!(
            w.sweep(),
            SweepReport {
                examined: 1,
                still_waiting: 1,
                ..Default::default()
            },
            "not due yet"
        );
        w.p.advance_secs(31);
        w.p.http.route(SEND, 200, "{}");
        assert_eq!(
            w.sweep(),
            SweepReport {
                examined: 1,
                sent: 1,
                ..Default::default()
            }
        );
        assert_eq!(w.listed()[0]["state"], "sent");
        w.p.advance_secs(3600);
        assert_eq!(w.sweep(), SweepReport::default(), "no longer due");
        assert_eq!(w.p.http.sent_to(SEND).len(), 4);
    }

    #[test]
    fn a_long_retry_after_is_honoured_by_the_sweep() {
        let w = world(true);
        w.p.http.route_with_header(SEND, 429, "{}", "retry-after", "600");
        assert_eq!(w.state("hi", "key-00000001"), "waiting");
        w.p.advance_secs(120);
        assert_eq!(w.sweep().still_waiting, 1);
        w.p.advance_secs(500);
        w.p.http.route(SEND, 200, "{}");
        assert_eq!(w.sweep().sent, 1);
    }

    #[test]
    fn gives_up_after_the_attempt_budget() {
        let w = world(true);
        for _ in 0..(3 * MAX_ATTEMPTS) {
            w.p.http.route(SEND, 503, "{}");
        }
        assert_eq!(w.state("hi", "key-00000001"), "waiting");
        let mut failed = 0;
        for _ in 0..MAX_ATTEMPTS {
            w.p.advance_secs(1800);
            failed += w.sweep().failed;
        }
        assert_eq!(failed, 1);
        assert!(pollster::block_on(outbox::list_due(w.p.kv(), 10))
            .expect("due")
            .is_empty());
    }

    #[test]
    fn bad_submissions_are_named_4xx() {
        let w = world(true);
        for (text, key, field) in [
            ("", "key-00000001", "text"),
            ("   ", "key-00000001", "text"),
            (&"x".repeat(MAX_MESSAGE_CHARS + 1), "key-00000001", "text"),
            ("hi", "short", "idempotency_key"),
            ("hi", "bad key with spaces", "idempotency_key"),
        ] {
            let r = w.submit(text, key);
            assert_eq!(r.status, 422, "{field}");
            assert!(r.json_body()["message"].as_str().unwrap_or("").contains(field));
        }
        let req = Request::new(Method::Post, "/api/messages")
            .with_header("authorization", &format!("Bearer {}", w.handle))
            .with_header("content-type", "application/json")
            .with_body("{\"text\": 5}");
        assert_eq!(
            pollster::block_on(submit(&w.p, &w.cfg, &req))
                .map_err(|e| e.status())
                .err(),
            Some(400)
        );
        assert!(w.p.http.sent().is_empty());
        assert_eq!(w.p.kv.writes(), 2, "only the launch's session record and the grant");
    }
}
