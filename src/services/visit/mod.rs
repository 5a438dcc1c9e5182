//! The reference service: agreeing on a visit (قرار بازدید) inside a post's chat. One side
//! proposes up to three times, the other picks one with a tap or from the page, either side
//! cancels; the agreed visit is offered as a calendar file. Rules in `model`, Persian dates in
//! `jalali`, chat messages in `messages`, the calendar file in `ics`.

pub mod ics;
pub mod jalali;
pub mod messages;
pub mod model;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{Actor, ConversationKind, Ctx, PageService, Reminder, Service, ServiceId, Step, TapPlan};
use crate::crypto::digest_hex;
use crate::delivery::outbox::DeliveryState;
use crate::delivery::Payload;
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::message::Action;
use crate::kenar::side::UserSide;
use crate::web::Response;
use ics::VisitEvent;
use jalali::{format_day, format_short, format_tehran, tehran_midnight};
use model::{may_propose, Proposal, Status, VisitError};

/// The visit negotiation of one conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRecord {
    #[serde(default)]
    pub post_token: Option<String>,
    /// Where the visit is, when a launch said (v1 location messages carry coordinates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default)]
    pub current: Option<Proposal>,
}

pub struct Visit;

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

/// Both sides are reminded in the chat this long before an agreed visit.
const REMIND_BEFORE_SECS: i64 = 2 * 3600;

const STALE_TOAST: &str = "این پیشنهاد دیگر معتبر نیست؛ آخرین پیام گفتگو را ببینید.";
const OPEN_PAGE_TOAST: &str = "برای پاسخ، افزونه را باز کنید.";
const WAIT_TOAST: &str = "منتظر پاسخ طرف دیگر گفتگو هستیم.";

fn ics_url(ctx: &Ctx, proposal: &Proposal) -> String {
    ctx.cfg
        .public_base_url
        .join(&format!("/ics/{}-{}.ics", ctx.conversation_key, proposal.id))
}

fn proposal_view(ctx: &Ctx, p: &Proposal) -> Value {
    let slots: Vec<Value> = p
        .slots
        .iter()
        .map(|at| json!({ "at": at, "label": format_tehran(*at), "short": format_short(*at) }))
        .collect();
    let mut view = json!({
        "id": p.id,
        "slots": slots,
        "note": p.note,
        "proposer": p.proposer,
        "status": p.status,
    });
    if p.confirmed_at().is_some() {
        view["ics_url"] = Value::String(ics_url(ctx, p));
    }
    view
}

fn side_of(actor: &Actor) -> Result<UserSide, AppError> {
    actor.side.ok_or_else(|| AppError::InvalidField {
        field: "user_side".into(),
        why: "Divar did not say which side you are on".into(),
    })
}

fn field<'a, T: Deserialize<'a>>(body: &'a str) -> Result<T, AppError> {
    serde_json::from_slice(body.as_bytes()).map_err(|e| AppError::BadRequest(format!("the body does not fit: {e}")))
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
}

#[derive(Deserialize)]
struct CancelBody {
    proposal_id: String,
}

/// The other side's answer to a proposal.
#[derive(Clone, Copy)]
enum Reply {
    Pick(usize),
    Decline,
}

/// An answer from the page or a one-tap button alike: the record it leads to and its message.
fn reply_step(
    ctx: &Ctx,
    record: &VisitRecord,
    (proposal_id, reply, side): (&str, Reply, UserSide),
) -> Result<Step<VisitRecord>, VisitError> {
    let mut proposal = record.current.clone().ok_or(VisitError::Stale)?;
    let (label, message) = match reply {
        Reply::Pick(slot) => {
            let at = proposal.pick(proposal_id, slot, side)?;
            (
                format!("قطعی: {}", format_short(at)),
                messages::confirmed(&proposal, at, &ics_url(ctx, &proposal)),
            )
        }
        Reply::Decline => {
            proposal.decline(proposal_id, side)?;
            ("پاسخ: هیچ‌کدام".to_string(), messages::declined(side))
        }
    };
    Ok(Step {
        state: Some(VisitRecord {
            post_token: record.post_token.clone(),
            location: record.location.clone(),
            current: Some(proposal),
        }),
        label,
        message: Payload::Conversation(message),
    })
}

impl Service for Visit {
    const ID: ServiceId = ServiceId::Visit;
    const KIND: ConversationKind = ConversationKind::Post;
    type State = VisitRecord;

    fn glance(_ctx: &Ctx, record: &VisitRecord) -> Option<Value> {
        let p = record.current.as_ref()?;
        let (status, label) = match &p.status {
            Status::Open => (
                "proposed",
                format!(
                    "پیشنهاد بازدید با {} زمان، بی‌پاسخ",
                    jalali::persian_digits(&p.slots.len().to_string())
                ),
            ),
            Status::Confirmed { slot, .. } => (
                "confirmed",
                match p.slots.get(*slot) {
                    Some(at) => format!("قرار بازدید: {}", format_short(*at)),
                    None => "قرار بازدید قطعی شد".into(),
                },
            ),
            Status::Declined { .. } => ("declined", "پیشنهاد بازدید رد شد".into()),
            Status::Cancelled => ("cancelled", "قرار بازدید لغو شد".into()),
        };
        Some(json!({ "status": status, "label": label }))
    }

    fn reminder(record: &VisitRecord) -> Option<Reminder> {
        let p = record.current.as_ref()?;
        let at = p.confirmed_at()?;
        let remind_at = at.checked_sub(REMIND_BEFORE_SECS)?;
        Some(Reminder {
            // The proposal and the time: a visit moved or called off since has another key.
            key: format!("{}:{at}", p.id),
            at_ms: u64::try_from(remind_at).ok()? * 1000,
            label: "یادآوری قرار بازدید".into(),
            message: Payload::Conversation(messages::reminder(at)),
        })
    }

    fn busy() -> AppError {
        AppError::Conflict("an earlier change to this visit is still being sent; try again in a moment".into())
    }

    fn plan_tap(
        ctx: &Ctx,
        record: &VisitRecord,
        actor: &Actor,
        data: &Map<String, Value>,
    ) -> Result<TapPlan<VisitRecord>, DynamicActionAnswer> {
        let text = |key: &str| data.get(key).and_then(Value::as_str);
        let stale = || DynamicActionAnswer::toast(STALE_TOAST);
        let (Some(side), Some(proposal_id)) = (actor.side, text("p")) else {
            return Err(stale());
        };
        let reply = match text("v") {
            // A slot that does not parse can match no slot: the model answers NoSuchSlot.
            Some("pick") => Reply::Pick(text("s").and_then(|s| s.parse().ok()).unwrap_or(usize::MAX)),
            Some("decline") => Reply::Decline,
            _ => return Err(stale()),
        };
        let mut step = match reply_step(ctx, record, (proposal_id, reply, side)) {
            Ok(step) => step,
            Err(VisitError::NotYourTurn) => return Err(DynamicActionAnswer::toast(WAIT_TOAST)),
            Err(_) => return Err(stale()),
        };
        if let Some(state) = &mut step.state {
            state.post_token = state.post_token.take().or_else(|| actor.post_token.clone());
        }
        // Without permission the page opens on this proposal, with the tapped time chosen, so
        // consent is the only step left.
        let slot = match reply {
            Reply::Pick(slot) => Some(slot.to_string()),
            Reply::Decline => None,
        };
        let mut data = vec![("v", "answer"), ("p", proposal_id)];
        if let Some(slot) = &slot {
            data.push(("s", slot.as_str()));
        }
        Ok(TapPlan {
            step,
            open_page: DynamicActionAnswer {
                action: Some(Action::server_link(&data)),
                text_message: Some(OPEN_PAGE_TOAST.into()),
            },
        })
    }

    fn tap_key(_ctx: &Ctx, data: &Map<String, Value>) -> Option<String> {
        // One button is one answer: a second tap of it finds the first. A tap on another
        // button while the first is on its way is planned against the answered proposal and
        // refused; after the first could not go (no permission yet), it is a new answer.
        let text = |key: &str| data.get(key).and_then(Value::as_str);
        let proposal = text("p").filter(|p| (1..=32).contains(&p.len()))?;
        match text("v")? {
            "pick" => Some(format!(
                "tap:pick:{}:{proposal}",
                text("s")?.chars().take(4).collect::<String>()
            )),
            "decline" => Some(format!("tap:decline:{proposal}")),
            _ => None,
        }
    }

    fn stale_tap() -> DynamicActionAnswer {
        DynamicActionAnswer::toast(STALE_TOAST)
    }

    fn tapped(_ctx: &Ctx, record: &VisitRecord, delivery: DeliveryState) -> DynamicActionAnswer {
        match delivery {
            DeliveryState::Sent => match record.current.as_ref().and_then(Proposal::confirmed_at) {
                Some(at) => DynamicActionAnswer::toast(&format!("✅ ثبت شد: {}", format_tehran(at))),
                None => DynamicActionAnswer::toast("پاسخ شما ثبت شد."),
            },
            DeliveryState::Pending | DeliveryState::Sending | DeliveryState::Waiting => {
                DynamicActionAnswer::toast("پاسخ شما در صف ارسال است و به‌زودی در گفتگو می‌آید.")
            }
            DeliveryState::NeedsConsent | DeliveryState::Failed => {
                DynamicActionAnswer::toast("ارسال پاسخ ممکن نشد؛ لطفاً از داخل افزونه دوباره تلاش کنید.")
            }
        }
    }
}

/// What an old calendar button opens once its visit has changed or been called off.
fn visit_changed_page() -> Response {
    // 404 whether the visit changed or never existed: the link reveals nothing either way.
    let mut page = Response::html(
        404,
        "<!doctype html><html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>قرار بازدید تغییر کرده است</title><link rel=\"stylesheet\" href=\"/app.css\"></head>\
         <body><main class=\"card notice\" role=\"alert\"><h1>این قرار بازدید دیگر برقرار نیست</h1>\
         <p>قرار بازدید تغییر کرده یا لغو شده است. آخرین پیام قرار بازدید را در گفتگوی دیوار ببینید؛ دکمهٔ «افزودن به تقویم» در آن پیام، قرار تازه را به تقویم شما اضافه می‌کند.</p>\
         </main></body></html>"
            .to_string(),
    );
    page.headers.push(("cache-control".into(), "no-store".into()));
    page
}

#[cfg(test)]
mod tests;

impl PageService for Visit {
    fn view(ctx: &Ctx, record: &VisitRecord, actor: &Actor, in_flight: bool) -> Result<Value, AppError> {
        let side = side_of(actor)?;
        let current = record.current.as_ref();
        let open = current.filter(|c| c.status == Status::Open);
        // The days a proposal may name, labelled here so the page needs no calendar code.
        let today = tehran_midnight((ctx.now_ms / 1000) as i64);
        let days: Vec<Value> = (0..14)
            .map(|i| {
                let start = today + i * 86_400;
                let label = match i {
                    0 => format!("امروز، {}", format_day(start)),
                    1 => format!("فردا، {}", format_day(start)),
                    _ => format_day(start),
                };
                json!({ "start": start, "label": label })
            })
            .collect();
        Ok(json!({
            "side": side,
            "proposal": current.map(|c| proposal_view(ctx, c)),
            "can_propose": !in_flight && may_propose(current, side).is_ok(),
            "can_answer": !in_flight && open.is_some_and(|c| c.proposer != side),
            "can_cancel": !in_flight && current.is_some_and(|c| c.may_cancel(side)),
            "in_flight": in_flight,
            "days": days,
            "now": ctx.now_ms / 1000,
            // The earliest time a proposal may name (Unix seconds): the page offers none sooner.
            "earliest": (ctx.now_ms / 1000) as i64 + model::MIN_LEAD_SECS,
        }))
    }

    fn plan(
        ctx: &Ctx,
        record: &VisitRecord,
        actor: &Actor,
        op: &str,
        body: &str,
    ) -> Result<Step<VisitRecord>, AppError> {
        let side = side_of(actor)?;
        let post_token = record.post_token.clone().or_else(|| actor.post_token.clone());
        match op {
            "propose" => {
                let body: ProposeBody = field(body)?;
                may_propose(record.current.as_ref(), side)?;
                // The id follows from the submission, so resubmitting after consent is the same
                // proposal (and the same message).
                let scope = actor.session.as_deref().unwrap_or(actor.person.as_str());
                let id = digest_hex(&["proposal", scope, &body.idempotency_key])[..16].to_string();
                let proposal = Proposal::new(id, body.slots, &body.note, side, ctx.now_ms)?;
                let label = format!(
                    "پیشنهاد بازدید: {}",
                    proposal
                        .slots
                        .iter()
                        .map(|s| format_short(*s))
                        .collect::<Vec<_>>()
                        .join("، ")
                );
                Ok(Step {
                    message: Payload::Conversation(messages::proposal(&proposal, record.current.as_ref())),
                    state: Some(VisitRecord {
                        post_token,
                        location: record.location.clone().or_else(|| actor.location.clone()),
                        current: Some(proposal),
                    }),
                    label,
                })
            }
            "answer" => {
                let body: AnswerBody = field(body)?;
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
                let mut step = reply_step(ctx, record, (&body.proposal_id, reply, side))?;
                if let Some(state) = &mut step.state {
                    state.post_token = post_token;
                }
                Ok(step)
            }
            "cancel" => {
                let body: CancelBody = field(body)?;
                let before = record.current.clone().ok_or(VisitError::Stale)?;
                let mut proposal = before.clone();
                proposal.cancel(&body.proposal_id, side)?;
                Ok(Step {
                    state: Some(VisitRecord {
                        post_token,
                        location: record.location.clone().or_else(|| actor.location.clone()),
                        current: Some(proposal),
                    }),
                    label: "لغو قرار بازدید".into(),
                    message: Payload::Conversation(messages::cancelled(&before, side)),
                })
            }
            _ => Err(AppError::NotFound),
        }
    }

    fn answered(ctx: &Ctx, record: &VisitRecord, delivery: DeliveryState, took_effect: bool) -> Value {
        let mut answer = json!({ "delivery": delivery.public() });
        if took_effect {
            if let Some(p) = &record.current {
                answer["proposal"] = proposal_view(ctx, p);
            }
        }
        answer
    }

    fn resource(ctx: &Ctx, record: &VisitRecord, name: &str) -> Result<Response, AppError> {
        // A button from an older message (the visit changed or was called off): a page that
        // says so, in Persian, rather than an error a calendar app cannot show.
        let Some((proposal, at)) = record
            .current
            .as_ref()
            .filter(|c| c.id == name)
            .and_then(|c| c.confirmed_at().map(|at| (c, at)))
        else {
            return Ok(visit_changed_page());
        };
        let post_url = record.post_token.as_ref().map(|t| format!("https://divar.ir/v/{t}"));
        let summary = match &record.post_token {
            Some(_) => "بازدید از آگهی دیوار".to_string(),
            None => "بازدید (دیوار)".to_string(),
        };
        let mut description = format!("قرار بازدید هماهنگ‌شده در گفتگوی دیوار، {}", format_tehran(at));
        if !proposal.note.is_empty() {
            description.push_str(&format!("\nیادداشت: {}", proposal.note));
        }
        if let Some(url) = &post_url {
            description.push_str(&format!("\nآگهی: {url}"));
        }
        let body = ics::render(&VisitEvent {
            uid: &proposal.id,
            start_unix: at,
            summary: &summary,
            description: &description,
            url: post_url.as_deref(),
            location: record.location.as_deref(),
            stamp_unix: (ctx.now_ms / 1000) as i64,
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
}
