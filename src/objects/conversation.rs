//! A conversation's object: the one writer for everything that belongs to one conversation —
//! each service's state, the outbox and each item's delivery, idempotency keys. Every command
//! decides in one transaction (no await inside, so nothing interleaves), then sends through
//! the delivery engine, then re-arms the alarm that retries what is left.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::sql::{Sql, StoreError};
use super::ObjectHost;
use super::{reminders, service_state};
use crate::config::Config;
use crate::delivery::outbox::{self, DeliveryState, Effect, Item, NewItem, STATE_VERSION_KEY};
use crate::delivery::tokens::TokenStatus;
use crate::delivery::{engine, Destination, GrantFor, Payload};
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::message::ConversationMessage;
use crate::kenar::side::UserSide;
use crate::objects::person;
use crate::platform::{ObjectClass, Objects};
use crate::services::{Actor, ConversationKind, Ctx, Incoming, PageService, Service, ServiceId, Step};
use crate::web::Response;
use crate::{dispatch, dispatch_page};

/// A button drawn from an older state of its service (buttons from before versions carried
/// none: their service judges them itself).
fn drawn_from_older_state(data: &Map<String, Value>, version: i64) -> bool {
    match data.get(STATE_VERSION_KEY) {
        None => false,
        Some(v) => v.as_str().and_then(|v| v.parse::<i64>().ok()) != Some(version),
    }
}

/// How many of a session's items the page's list shows.
const LIST_LIMIT: usize = 50;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationCommand {
    /// A free message from the page, posted on the person's behalf.
    Message {
        conversation_id: String,
        actor: Actor,
        idempotency_key: String,
        text: String,
        message: ConversationMessage,
    },
    /// The page's list of what its session sent.
    Items { session: String },
    /// A message Divar delivered as an event: in the app's bot chat, or in a post's chat the
    /// app subscribed to. `from_bot` marks the app's own messages coming back.
    Incoming {
        conversation_id: String,
        bot: bool,
        from_bot: bool,
        message: Incoming,
    },
    /// `GET /api/<service>`.
    View {
        conversation_id: String,
        service: ServiceId,
        actor: Actor,
    },
    /// `POST /api/<service>/<op>`.
    Act {
        conversation_id: String,
        service: ServiceId,
        actor: Actor,
        op: String,
        idempotency_key: String,
        /// The page's JSON object as it came (the service reads its own fields from it).
        body: String,
    },
    /// A one-tap button in the chat.
    Tap {
        conversation_id: String,
        service: ServiceId,
        actor: Actor,
        data: Map<String, Value>,
    },
    /// A file a service serves (the calendar file of an agreed visit).
    Resource {
        conversation_key: String,
        service: ServiceId,
        name: String,
    },
    /// Each service's one line about this conversation, for the seller's list of a post's
    /// conversations. Named by key: the list holds no conversation ids.
    Glance,
    /// Runs the storage contract in this object (end-to-end harness only).
    SelfTest,
}

/// Divar's deliveries already handled, by message id: a repeated, reordered or concurrent
/// delivery of one message is answered once.
const HANDLED_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS handled (id TEXT PRIMARY KEY, at INTEGER NOT NULL)"];
/// The sides whose people have written here themselves (not through the app): once the seller
/// has, their assistant keeps quiet in this conversation.
const WRITERS_SCHEMA: &[&str] =
    &["CREATE TABLE IF NOT EXISTS writers (side TEXT PRIMARY KEY, first_at INTEGER NOT NULL)"];
/// How long a delivery is remembered; Divar redelivers within minutes, not weeks.
const HANDLED_KEEP_MS: u64 = 7 * 24 * 3600 * 1000;

pub const SCHEMA_ALL: [&[&str]; 5] = [
    outbox::SCHEMA,
    service_state::SCHEMA,
    HANDLED_SCHEMA,
    WRITERS_SCHEMA,
    reminders::SCHEMA,
];

/// Notes that a person of `side` wrote here, and answers whether the seller ever has.
fn note_writer<S: Sql>(s: &S, side: Option<UserSide>, now_ms: u64) -> Result<bool, StoreError> {
    if let Some(side) = side {
        let name = if side == UserSide::Supply { "seller" } else { "buyer" };
        s.exec(
            "INSERT INTO writers (side, first_at) VALUES (?, ?) ON CONFLICT(side) DO NOTHING",
            &[name.into(), now_ms.into()],
        )?;
    }
    Ok(s.scalar("SELECT COUNT(*) FROM writers WHERE side = 'seller'", &[])?
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
        > 0)
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        internal(e)
    }
}

/// Applies an effect whose announcement reached the chat, and sets the reminder the new state
/// asks for (sent on behalf of the same person).
fn settle<S: Sql>(s: &S, effect: &Effect, dest: &Destination, now_ms: u64) -> Result<(), StoreError> {
    if !service_state::apply(s, effect, now_ms)? {
        // The per-service lock makes this unreachable; keep the chat's truth and say so.
        return Err(StoreError(format!(
            "{} state moved on under an in-flight step",
            effect.service
        )));
    }
    match ServiceId::parse(&effect.service) {
        Some(service) => reminders::plan(s, service, dest, now_ms),
        None => Ok(()),
    }
}

/// Keeps the object's alarm on the next thing it waits for: the outbox, or a reminder.
async fn rearm<H: ObjectHost>(h: &H) -> Result<(), StoreError> {
    let outbox = outbox::next_wake(h.sql(), h.now_ms(), engine::PENDING_GRACE_MS)?;
    let reminder = reminders::next_at(h.sql())?;
    match outbox.into_iter().chain(reminder).min() {
        Some(at) => h.schedule(at).await,
        None => h.unschedule().await,
    }
    Ok(())
}

/// Sends a command to the object named `key` and hands its answer back.
pub async fn call<O: Objects>(objects: &O, key: &str, command: &ConversationCommand) -> Result<Response, AppError> {
    let body = serde_json::to_string(command).map_err(internal)?;
    objects
        .call(ObjectClass::Conversation, key, body)
        .await
        .map_err(internal)
}

/// Runs one command. Never panics; every failure is a JSON error response.
pub async fn handle<H: ObjectHost>(h: &H, cfg: &Config, command: &[u8]) -> Response {
    if let Err(e) = super::ensure_schema(h, &SCHEMA_ALL) {
        return internal(e).to_response();
    }
    let Ok(command) = serde_json::from_slice::<ConversationCommand>(command) else {
        return super::bad_command("conversation");
    };
    let result = run(h, cfg, command).await;
    // Whatever happened, the alarm must cover what is still waiting.
    if let Err(e) = rearm(h).await {
        h.log(&format!("conversation: could not re-arm the alarm: {e}"));
    }
    result.unwrap_or_else(|e| {
        if e.status() >= 500 {
            h.log(&format!("conversation: {e}"));
        }
        e.to_response()
    })
}

/// The alarm: retries whatever is due, then sets the next alarm.
pub async fn alarm<H: ObjectHost>(h: &H, cfg: &Config) {
    if let Err(e) = super::ensure_schema(h, &SCHEMA_ALL) {
        h.log(&format!("conversation alarm: {e}"));
        return;
    }
    if let Err(e) = reminders::fire_due(h.sql(), h.now_ms()) {
        h.log(&format!("conversation alarm: reminders: {e}"));
    }
    if let Err(e) = engine::pump_all(h, cfg, &settle).await {
        h.log(&format!("conversation alarm: {e}"));
    }
    if let Err(e) = rearm(h).await {
        h.log(&format!("conversation alarm: could not re-arm: {e}"));
    }
}

async fn run<H: ObjectHost>(h: &H, cfg: &Config, command: ConversationCommand) -> Result<Response, AppError> {
    match command {
        ConversationCommand::Message {
            conversation_id,
            actor,
            idempotency_key,
            text,
            message,
        } => {
            let session = actor.session.clone().unwrap_or_default();
            let new = NewItem {
                idem: format!("message:{}:{idempotency_key}", scope(&actor)),
                session,
                dest: Destination::User {
                    conversation_id,
                    person: actor.person.clone(),
                },
                text,
                payload: Payload::Conversation(message),
                effect: None,
            };
            let seq = h.sql().transaction(|| admit(h, new, None, || Ok(())))?;
            let item = deliver(h, cfg, seq).await?;
            Ok(Response::json(200, &json!({ "item": item_view(&item) })))
        }
        ConversationCommand::Incoming {
            conversation_id,
            bot,
            from_bot,
            mut message,
        } => {
            let ctx = Ctx::new(cfg, h.now_ms(), &conversation_id);
            let kind = if bot {
                ConversationKind::Bot
            } else {
                ConversationKind::Post
            };
            // Recorded and answered in one transaction; the reply itself goes out on the alarm
            // right after, so Divar's delivery is acknowledged at once.
            let outcome = h.sql().transaction(|| {
                // Deliveries older than Divar's redelivery window are forgotten as new ones come.
                let forget_before = h.now_ms().saturating_sub(HANDLED_KEEP_MS);
                h.sql()
                    .exec("DELETE FROM handled WHERE at < ?", &[forget_before.into()])?;
                let fresh = h.sql().exec(
                    "INSERT INTO handled (id, at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING RETURNING id",
                    &[message.id.as_str().into(), h.now_ms().into()],
                )?;
                if fresh.is_empty() {
                    return Ok::<_, AppError>("duplicate");
                }
                if from_bot {
                    // Our own message coming back: never answered, so nothing can loop.
                    return Ok("own");
                }
                if !bot {
                    message.seller_joined = note_writer(h.sql(), message.side, h.now_ms())?;
                }
                for service in ServiceId::ALL {
                    if dispatch!(service, S => reply_to::<H, S>(h, &ctx, kind, &message)?) {
                        return Ok("answered");
                    }
                }
                Ok("ignored")
            })?;
            Ok(Response::json(200, &json!({ "outcome": outcome })))
        }
        ConversationCommand::Items { session } => {
            let items = outbox::list_session(h.sql(), &session, LIST_LIMIT)?;
            let views: Vec<Value> = items.iter().map(item_view).collect();
            Ok(Response::json(200, &json!({ "items": views })))
        }
        ConversationCommand::View {
            conversation_id,
            service,
            actor,
        } => dispatch_page!(service, S => view::<H, S>(h, cfg, &conversation_id, &actor), Err(AppError::NotFound)),
        ConversationCommand::Act {
            conversation_id,
            service,
            actor,
            op,
            idempotency_key,
            body,
        } => {
            let call = ActCall {
                conversation_id: &conversation_id,
                actor: &actor,
                op: &op,
                idempotency_key: &idempotency_key,
                body: &body,
            };
            dispatch_page!(service, S => act::<H, S>(h, cfg, call).await, Err(AppError::NotFound))
        }
        ConversationCommand::Tap {
            conversation_id,
            service,
            actor,
            data,
        } => {
            let answer = dispatch!(service, S => tap::<H, S>(h, cfg, &conversation_id, &actor, &data).await)?;
            Ok(Response::json(200, &answer))
        }
        ConversationCommand::Resource {
            conversation_key,
            service,
            name,
        } => dispatch_page!(service, S => {
            let (_, state) = service_state::load::<_, <S as Service>::State>(h.sql(), S::ID.name())?;
            let ctx = Ctx { cfg, now_ms: h.now_ms(), conversation_id: "", conversation_key };
            S::resource(&ctx, &state, &name)
        }, Err(AppError::NotFound)),
        ConversationCommand::Glance => {
            let ctx = Ctx::new(cfg, h.now_ms(), "");
            let mut out = Map::new();
            for service in ServiceId::ALL {
                let glance = dispatch!(service, S => {
                    let (_, state) = service_state::load::<_, <S as Service>::State>(h.sql(), S::ID.name())?;
                    S::glance(&ctx, &state)
                });
                if let Some(g) = glance {
                    out.insert(service.name().into(), g);
                }
            }
            out.insert("seller_joined".into(), Value::Bool(note_writer(h.sql(), None, 0)?));
            Ok(Response::json(200, &Value::Object(out)))
        }
        ConversationCommand::SelfTest if cfg.selftest => {
            let results: Vec<Value> = super::contract::run(h.sql())
                .into_iter()
                .map(|(name, r)| json!({ "name": name, "ok": r.is_ok(), "error": r.err() }))
                .collect();
            Ok(Response::json(200, &json!({ "checks": results })))
        }
        ConversationCommand::SelfTest => Err(AppError::NotFound),
    }
}

/// Offers a delivered message to service `S`; true when it answered (the reply is queued).
fn reply_to<H: ObjectHost, S: Service>(
    h: &H,
    ctx: &Ctx,
    kind: ConversationKind,
    message: &Incoming,
) -> Result<bool, AppError> {
    if S::KIND != kind {
        return Ok(false);
    }
    let p = project::<S, _>(h.sql())?;
    let Some(mut step) = S::on_message(ctx, &p.projected, message, p.in_flight) else {
        return Ok(false);
    };
    if p.in_flight && step.state.take().is_some() {
        h.log(&format!(
            "{}: a reply tried to change the state while a change was on its way",
            S::ID.name()
        ));
    }
    let dest = match (kind, &message.poster) {
        (ConversationKind::Bot, _) => Destination::Bot {
            conversation_id: ctx.conversation_id.to_string(),
        },
        // In a post's chat the app speaks only for the seller whose subscription brought the
        // message, with the grant they gave for the post.
        (ConversationKind::Post, Some(poster)) => Destination::Poster {
            conversation_id: ctx.conversation_id.to_string(),
            person: poster.person.clone(),
            post_token: poster.post_token.clone(),
        },
        (ConversationKind::Post, None) => return Ok(false),
    };
    if S::STATE_AT_ONCE {
        if let Some(state) = step.state.take() {
            let effect = Effect {
                service: S::ID.name().into(),
                from_version: p.version,
                state: serde_json::to_string(&state).map_err(internal)?,
            };
            // A service whose state changes at once (the assistant) asks for no reminder.
            if !service_state::apply(h.sql(), &effect, h.now_ms())? {
                return Err(internal("the state moved on within one transaction"));
            }
        }
    }
    let idem = format!("event:{}", message.id);
    let (new, effect) = step_item(S::ID, (idem, String::new()), dest, p.version, step)?;
    admit(h, new, effect.as_ref(), || Ok(()))?;
    Ok(true)
}

/// Who an idempotency key belongs to: the launch session on the page, else the person.
fn scope(actor: &Actor) -> &str {
    actor.session.as_deref().unwrap_or(actor.person.as_str())
}

fn key_reused() -> AppError {
    AppError::InvalidField {
        field: "idempotency_key".into(),
        why: "this key was already used for a different message".into(),
    }
}

/// Puts `new` into the outbox, or finds the item its key already names. `check` runs only
/// when the item will (again) go out: the place for a service's busy lock. Returns the
/// item's sequence number.
fn admit<H: ObjectHost>(
    h: &H,
    new: NewItem,
    effect: Option<&Effect>,
    check: impl FnOnce() -> Result<(), AppError>,
) -> Result<i64, AppError> {
    let fingerprint = new.fingerprint()?;
    match outbox::find(h.sql(), &new.idem)? {
        Some(item) if item.fingerprint != fingerprint => Err(key_reused()),
        // Sent, failed for good, or on its way: the same submission, nothing more to do.
        Some(item) if item.state != DeliveryState::NeedsConsent => Ok(item.seq),
        Some(item) => {
            check()?;
            outbox::reactivate(h.sql(), item.seq, effect, h.now_ms())?;
            Ok(item.seq)
        }
        None => {
            check()?;
            Ok(outbox::insert(h.sql(), new, h.now_ms())?.seq)
        }
    }
}

/// Sends the item's lane (the item and anything of the same sender queued before it) and
/// returns the item as it stands afterwards.
async fn deliver<H: ObjectHost>(h: &H, cfg: &Config, seq: i64) -> Result<Item, AppError> {
    let item = outbox::get(h.sql(), seq)?.ok_or_else(|| internal("an admitted item vanished"))?;
    if item.state.in_flight() {
        // Cover the send with an alarm before it starts: if the object is evicted mid-send,
        // the alarm takes the lease over.
        h.schedule(h.now_ms() + engine::lease_ms(cfg)).await;
        engine::pump(h, cfg, &item.lane, &settle).await?;
    }
    outbox::get(h.sql(), seq)?.ok_or_else(|| internal("an admitted item vanished"))
}

fn item_view(item: &Item) -> Value {
    let mut view = json!({
        "id": item.seq.to_string(),
        "text": item.text,
        "state": item.state.public(),
        "attempts": item.attempts,
        "created_at_ms": item.created_at_ms,
    });
    if let Some(reason) = &item.reason {
        view["reason"] = Value::String(reason.clone());
    }
    view
}

/// The state a new step is planned against: the current one, or the one the step already on
/// its way will lead to. Planning against the latter is what makes a second answer to the same
/// proposal "no longer open" while the first is still being sent.
struct Projection<T> {
    version: i64,
    current: T,
    projected: T,
    in_flight: bool,
}

fn project<S: Service, Q: Sql>(sql: &Q) -> Result<Projection<S::State>, AppError> {
    let (version, current) = service_state::load::<_, S::State>(sql, S::ID.name())?;
    let pending = outbox::effect_in_flight(sql, S::ID.name())?.and_then(|i| i.effect);
    let projected = match &pending {
        Some(effect) => serde_json::from_slice(effect.state.as_bytes()).map_err(internal)?,
        None => current.clone(),
    };
    Ok(Projection {
        version,
        current,
        projected,
        in_flight: pending.is_some(),
    })
}

fn view<H: ObjectHost, S: PageService>(
    h: &H,
    cfg: &Config,
    conversation_id: &str,
    actor: &Actor,
) -> Result<Response, AppError> {
    let p = project::<S, _>(h.sql())?;
    let ctx = Ctx::new(cfg, h.now_ms(), conversation_id);
    Ok(Response::json(200, &S::view(&ctx, &p.current, actor, p.in_flight)?))
}

struct ActCall<'a> {
    conversation_id: &'a str,
    actor: &'a Actor,
    op: &'a str,
    idempotency_key: &'a str,
    body: &'a str,
}

/// The item a planned step becomes, with its effect when the step changes the service's state.
fn step_item<T: Serialize>(
    service: ServiceId,
    (idem, session): (String, String),
    dest: Destination,
    version: i64,
    step: Step<T>,
) -> Result<(NewItem, Option<Effect>), AppError> {
    let effect = match &step.state {
        Some(state) => Some(Effect {
            service: service.name().into(),
            from_version: version,
            state: serde_json::to_string(state).map_err(internal)?,
        }),
        None => None,
    };
    let new = NewItem {
        idem,
        session,
        dest,
        text: step.label,
        payload: step.message,
        effect: effect.clone(),
    };
    Ok((new, effect))
}

/// Where a service's messages go: on the acting person's behalf in a post's chat, or from the
/// app's bot in a bot chat.
fn destination<S: Service>(conversation_id: &str, actor: &Actor) -> Destination {
    match S::KIND {
        ConversationKind::Post => Destination::User {
            conversation_id: conversation_id.to_string(),
            person: actor.person.clone(),
        },
        ConversationKind::Bot => Destination::Bot {
            conversation_id: conversation_id.to_string(),
        },
    }
}

/// Only one state-changing step of a service may be on its way at a time.
fn lock<S: Service>(in_flight: bool, effect: Option<&Effect>) -> Result<(), AppError> {
    if in_flight && effect.is_some() {
        Err(S::busy())
    } else {
        Ok(())
    }
}

/// Plans a page action and admits it: the existing item when its key was used, else a new
/// one carrying the step's effect, unless another step of the service is on its way.
fn admit_step<H: ObjectHost, S: PageService>(
    h: &H,
    ctx: &Ctx,
    call: &ActCall,
    dest: Destination,
) -> Result<i64, AppError> {
    let p = project::<S, _>(h.sql())?;
    let idem = format!("{}:{}:{}", S::ID.name(), scope(call.actor), call.idempotency_key);
    // A key whose item went out (or is on its way) is that submission, whatever planning it
    // again would say now that the state has moved on (the text of a proposal names what it
    // replaces, for one).
    if let Some(item) = outbox::find(h.sql(), &idem)? {
        if item.state != DeliveryState::NeedsConsent {
            return Ok(item.seq);
        }
    }
    let step = S::plan(ctx, &p.projected, call.actor, call.op, call.body)?;
    let session = call.actor.session.clone().unwrap_or_default();
    let (new, effect) = step_item(S::ID, (idem, session), dest, p.version, step)?;
    admit(h, new, effect.as_ref(), || lock::<S>(p.in_flight, effect.as_ref()))
}

async fn act<H: ObjectHost, S: PageService>(h: &H, cfg: &Config, call: ActCall<'_>) -> Result<Response, AppError> {
    let ctx = Ctx::new(cfg, h.now_ms(), call.conversation_id);
    let dest = destination::<S>(call.conversation_id, call.actor);
    let seq = h.sql().transaction(|| admit_step::<H, S>(h, &ctx, &call, dest))?;
    let item = deliver(h, cfg, seq).await?;
    let (_, state) = service_state::load::<_, S::State>(h.sql(), S::ID.name())?;
    let took_effect = item.state == DeliveryState::Sent;
    let mut answer = S::answered(&ctx, &state, item.state, took_effect);
    if let Some(reason) = &item.reason {
        answer["reason"] = Value::String(reason.clone());
    }
    Ok(Response::json(200, &answer))
}

async fn tap<H: ObjectHost, S: Service>(
    h: &H,
    cfg: &Config,
    conversation_id: &str,
    actor: &Actor,
    data: &Map<String, Value>,
) -> Result<DynamicActionAnswer, AppError> {
    let ctx = Ctx::new(cfg, h.now_ms(), conversation_id);
    // A repeated delivery of a tap gets the first one's answer, whatever happened since.
    let Some(key) = S::tap_key(&ctx, data) else {
        return Ok(S::stale_tap());
    };
    if let Some(item) = outbox::find(h.sql(), &key)? {
        if item.state != DeliveryState::NeedsConsent {
            let (_, state) = service_state::load::<_, S::State>(h.sql(), S::ID.name())?;
            return Ok(S::tapped(&ctx, &state, item.state));
        }
    }
    // A first look, to refuse a stale tap without calling anyone.
    let plan = {
        let p = project::<S, _>(h.sql())?;
        if drawn_from_older_state(data, p.version) {
            return Ok(S::stale_tap());
        }
        match S::plan_tap(&ctx, &p.projected, actor, data) {
            Ok(plan) => plan,
            Err(toast) => return Ok(toast),
        }
    };
    // Without the person's permission we cannot post for them: the page asks for it. (The
    // bot posts with the app's key and needs nobody's permission.)
    let open_page = plan.open_page;
    if S::KIND == ConversationKind::Post
        && !matches!(
            person::token(
                h.objects(),
                &actor.person,
                &GrantFor::Conversation(conversation_id.to_string()),
                None
            )
            .await,
            TokenStatus::Ready(_)
        )
    {
        return Ok(open_page);
    }
    let dest = destination::<S>(conversation_id, actor);
    // Planned again: other requests may have run while we asked for the token.
    let admitted = h.sql().transaction(|| {
        let p = project::<S, _>(h.sql())?;
        if drawn_from_older_state(data, p.version) {
            return Ok(Err(S::stale_tap()));
        }
        let plan = match S::plan_tap(&ctx, &p.projected, actor, data) {
            Ok(plan) => plan,
            Err(toast) => return Ok(Err(toast)),
        };
        let (new, effect) = step_item(S::ID, (key.clone(), String::new()), dest, p.version, plan.step)?;
        match admit(h, new, effect.as_ref(), || lock::<S>(p.in_flight, effect.as_ref())) {
            Ok(seq) => Ok(Ok(seq)),
            Err(AppError::InvalidField { .. } | AppError::Conflict(_)) => Ok(Err(S::stale_tap())),
            Err(e) => Err(e),
        }
    })?;
    let seq = match admitted {
        Ok(seq) => seq,
        Err(toast) => return Ok(toast),
    };
    let item = deliver(h, cfg, seq).await?;
    if item.state == DeliveryState::NeedsConsent {
        return Ok(open_page);
    }
    let (_, state) = service_state::load::<_, S::State>(h.sql(), S::ID.name())?;
    Ok(S::tapped(&ctx, &state, item.state))
}

#[cfg(test)]
mod tests;
