//! The services people use inside a conversation, as peers behind one registry. Each owns its
//! pure rules, its state (kept by the conversation's object, versioned), its page routes
//! (`/api/<service>` and `/api/<service>/<op>`), its answers to one-tap buttons (button data
//! names the service in `svc`), and any files it serves. None of them sends anything itself:
//! a step returns the state it leads to and the message that announces it, and the object puts
//! both into the outbox in one transaction. Adding a service: a module here, a `ServiceId`
//! variant, and one arm in `dispatch!`.

pub mod visit;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::delivery::outbox::DeliveryState;
use crate::delivery::PersonKey;
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::message::ConversationMessage;
use crate::kenar::side::UserSide;
use crate::web::Response;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceId {
    Visit,
}

impl ServiceId {
    pub const ALL: [ServiceId; 1] = [ServiceId::Visit];

    pub fn name(self) -> &'static str {
        match self {
            ServiceId::Visit => "visit",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == raw)
    }

    /// The service a tapped button belongs to. Buttons drawn before services named themselves
    /// carry no `svc`; they were all the visit service's.
    pub fn of_button(data: &Map<String, Value>) -> Option<Self> {
        match data.get("svc") {
            None => Some(ServiceId::Visit),
            Some(v) => v.as_str().and_then(Self::parse),
        }
    }
}

/// What a step needs to know about the conversation and the moment.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub now_ms: u64,
    pub conversation_id: &'a str,
    /// The digest that names the conversation's object (and its public file links).
    pub conversation_key: String,
}

impl<'a> Ctx<'a> {
    pub fn new(cfg: &'a Config, now_ms: u64, conversation_id: &'a str) -> Self {
        Ctx {
            cfg,
            now_ms,
            conversation_id,
            conversation_key: crate::delivery::conversation_key(conversation_id),
        }
    }
}

/// Who acts. From the page: the launch session's person and side. From a tap: Divar's word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub person: PersonKey,
    pub side: Option<UserSide>,
    /// The launch session, when acting from the page; none for a one-tap answer.
    pub session: Option<String>,
    pub post_token: Option<String>,
}

/// A change a service wants: the state it leads to once `message` is in the chat.
pub struct Step<S> {
    pub state: S,
    /// One line for the person's own list of what they sent.
    pub label: String,
    pub message: ConversationMessage,
}

/// A one-tap answer a service planned: the step, the key that makes a second tap of the same
/// button the same step, and the answer when the person has not granted permission yet.
pub struct TapPlan<S> {
    pub idem: String,
    pub step: Step<S>,
    pub open_page: DynamicActionAnswer,
}

pub trait Service {
    const ID: ServiceId;
    type State: Clone + Default + Serialize + DeserializeOwned;

    /// `GET /api/<service>`: what the page shows this person. `in_flight` says a step is on
    /// its way to the chat and the state may change when it lands.
    fn view(ctx: &Ctx, state: &Self::State, actor: &Actor, in_flight: bool) -> Result<Value, AppError>;

    /// `POST /api/<service>/<op>`: the step it asks for, or why not.
    fn plan(ctx: &Ctx, state: &Self::State, actor: &Actor, op: &str, body: &str)
        -> Result<Step<Self::State>, AppError>;

    /// The refusal while another step of this service is still on its way.
    fn busy() -> AppError;

    /// The page's answer after an action: how the announcement went, and the state now.
    fn answered(ctx: &Ctx, state: &Self::State, delivery: DeliveryState, took_effect: bool) -> Value;

    /// A one-tap button: the step, or the toast that refuses it.
    fn plan_tap(
        ctx: &Ctx,
        state: &Self::State,
        actor: &Actor,
        data: &Map<String, Value>,
    ) -> Result<TapPlan<Self::State>, DynamicActionAnswer>;

    /// The toast for a tap that lost a race (another answer got there first).
    fn stale_tap() -> DynamicActionAnswer;

    /// The toast after a tap, by how its announcement went.
    fn tapped(ctx: &Ctx, state: &Self::State, delivery: DeliveryState) -> DynamicActionAnswer;

    /// A file the service serves under its conversation (`GET /<prefix>/<key>-<name>`).
    fn resource(ctx: &Ctx, state: &Self::State, name: &str) -> Result<Response, AppError>;
}

/// Runs `$body` with `$S` bound to the service type `$id` names: the one place that lists them.
#[macro_export]
macro_rules! dispatch {
    ($id:expr, $S:ident => $body:expr) => {
        match $id {
            $crate::services::ServiceId::Visit => {
                type $S = $crate::services::visit::Visit;
                $body
            }
        }
    };
}
