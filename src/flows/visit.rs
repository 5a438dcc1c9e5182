//! The visit-scheduling service: propose times, answer from the page or with one tap, change or
//! cancel, and the agreed visit as a calendar file. Every announcement goes through the outbox,
//! on behalf of the person who acted; the conversation's state changes only once the
//! announcement is delivered or safely queued, so the chat and the state never disagree.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::digest_hex;
use crate::error::{AppError, AppResult};
use crate::flows::divar_auth::{authenticated_json_body, json_body};
use crate::flows::grants::{usable_token, TokenStatus};
use crate::flows::messaging::{send_through_outbox, OutboxError, Outgoing};
use crate::flows::session::{authenticate, ActiveSession};
use crate::kenar::dynamic_action::{parse_dynamic_action, DynamicActionAnswer, DynamicActionRequest};
use crate::kenar::message::{Action, ConversationMessage};
use crate::kenar::side::UserSide;
use crate::platform::{KvError, Platform};
use crate::store::grants::{grant_key, user_grant_key};
use crate::store::outbox::{Delivery, DeliveryState};
use crate::store::visits::{self, visit_key, VisitRecord};
use crate::visit::ics::{self, VisitEvent};
use crate::visit::jalali::{format_day, format_short, format_tehran, tehran_midnight};
use crate::visit::messages;
use crate::visit::model::{may_propose, Proposal, Status, VisitError};
use crate::web::{Request, Response};

const BODY_LIMIT: usize = 4 * 1024;

fn internal(e: KvError) -> AppError {
    AppError::Internal(e.to_string())
}

impl From<VisitError> for AppError {
    fn from(e: VisitError) -> Self {
        let field = match e {
            VisitError::SlotCount | VisitError::SlotOutOfRange | VisitError::NoSuchSlot => "slots",
            VisitError::NoteTooLong => "note",
            VisitError::Stale | VisitError::NotYourTurn | VisitError::NotProposer => "proposal_id",
        };
        AppError::InvalidField {
            field: field.into(),
            why: e.to_string(),
        }
    }
}

/// The person's chat and side, which every step needs.
struct Party {
    session: ActiveSession,
    conversation_id: String,
    side: UserSide,
}

async fn party<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Party> {
    let session = authenticate(p, cfg, req).await?;
    let missing = |field: &str, why: &str| AppError::InvalidField {
        field: field.into(),
        why: why.into(),
    };
    let conversation_id = session
        .context
        .conversation_id
        .clone()
        .ok_or_else(|| missing("conversation_id", "this launch did not come from a chat"))?;
    let side = session
        .context
        .user_side
        .ok_or_else(|| missing("user_side", "Divar did not say which side you are on"))?;
    Ok(Party {
        session,
        conversation_id,
        side,
    })
}

fn ics_url(cfg: &Config, conversation_id: &str, proposal: &Proposal) -> String {
    cfg.public_base_url
        .join(&format!("/ics/{}-{}.ics", visit_key(conversation_id), proposal.id))
}

#[derive(Serialize)]
struct SlotView {
    at: i64,
    label: String,
    short: String,
}

#[derive(Serialize)]
struct ProposalView<'a> {
    id: &'a str,
    slots: Vec<SlotView>,
    note: &'a str,
    proposer: UserSide,
    status: &'a Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    ics_url: Option<String>,
}

fn proposal_view<'a>(cfg: &Config, conversation_id: &str, p: &'a Proposal) -> ProposalView<'a> {
    ProposalView {
        id: &p.id,
        slots: p
            .slots
            .iter()
            .map(|at| SlotView {
                at: *at,
                label: format_tehran(*at),
                short: format_short(*at),
            })
            .collect(),
        note: &p.note,
        proposer: p.proposer,
        status: &p.status,
        ics_url: p.confirmed_at().map(|_| ics_url(cfg, conversation_id, p)),
    }
}

/// What one step changed and how its announcement went.
#[derive(Serialize)]
struct StepAnswer<'a> {
    delivery: DeliveryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proposal: Option<ProposalView<'a>>,
}

/// The step takes effect once its announcement is sent or safely queued for a retry.
fn took_effect(delivery: &Delivery) -> bool {
    matches!(delivery.state, DeliveryState::Sent | DeliveryState::Waiting)
}

/// `GET /api/visit`: the conversation's current proposal and what this person may do.
pub async fn get<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let me = party(p, cfg, req).await?;
    let record = visits::load(p.kv(), &visit_key(&me.conversation_id))
        .await
        .map_err(internal)?;
    let current = record.current.as_ref();
    let open = current.filter(|c| c.status == Status::Open);
    // The days a proposal may name, labelled here so the page needs no calendar code.
    let today = tehran_midnight((p.now_ms() / 1000) as i64);
    let days: Vec<serde_json::Value> = (0..14)
        .map(|i| {
            let start = today + i * 86_400;
            serde_json::json!({ "start": start, "label": format_day(start) })
        })
        .collect();
    Ok(Response::json(
        200,
        &serde_json::json!({
            "side": me.side,
            "proposal": current.map(|c| proposal_view(cfg, &me.conversation_id, c)),
            "can_propose": may_propose(current, me.side).is_ok(),
            "can_answer": open.is_some_and(|c| c.proposer != me.side),
            "can_cancel": current.is_some_and(|c| c.proposer == me.side && matches!(c.status, Status::Open | Status::Confirmed { .. })),
            "days": days,
            "now": p.now_ms() / 1000,
        }),
    ))
}

#[derive(Deserialize)]
struct ProposeBody {
    slots: Vec<i64>,
    #[serde(default)]
    note: String,
    idempotency_key: String,
}

#[derive(Deserialize)]
struct AnswerBody {
    proposal_id: String,
    /// The chosen slot's index; absent with `decline: true`.
    #[serde(default)]
    slot: Option<usize>,
    #[serde(default)]
    decline: bool,
    idempotency_key: String,
}

#[derive(Deserialize)]
struct CancelBody {
    proposal_id: String,
    idempotency_key: String,
}

fn parse<T: for<'de> Deserialize<'de>>(req: &Request) -> AppResult<T> {
    serde_json::from_slice(json_body(req, BODY_LIMIT)?)
        .map_err(|e| AppError::BadRequest(format!("the body does not fit: {e}")))
}

/// One step of the negotiation: its announcement, and the state it leads to.
struct Step {
    idempotency_key: String,
    label: String,
    message: ConversationMessage,
    record: VisitRecord,
    updated: Proposal,
}

/// Posts the announcement for a step as the person who acted; saves the new state if it went.
async fn announce<P: Platform>(p: &P, cfg: &Config, me: &Party, step: Step) -> AppResult<Response> {
    let Step {
        idempotency_key,
        label,
        message,
        mut record,
        updated,
    } = step;
    let outgoing = Outgoing {
        session_id: me.session.handle.session_id.to_string(),
        grant_key: grant_key(&me.session.context, me.session.handle.session_id),
        conversation_id: me.conversation_id.clone(),
        idempotency_key,
        text: label,
        message,
    };
    let (_, delivery) = send_through_outbox(p, cfg, outgoing).await?;
    if took_effect(&delivery) {
        record.post_token = record.post_token.or_else(|| me.session.context.post_token.clone());
        record.current = Some(updated.clone());
        visits::save(p.kv(), &visit_key(&me.conversation_id), &record)
            .await
            .map_err(internal)?;
    }
    let effect = took_effect(&delivery);
    Ok(Response::json(
        200,
        &StepAnswer {
            delivery: delivery.state,
            reason: delivery.reason,
            proposal: effect.then(|| proposal_view(cfg, &me.conversation_id, &updated)),
        },
    ))
}

/// `POST /api/visit/propose` `{slots: [unix seconds], note, idempotency_key}`.
pub async fn propose<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let me = party(p, cfg, req).await?;
    let body: ProposeBody = parse(req)?;
    let record = visits::load(p.kv(), &visit_key(&me.conversation_id))
        .await
        .map_err(internal)?;
    may_propose(record.current.as_ref(), me.side)?;
    // The id follows from the submission, so resubmitting after consent is the same proposal.
    let id = digest_hex(&[
        "proposal",
        &me.session.handle.session_id.to_string(),
        &body.idempotency_key,
    ])[..16]
        .to_string();
    let proposal = Proposal::new(id, body.slots, &body.note, me.side, p.now_ms())?;
    let label = format!(
        "پیشنهاد بازدید: {}",
        proposal
            .slots
            .iter()
            .map(|s| format_short(*s))
            .collect::<Vec<_>>()
            .join("، ")
    );
    let step = Step {
        idempotency_key: body.idempotency_key,
        label,
        message: messages::proposal(&proposal),
        record,
        updated: proposal,
    };
    announce(p, cfg, &me, step).await
}

/// The other side's answer to a proposal.
#[derive(Clone, Copy)]
enum Reply {
    Pick(usize),
    Decline,
}

impl Reply {
    fn name(self) -> &'static str {
        match self {
            Reply::Pick(_) => "pick",
            Reply::Decline => "decline",
        }
    }
}

/// Applies an answer, from the page or a one-tap button alike: the new state of `proposal`, and
/// the label and chat message that announce it.
fn apply_reply(
    cfg: &Config,
    conversation_id: &str,
    proposal: &mut Proposal,
    (proposal_id, reply, side): (&str, Reply, UserSide),
) -> Result<(String, ConversationMessage), VisitError> {
    match reply {
        Reply::Pick(slot) => {
            let at = proposal.pick(proposal_id, slot, side)?;
            Ok((
                format!("قطعی: {}", format_short(at)),
                messages::confirmed(at, &ics_url(cfg, conversation_id, proposal)),
            ))
        }
        Reply::Decline => {
            proposal.decline(proposal_id, side)?;
            Ok(("پاسخ: هیچ‌کدام".to_string(), messages::declined()))
        }
    }
}

/// `POST /api/visit/answer` `{proposal_id, slot | decline: true, idempotency_key}`.
pub async fn answer<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let me = party(p, cfg, req).await?;
    let body: AnswerBody = parse(req)?;
    let record = visits::load(p.kv(), &visit_key(&me.conversation_id))
        .await
        .map_err(internal)?;
    let mut proposal = record.current.clone().ok_or(VisitError::Stale)?;
    let reply = match (body.decline, body.slot) {
        (true, _) => Reply::Decline,
        (false, Some(slot)) => Reply::Pick(slot),
        (false, None) => {
            return Err(AppError::InvalidField {
                field: "slot".into(),
                why: "pick a slot or send decline: true".into(),
            })
        }
    };
    let (label, message) = apply_reply(
        cfg,
        &me.conversation_id,
        &mut proposal,
        (&body.proposal_id, reply, me.side),
    )?;
    announce(
        p,
        cfg,
        &me,
        Step {
            idempotency_key: body.idempotency_key,
            label,
            message,
            record,
            updated: proposal,
        },
    )
    .await
}

/// `POST /api/visit/cancel` `{proposal_id, idempotency_key}`: the proposer withdraws.
pub async fn cancel<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let me = party(p, cfg, req).await?;
    let body: CancelBody = parse(req)?;
    let record = visits::load(p.kv(), &visit_key(&me.conversation_id))
        .await
        .map_err(internal)?;
    let mut proposal = record.current.clone().ok_or(VisitError::Stale)?;
    proposal.cancel(&body.proposal_id, me.side)?;
    let step = Step {
        idempotency_key: body.idempotency_key,
        label: "لغو قرار بازدید".into(),
        message: messages::cancelled(),
        record,
        updated: proposal,
    };
    announce(p, cfg, &me, step).await
}

const STALE_TOAST: &str = "این پیشنهاد دیگر معتبر نیست؛ آخرین پیام گفتگو را ببینید.";
const OPEN_PAGE_TOAST: &str = "برای پاسخ، افزونه را باز کنید.";

/// `POST /divar/dynamic-action`: a one-tap answer from a proposal's buttons.
pub async fn dynamic_action<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let body = authenticated_json_body(cfg, req, 16 * 1024)?;
    let tap = parse_dynamic_action(body)?;
    let answer = match (tap.conversation_id.as_deref(), tap.user_side, tap.data_str("p")) {
        (Some(conversation_id), Some(side), Some(proposal_id)) => {
            one_tap(p, cfg, (conversation_id, side, proposal_id), &tap)
                .await
                .map_err(internal)?
        }
        _ => DynamicActionAnswer::toast(STALE_TOAST),
    };
    Ok(Response::json(200, &answer))
}

async fn one_tap<P: Platform>(
    p: &P,
    cfg: &Config,
    (conversation_id, side, proposal_id): (&str, UserSide, &str),
    tap: &DynamicActionRequest,
) -> Result<DynamicActionAnswer, KvError> {
    let user_id = tap.user_id.as_deref();
    let key = visit_key(conversation_id);
    let mut record = visits::load(p.kv(), &key).await?;
    let Some(mut proposal) = record.current.clone() else {
        return Ok(DynamicActionAnswer::toast(STALE_TOAST));
    };
    let open_page = || DynamicActionAnswer {
        action: Some(Action::server_link(&[("v", "answer"), ("p", proposal_id)])),
        text_message: Some(OPEN_PAGE_TOAST.into()),
    };
    let reply = match tap.data_str("v") {
        // A slot that does not parse can match no slot: the model answers NoSuchSlot.
        Some("pick") => Reply::Pick(tap.data_str("s").and_then(|s| s.parse().ok()).unwrap_or(usize::MAX)),
        Some("decline") => Reply::Decline,
        _ => return Ok(DynamicActionAnswer::toast(STALE_TOAST)),
    };
    let (label, message) = match apply_reply(cfg, conversation_id, &mut proposal, (proposal_id, reply, side)) {
        Ok(announcement) => announcement,
        Err(VisitError::NotYourTurn) => return Ok(DynamicActionAnswer::toast("منتظر پاسخ طرف دیگر گفتگو هستیم.")),
        Err(_) => return Ok(DynamicActionAnswer::toast(STALE_TOAST)),
    };
    let idem = format!("tap-{}-{proposal_id}", reply.name());
    // Without the person's permission we cannot post for them: open the page instead.
    let Some(user_id) = user_id else { return Ok(open_page()) };
    let grant = user_grant_key(user_id, conversation_id);
    if !matches!(usable_token(p, cfg, &grant).await?, TokenStatus::Ready(_)) {
        return Ok(open_page());
    }
    let outgoing = Outgoing {
        session_id: format!("tap-{}", &key[..32]),
        grant_key: grant,
        conversation_id: conversation_id.to_string(),
        idempotency_key: idem,
        text: label,
        message,
    };
    let delivery = match send_through_outbox(p, cfg, outgoing).await {
        Ok((_, delivery)) => delivery,
        Err(OutboxError::Kv(e)) => return Err(e),
        Err(OutboxError::KeyReused) => return Ok(DynamicActionAnswer::toast(STALE_TOAST)),
    };
    if !took_effect(&delivery) {
        return Ok(match delivery.state {
            DeliveryState::NeedsConsent => open_page(),
            _ => DynamicActionAnswer::toast("ارسال پاسخ ممکن نشد؛ لطفاً از داخل افزونه دوباره تلاش کنید."),
        });
    }
    record.post_token = record.post_token.or_else(|| tap.post_token.clone());
    let toast = match proposal.confirmed_at() {
        Some(at) => format!("✅ ثبت شد: {}", format_tehran(at)),
        None => "پاسخ شما ثبت شد.".to_string(),
    };
    record.current = Some(proposal);
    visits::save(p.kv(), &key, &record).await?;
    Ok(DynamicActionAnswer::toast(&toast))
}

/// `GET /ics/<visit key>-<proposal id>.ics`: the agreed visit for a calendar.
pub async fn calendar<P: Platform>(p: &P, _cfg: &Config, req: &Request) -> AppResult<Response> {
    let name = req
        .path
        .strip_prefix("/ics/")
        .and_then(|n| n.strip_suffix(".ics"))
        .ok_or(AppError::NotFound)?;
    let (key, proposal_id) = name.split_once('-').ok_or(AppError::NotFound)?;
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let record = visits::load(p.kv(), key).await.map_err(internal)?;
    let proposal = record
        .current
        .filter(|c| c.id == proposal_id)
        .ok_or(AppError::NotFound)?;
    let at = proposal.confirmed_at().ok_or(AppError::NotFound)?;
    let post_url = record.post_token.as_ref().map(|t| format!("https://divar.ir/v/{t}"));
    let mut description = format!("قرار بازدید هماهنگ‌شده در گفتگوی دیوار، {}", format_tehran(at));
    if !proposal.note.is_empty() {
        description.push_str(&format!("\nیادداشت: {}", proposal.note));
    }
    let body = ics::render(&VisitEvent {
        uid: &proposal.id,
        start_unix: at,
        summary: "بازدید (دیوار)",
        description: &description,
        url: post_url.as_deref(),
        stamp_unix: (p.now_ms() / 1000) as i64,
    });
    Ok(Response {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/calendar; charset=utf-8".into()),
            (
                "content-disposition".into(),
                "attachment; filename=\"visit.ics\"".into(),
            ),
            ("cache-control".into(), "no-store".into()),
            ("x-content-type-options".into(), "nosniff".into()),
            ("referrer-policy".into(), "no-referrer".into()),
        ],
        body: body.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::crypto::Sealer;
    use crate::flows::launch::session_init;
    use crate::store::grants::{self, Grant};
    use crate::testkit::TestPlatform;
    use crate::web::Method;
    use serde_json::{json, Value};

    const SEND: &str = "/v2/open-platform/conversations/";
    const KEY: &str = "dev-divar-identification-key-0123456789";

    struct Chat {
        p: TestPlatform,
        cfg: Config,
    }

    impl Chat {
        fn new() -> Self {
            Chat {
                p: TestPlatform::default(),
                cfg: dev_config(),
            }
        }
        fn launch(&self, side: &str, user: &str, extra: Value) -> String {
            let body = json!({"source": "CHAT", "post_token": "wZC44q5D", "conversation_id": "conv-1",
                              "user_side": side, "user_id": user, "extra_data": extra});
            let req = Request::new(Method::Post, "/divar/session-init")
                .with_header("authorization", KEY)
                .with_header("content-type", "application/json")
                .with_body(body.to_string());
            let resp = pollster::block_on(session_init(&self.p, &self.cfg, &req)).expect("launch");
            self.p.run_deferred();
            resp.json_body()["url"]
                .as_str()
                .expect("url")
                .split_once("#h=")
                .expect("h")
                .1
                .to_string()
        }
        fn grant(&self, user: &str) {
            let g = Grant {
                access_token: format!("ory_at_{user}"),
                refresh_token: None,
                expires_at_ms: self.p.now_ms() + 3_600_000,
                scope: None,
            };
            let sealer = Sealer::new(&self.cfg.token_encryption_key);
            pollster::block_on(grants::save(
                self.p.kv(),
                &sealer,
                &user_grant_key(user, "conv-1"),
                &g,
                self.p.now_ms(),
            ))
            .expect("g");
        }
        fn call(&self, handle: &str, path: &str, body: Value) -> Response {
            let req = Request::new(Method::Post, path)
                .with_header("authorization", &format!("Bearer {handle}"))
                .with_header("content-type", "application/json")
                .with_body(body.to_string());
            let f = match path {
                "/api/visit/propose" => pollster::block_on(propose(&self.p, &self.cfg, &req)),
                "/api/visit/answer" => pollster::block_on(answer(&self.p, &self.cfg, &req)),
                _ => pollster::block_on(cancel(&self.p, &self.cfg, &req)),
            };
            f.unwrap_or_else(|e| e.to_response())
        }
        fn state(&self, handle: &str) -> Value {
            let req = Request::new(Method::Get, "/api/visit").with_header("authorization", &format!("Bearer {handle}"));
            pollster::block_on(get(&self.p, &self.cfg, &req))
                .expect("get")
                .json_body()
        }
        fn tap(&self, side: &str, user: Option<&str>, data: Value) -> Value {
            let req = Request::new(Method::Post, "/divar/dynamic-action")
                .with_header("authorization", KEY)
                .with_header("content-type", "application/json")
                .with_body(
                    json!({"touchpoint": "CHAT", "post_token": "wZC44q5D", "conversation_id": "conv-1",
                                  "user_side": side, "user_id": user, "extra_data": data})
                    .to_string(),
                );
            pollster::block_on(dynamic_action(&self.p, &self.cfg, &req))
                .unwrap_or_else(|e| e.to_response())
                .json_body()
        }
        /// Proposes the default slots and returns the proposal id.
        fn propose(&self, handle: &str, key: &str) -> Value {
            let body = json!({"slots": self.slots(), "idempotency_key": key});
            self.call(handle, "/api/visit/propose", body).json_body()["proposal"]["id"].clone()
        }
        fn slots(&self) -> Vec<i64> {
            let now = (self.p.now_ms() / 1000) as i64;
            vec![now + 86_400, now + 2 * 86_400]
        }
        fn sent_bodies(&self) -> Vec<Value> {
            self.p
                .http
                .sent_to(SEND)
                .iter()
                .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or("")).expect("json"))
                .collect()
        }
    }

    #[test]
    fn buyer_proposes_seller_picks_with_one_tap_and_both_get_the_calendar() {
        let chat = Chat::new();
        let buyer = chat.launch("DEMAND", "buyer-1", json!({}));
        chat.grant("buyer-1");
        chat.grant("seller-1");
        chat.p.http.route(SEND, 200, "{}");
        let r = chat.call(
            &buyer,
            "/api/visit/propose",
            json!({"slots": chat.slots(), "note": "زنگ واحد ۳", "idempotency_key": "prop-0001"}),
        );
        assert_eq!(r.json_body()["delivery"], "sent", "{:?}", r.json_body());
        let proposal_id = r.json_body()["proposal"]["id"].as_str().expect("id").to_string();
        let posted = &chat.sent_bodies()[0];
        assert!(posted["message"].as_str().unwrap_or("").contains("زنگ واحد ۳"));
        assert_eq!(
            posted["receiver_buttons"]["rows"][0]["buttons"][1]["action"]["get_dynamic_action"]["data"]["s"],
            "1"
        );
        assert_eq!(
            chat.p.http.sent_to(SEND)[0]
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.as_str()),
            Some("Bearer ory_at_buyer-1")
        );

        chat.p.http.route(SEND, 200, "{}");
        let toast = chat.tap(
            "SUPPLY",
            Some("seller-1"),
            json!({"v": "pick", "p": proposal_id, "s": "1"}),
        );
        assert!(
            toast["text_message"].as_str().unwrap_or("").starts_with("✅"),
            "{toast}"
        );
        let confirmation = &chat.sent_bodies()[1];
        let ics_url = confirmation["receiver_buttons"]["rows"][0]["buttons"][0]["action"]["open_direct_link"]
            .as_str()
            .expect("ics")
            .to_string();
        assert_eq!(
            confirmation["sender_buttons"]["rows"][0]["buttons"][0]["action"]["open_direct_link"],
            ics_url.as_str()
        );
        assert_eq!(
            chat.p.http.sent_to(SEND)[1]
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.as_str()),
            Some("Bearer ory_at_seller-1")
        );

        let seller = chat.launch("SUPPLY", "seller-1", json!({"v": "answer", "p": proposal_id}));
        for handle in [&buyer, &seller] {
            let view = chat.state(handle);
            assert_eq!(view["proposal"]["status"]["kind"], "confirmed");
            assert_eq!(view["proposal"]["ics_url"], ics_url.as_str());
        }
        let path = ics_url.strip_prefix("http://127.0.0.1:8787").expect("ours");
        let ics = pollster::block_on(calendar(&chat.p, &chat.cfg, &Request::new(Method::Get, path))).expect("ics");
        assert_eq!(ics.header("content-type"), Some("text/calendar; charset=utf-8"));
        let text = String::from_utf8(ics.body).expect("utf8");
        let at = chat.slots()[1];
        let (y, m, d) = crate::visit::jalali::civil_from_days(at.div_euclid(86_400));
        let secs = at.rem_euclid(86_400);
        let stamp = format!(
            "DTSTART:{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
        assert!(text.contains(&stamp), "{text}");

        let again = chat.tap(
            "SUPPLY",
            Some("seller-1"),
            json!({"v": "pick", "p": proposal_id, "s": "0"}),
        );
        assert_eq!(
            again["text_message"], STALE_TOAST,
            "answered once; a second tap never re-confirms"
        );
        assert_eq!(chat.sent_bodies().len(), 2);
    }

    #[test]
    fn a_tap_without_permission_opens_the_page() {
        let chat = Chat::new();
        let buyer = chat.launch("DEMAND", "buyer-1", json!({}));
        chat.grant("buyer-1");
        chat.p.http.route(SEND, 200, "{}");
        let id = chat.propose(&buyer, "prop-0001");
        let answer = chat.tap("SUPPLY", Some("seller-1"), json!({"v": "pick", "p": id, "s": "0"}));
        assert_eq!(
            answer["action"]["open_server_link"]["data"],
            json!({"v": "answer", "p": id})
        );
        assert_eq!(
            chat.state(&buyer)["proposal"]["status"]["kind"],
            "open",
            "nothing changed"
        );
        assert_eq!(
            chat.tap("DEMAND", Some("buyer-1"), json!({"v": "pick", "p": id, "s": "0"}))["text_message"],
            "منتظر پاسخ طرف دیگر گفتگو هستیم."
        );
        assert_eq!(
            chat.tap(
                "SUPPLY",
                Some("seller-1"),
                json!({"v": "pick", "p": "old-proposal", "s": "0"})
            )["text_message"],
            STALE_TOAST
        );
    }

    #[test]
    fn consent_first_keeps_the_proposal_until_it_is_posted() {
        let chat = Chat::new();
        let buyer = chat.launch("DEMAND", "buyer-1", json!({}));
        let body = json!({"slots": chat.slots(), "note": "", "idempotency_key": "prop-0001"});
        let first = chat.call(&buyer, "/api/visit/propose", body.clone()).json_body();
        assert_eq!(first["delivery"], "needs_consent");
        assert!(
            chat.state(&buyer)["proposal"].is_null(),
            "not announced, so not in force"
        );
        chat.grant("buyer-1");
        chat.p.http.route(SEND, 200, "{}");
        let second = chat.call(&buyer, "/api/visit/propose", body).json_body();
        assert_eq!(second["delivery"], "sent");
        assert_eq!(chat.state(&buyer)["proposal"]["status"]["kind"], "open");
        assert_eq!(chat.sent_bodies().len(), 1);
    }

    #[test]
    fn answer_from_the_page_decline_and_cancel() {
        let chat = Chat::new();
        let buyer = chat.launch("DEMAND", "buyer-1", json!({}));
        let seller = chat.launch("SUPPLY", "seller-1", json!({}));
        chat.grant("buyer-1");
        chat.grant("seller-1");
        for _ in 0..5 {
            chat.p.http.route(SEND, 200, "{}");
        }
        let id = chat.propose(&buyer, "prop-0001");
        assert_eq!(chat.state(&seller)["can_answer"], true);
        let days = chat.state(&seller)["days"].as_array().cloned().unwrap_or_default();
        assert_eq!(days.len(), 14);
        assert!(days[0]["start"].as_i64().unwrap_or(i64::MAX) <= (chat.p.now_ms() / 1000) as i64);
        assert_eq!(
            days[1]["start"].as_i64().unwrap_or(0) - days[0]["start"].as_i64().unwrap_or(0),
            86_400
        );
        assert_eq!(chat.state(&buyer)["can_answer"], false);
        assert_eq!(
            chat.call(
                &seller,
                "/api/visit/propose",
                json!({"slots": chat.slots(), "idempotency_key": "prop-0002"})
            )
            .status,
            422,
            "not while the other side's proposal is open"
        );
        assert_eq!(
            chat.call(
                &seller,
                "/api/visit/cancel",
                json!({"proposal_id": id, "idempotency_key": "cancel-01"})
            )
            .status,
            422
        );
        let declined = chat.call(
            &seller,
            "/api/visit/answer",
            json!({"proposal_id": id, "decline": true, "idempotency_key": "answer-01"}),
        );
        assert_eq!(declined.json_body()["proposal"]["status"]["kind"], "declined");
        assert_eq!(
            chat.call(
                &seller,
                "/api/visit/answer",
                json!({"proposal_id": id, "slot": 0, "idempotency_key": "answer-02"})
            )
            .status,
            422,
            "stale"
        );

        let id2 = chat.propose(&seller, "prop-0003");
        let picked = chat.call(
            &buyer,
            "/api/visit/answer",
            json!({"proposal_id": id2, "slot": 0, "idempotency_key": "answer-03"}),
        );
        assert_eq!(picked.json_body()["proposal"]["status"]["kind"], "confirmed");
        let cancelled = chat.call(
            &seller,
            "/api/visit/cancel",
            json!({"proposal_id": id2, "idempotency_key": "cancel-02"}),
        );
        assert_eq!(cancelled.json_body()["proposal"]["status"]["kind"], "cancelled");
        assert_eq!(chat.sent_bodies().len(), 5);
        assert!(chat.sent_bodies()[4]["message"].as_str().unwrap_or("").contains("لغو"));
    }

    #[test]
    fn bad_proposals_and_calendar_requests_are_4xx() {
        let chat = Chat::new();
        let buyer = chat.launch("DEMAND", "buyer-1", json!({}));
        let r = chat.call(
            &buyer,
            "/api/visit/propose",
            json!({"slots": [1], "idempotency_key": "prop-0001"}),
        );
        assert_eq!(
            (r.status, r.json_body()["error"].as_str()),
            (422, Some("invalid_field"))
        );
        assert_eq!(
            chat.call(&buyer, "/api/visit/propose", json!({"slots": "soon"})).status,
            400
        );
        for path in [
            "/ics/nothing.ics",
            "/ics/zz-p.ics",
            &format!("/ics/{}-p1.ics", "a".repeat(64)),
        ] {
            let r = pollster::block_on(calendar(&chat.p, &chat.cfg, &Request::new(Method::Get, path)))
                .map_err(|e| e.status());
            assert_eq!(r.err(), Some(404), "{path}");
        }
        let unauth = Request::new(Method::Post, "/divar/dynamic-action")
            .with_header("content-type", "application/json")
            .with_body("{}");
        assert_eq!(
            pollster::block_on(dynamic_action(&chat.p, &chat.cfg, &unauth))
                .map_err(|e| e.status())
                .err(),
            Some(401)
        );
        assert_eq!(chat.tap("SUPPLY", None, json!({}))["text_message"], STALE_TOAST);
    }
}
