//! The services people use inside a conversation, as peers behind one registry. Each owns its
//! pure rules, its state (kept by the conversation's object, versioned), its page routes
//! (`/api/<service>` and `/api/<service>/<op>`), its answers to one-tap buttons (button data
//! names the service in `svc`), and any files it serves. None of them sends anything itself:
//! a step returns the state it leads to and the message that announces it, and the object puts
//! both into the outbox in one transaction. Adding a service: a module here, a `ServiceId`
//! variant, and one arm in `dispatch!`.

pub mod assistant;
pub mod chatbot;
pub mod tictactoe;
pub mod visit;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::delivery::outbox::DeliveryState;
use crate::delivery::Payload;
use crate::delivery::PersonKey;
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::side::UserSide;
use crate::web::Response;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceId {
    Visit,
    TicTacToe,
    Chatbot,
    Assistant,
}

impl ServiceId {
    /// In the order a delivered message is offered to them: the chatbot and the seller's
    /// assistant last, as they answer whatever no other service took.
    pub const ALL: [ServiceId; 4] = [
        ServiceId::Visit,
        ServiceId::TicTacToe,
        ServiceId::Chatbot,
        ServiceId::Assistant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServiceId::Visit => "visit",
            ServiceId::TicTacToe => "ttt",
            ServiceId::Chatbot => "bot",
            ServiceId::Assistant => "assist",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == raw)
    }

    /// Whether the service has page routes (`PageService`).
    pub fn has_page(self) -> bool {
        matches!(self, ServiceId::Visit)
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
    /// Where the launch was about, when Divar said (a location message's `lat,lon`).
    #[serde(default)]
    pub location: Option<String>,
}

/// A change a service wants: the message to post and, if the service's state changes with it,
/// the state it leads to once the message is in the chat.
pub struct Step<S> {
    pub state: Option<S>,
    /// One line for the person's own list of what they sent.
    pub label: String,
    pub message: Payload,
}

/// Which conversations a service lives in: a post's chat between two people (posting on a
/// person's behalf, with their grant) or the app's bot chat with one person (the API key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationKind {
    Post,
    Bot,
}

/// A person's message that reached the conversation, as services see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// Divar's message id: each is handled once.
    pub id: String,
    /// The text, cleaned of bidi and control characters; none for media.
    pub text: Option<String>,
    pub sender_user_id: Option<String>,
    pub post_token: Option<String>,
    /// Which side of a post's chat wrote it, when Divar says.
    #[serde(default)]
    pub side: Option<UserSide>,
    /// The post's seller and their assistant's settings, when the message came through the
    /// seller's events subscription and the assistant is on.
    #[serde(default)]
    pub poster: Option<Poster>,
    /// Set by the conversation's object: the seller has written in this conversation
    /// themselves (not through the app).
    #[serde(default)]
    pub seller_joined: bool,
}

/// Whose subscription brought a post's message, and what they want said for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poster {
    pub person: PersonKey,
    pub post_token: String,
    pub assistant: assistant::Settings,
}

/// A message to post at `at_ms`, on behalf of whoever made the step that asked for it.
pub struct Reminder {
    /// Names what it reminds of; a different key at the due time means it no longer stands.
    pub key: String,
    pub at_ms: u64,
    pub label: String,
    pub message: Payload,
}

/// A one-tap answer a service planned: the step, and the answer when the person has not
/// granted permission yet.
pub struct TapPlan<S> {
    pub step: Step<S>,
    pub open_page: DynamicActionAnswer,
}

pub trait Service {
    const ID: ServiceId;
    const KIND: ConversationKind;
    type State: Clone + Default + Serialize + DeserializeOwned;

    /// A message in the conversation: the reply this service gives, if the message is for it.
    /// Services are asked in registry order; the first that answers takes the message.
    /// `in_flight` says a state change of this service is still on its way: a reply now must
    /// not change the state again (say "a moment" instead).
    fn on_message(
        _ctx: &Ctx,
        _state: &Self::State,
        _message: &Incoming,
        _in_flight: bool,
    ) -> Option<Step<Self::State>> {
        None
    }

    /// Whether a step's state is kept the moment it is planned rather than when its message
    /// reaches the chat. For a service whose state is only its memory of what it chose to say
    /// (the assistant's "greeted"), a message that never lands must not be said twice.
    const STATE_AT_ONCE: bool = false;

    /// One line about the service's state for lists elsewhere (the seller's list of a post's
    /// conversations); `None` when there is nothing to show.
    fn glance(_ctx: &Ctx, _state: &Self::State) -> Option<Value> {
        None
    }

    /// A message the service wants posted later, asked each time a step of it reached the
    /// chat and again when it is due (so it goes only if the state still wants it).
    fn reminder(_state: &Self::State) -> Option<Reminder> {
        None
    }

    /// The refusal while another step of this service is still on its way.
    fn busy() -> AppError;

    /// The key that makes every delivery of one tap the same step, read from the button's data
    /// alone (so a repeated delivery is recognised before anything is planned); `None` for
    /// data that is no button of this service.
    fn tap_key(ctx: &Ctx, data: &Map<String, Value>) -> Option<String>;

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
}

/// A service with a page: `GET /api/<name>`, `POST /api/<name>/<op>`, and files under its
/// conversation. Bot services have none.
pub trait PageService: Service {
    /// `GET /api/<service>`: what the page shows this person. `in_flight` says a step is on
    /// its way to the chat and the state may change when it lands.
    fn view(ctx: &Ctx, state: &Self::State, actor: &Actor, in_flight: bool) -> Result<Value, AppError>;

    /// `POST /api/<service>/<op>`: the step it asks for, or why not.
    fn plan(ctx: &Ctx, state: &Self::State, actor: &Actor, op: &str, body: &str)
        -> Result<Step<Self::State>, AppError>;

    /// The page's answer after an action: how the announcement went, and the state now.
    fn answered(ctx: &Ctx, state: &Self::State, delivery: DeliveryState, took_effect: bool) -> Value;

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
            $crate::services::ServiceId::TicTacToe => {
                type $S = $crate::services::tictactoe::TicTacToe;
                $body
            }
            $crate::services::ServiceId::Chatbot => {
                type $S = $crate::services::chatbot::Chatbot;
                $body
            }
            $crate::services::ServiceId::Assistant => {
                type $S = $crate::services::assistant::Assistant;
                $body
            }
        }
    };
}

/// Like `dispatch!`, for the services with a page (`ServiceId::has_page`); `$none` for the rest.
#[macro_export]
macro_rules! dispatch_page {
    ($id:expr, $S:ident => $body:expr, $none:expr) => {
        match $id {
            $crate::services::ServiceId::Visit => {
                type $S = $crate::services::visit::Visit;
                $body
            }
            _ => $none,
        }
    };
}
