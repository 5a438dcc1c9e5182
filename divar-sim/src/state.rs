//! Everything the simulated Divar remembers. One mutex guards it all: the simulator is a test
//! tool, and a single lock (never held across an await) keeps every operation atomic and
//! easy to reason about.

use crate::event_faults::{EventFaultRule, HeldEvent};
use crate::faults::FaultRule;
use crate::ids;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many entries each log keeps; old entries are dropped so a long session stays small.
const LOG_CAP: usize = 5000;

pub const ACCESS_TTL_MS: u64 = 3600 * 1000;
pub const REFRESH_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
pub const CODE_TTL_MS: u64 = 10 * 60 * 1000;
/// Divar keeps a refreshed pair usable for two minutes so a racing client does not lose it.
pub const REFRESH_GRACE_MS: u64 = 2 * 60 * 1000;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub user_id: String,
    pub phone: String,
    pub name: String,
    /// Recipient restriction: any message addressed to this user fails with 412 / code 9.
    pub blocked: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chat {
    pub post_token: String,
    pub conversation_id: String,
    pub seller_user_id: String,
    pub buyer_user_id: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BotConversation {
    pub conversation_id: String,
    pub user_id: String,
}

/// The kinds of message a person can send besides TEXT, with the field of a ChatMessage that
/// carries each one's data instead of `text` (API.md §8.4).
pub const MEDIA_KINDS: &[(&str, &str)] = &[
    ("IMAGE", "image_data"),
    ("FILE", "file_data"),
    ("VOICE", "voice_data"),
    ("LOCATION", "location_data"),
    ("VIDEO", "video_data"),
    ("CONTACT", "contact_data"),
];

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    /// POST (a chat between two people about a post) or BOT (the app's chatbot).
    pub conversation_type: &'static str,
    pub post_token: Option<String>,
    /// The person in whose name the message appears (absent for the bot's own messages).
    pub sender_user_id: Option<String>,
    /// SELLER / BUYER for post chats.
    pub sender_side: Option<&'static str>,
    /// HUMAN when typed by a person, BOT when sent by the app through the API.
    pub sender_type: &'static str,
    /// TEXT, or the kind of a person's media message (API.md §8.4); see `MEDIA_KINDS`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    /// A person's media message: the `<kind>_data` object of its events (link, size, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<Value>,
    pub media_token: Option<String>,
    pub sender_buttons: Option<Value>,
    pub receiver_buttons: Option<Value>,
    /// Buttons of a chatbot message (the bot API has one grid).
    pub buttons: Option<Value>,
    /// Microseconds since the epoch, as Divar's webhook examples carry it.
    pub sent_at: i64,
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub grant: u64,
    pub expires_at_ms: u64,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub grant: u64,
    pub expires_at_ms: u64,
    /// The access token minted together with this refresh token; it gets the grace period too.
    pub paired_access: String,
    /// Set once used: the pair it was exchanged for and when, to honour the grace period.
    pub rotated: Option<(String, String, u64)>,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub grant: u64,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at_ms: u64,
    pub used: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Authorization {
    pub id: String,
    /// pending, approved or denied
    pub status: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: String,
    pub code_challenge: Option<String>,
    /// Who the simulated browser is logged in as (the side that last launched the add-on).
    pub user_id: Option<String>,
    pub redirect_url: Option<String>,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub id: u64,
    pub user_id: String,
    pub event_type: String,
    pub event_resource_id: Option<String>,
    pub metadata: Option<Value>,
    /// Subscriptions live exactly as long as the token that created them.
    #[serde(skip)]
    pub access_token: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: u64,
    pub at_ms: u64,
    /// session_init, dynamic_action or event
    pub kind: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Value,
    pub status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// `ok` (2xx), `http_error` (the app answered another status) or `transport_error`
    /// (refused, timeout, unreadable answer).
    pub outcome: &'static str,
    /// Events only: the envelope's `type`.
    pub event_type: Option<String>,
    /// Events only: one id per envelope Divar meant to send once; every copy an injected
    /// `duplicate` / `concurrent` fault makes shares it, so a test can count copies.
    pub event_id: Option<u64>,
    /// The event fault that shaped this delivery, e.g. `rule 7: duplicate 2/3`.
    pub fault: Option<String>,
}

/// How `sent_at` is spelled in event envelopes (API.md §7.2: the docs show int64 µs, the
/// OpenAPI `date-time`, a public sample an RFC 3339 string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SentAtFormat {
    /// Integer microseconds since the epoch, e.g. `1729429926140000`.
    Micros,
    /// An RFC 3339 UTC string with microseconds, e.g. `"2024-10-20T13:12:06.140000Z"`.
    Rfc3339,
}

impl SentAtFormat {
    pub fn render(self, micros: i64) -> Value {
        match self {
            SentAtFormat::Micros => Value::from(micros),
            SentAtFormat::Rfc3339 => Value::String(rfc3339_from_micros(micros)),
        }
    }
}

/// How a person's messages are labelled in `sender.type` of events: the enum says `HUMAN`, some
/// examples in Divar's `chat.md` say `USER` (API.md §8.4, §12.3 item 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum HumanSenderType {
    #[serde(rename = "HUMAN")]
    #[value(name = "HUMAN")]
    Human,
    #[serde(rename = "USER")]
    #[value(name = "USER")]
    User,
}

impl HumanSenderType {
    pub fn as_str(self) -> &'static str {
        match self {
            HumanSenderType::Human => "HUMAN",
            HumanSenderType::User => "USER",
        }
    }
}

/// Per-run switches for how events are spelled, set from the flags and changed through
/// `POST /_sim/settings`; `POST /_sim/reset` goes back to the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub sent_at_format: SentAtFormat,
    pub human_sender_type: HumanSenderType,
    /// Also deliver the bot's own messages as `NEW_CHATBOT_MESSAGE` with `sender.type: BOT`
    /// (API.md §7.2: "the bot's own messages may also be delivered").
    pub echo_bot_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sent_at_format: SentAtFormat::Micros,
            human_sender_type: HumanSenderType::Human,
            echo_bot_messages: false,
        }
    }
}

/// How one event spells what the settings leave open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStyle {
    pub sent_at_format: SentAtFormat,
    pub human_sender_type: HumanSenderType,
}

impl From<Settings> for EventStyle {
    fn from(s: Settings) -> Self {
        EventStyle {
            sent_at_format: s.sent_at_format,
            human_sender_type: s.human_sender_type,
        }
    }
}

/// RFC 3339 UTC timestamp without pulling in a date crate (days-from-civil inverse).
pub fn rfc3339_from_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiRequest {
    pub id: u64,
    pub at_ms: u64,
    pub endpoint: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// False when the request broke the OpenAPI schema or Divar's extra rules.
    pub valid: bool,
    pub violations: Vec<String>,
    pub fault: Option<String>,
    pub request_body: Option<Value>,
    pub response_body: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub at_ms: u64,
    pub user_id: Option<String>,
}

#[derive(Default)]
pub struct SimState {
    pub clock_offset_ms: u64,
    pub users: Vec<User>,
    pub chats: Vec<Chat>,
    pub bot_conversations: Vec<BotConversation>,
    pub messages: Vec<Message>,
    pub grants: HashMap<u64, Grant>,
    pub next_grant: u64,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub codes: HashMap<String, AuthCode>,
    pub authorizations: Vec<Authorization>,
    pub subscriptions: Vec<Subscription>,
    pub next_subscription: u64,
    pub deliveries: Vec<Delivery>,
    pub requests: Vec<ApiRequest>,
    pub next_log_id: u64,
    pub completions: Vec<Completion>,
    pub faults: Vec<FaultRule>,
    pub current_user: Option<String>,
    /// What the flags set; `reset` returns to it.
    pub base_settings: Settings,
    pub settings: Settings,
    pub event_faults: Vec<EventFaultRule>,
    /// Events a `reorder` fault is holding back, in the order they arrived.
    pub held_events: Vec<HeldEvent>,
    pub next_event: u64,
}

pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Token holder as seen by the Kenar API after a successful bearer check.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub user_id: String,
    pub scopes: Vec<String>,
}

impl TokenOwner {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl SimState {
    /// Simulated "now": wall clock plus whatever the control API advanced it by, so tests can
    /// cross expiry and grace boundaries without sleeping.
    pub fn now_ms(&self) -> u64 {
        wall_ms() + self.clock_offset_ms
    }

    pub fn new_user(&mut self, app_slug: &str) -> User {
        // Re-roll until the id contains '+' or '/', so an app that forgets to percent-encode
        // user ids in URL paths fails every time instead of one run in four.
        let phone = loop {
            let p = ids::phone();
            let id = ids::obfuscated_user_id(app_slug, &p);
            if id.contains('+') || id.contains('/') {
                break p;
            }
        };
        let n = self.users.len() + 1;
        let user = User {
            user_id: ids::obfuscated_user_id(app_slug, &phone),
            phone,
            name: format!("کاربر {n}"),
            blocked: false,
        };
        self.users.push(user.clone());
        user
    }

    pub fn user(&self, user_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.user_id == user_id)
    }

    pub fn user_mut(&mut self, user_id: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.user_id == user_id)
    }

    pub fn chat(&self, conversation_id: &str) -> Option<&Chat> {
        self.chats.iter().find(|c| c.conversation_id == conversation_id)
    }

    pub fn bot_conversation(&self, conversation_id: &str) -> Option<&BotConversation> {
        self.bot_conversations
            .iter()
            .find(|c| c.conversation_id == conversation_id)
    }

    /// The user's chatbot conversation with the app, created on first use.
    pub fn bot_conversation_for(&mut self, user_id: &str) -> BotConversation {
        if let Some(c) = self.bot_conversations.iter().find(|c| c.user_id == user_id) {
            return c.clone();
        }
        let c = BotConversation {
            conversation_id: ids::uuid(),
            user_id: user_id.to_string(),
        };
        self.bot_conversations.push(c.clone());
        c
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_log_id += 1;
        self.next_log_id
    }

    pub fn push_delivery(&mut self, d: Delivery) {
        self.deliveries.push(d);
        trim(&mut self.deliveries);
    }

    pub fn push_request(&mut self, r: ApiRequest) {
        self.requests.push(r);
        trim(&mut self.requests);
    }

    /// Resolve a bearer token to its owner, honouring expiry and revocation.
    pub fn token_owner(&self, access_token: &str) -> Option<TokenOwner> {
        let at = self.access_tokens.get(access_token)?;
        if at.expires_at_ms <= self.now_ms() {
            return None;
        }
        let grant = self.grants.get(&at.grant)?;
        if grant.revoked {
            return None;
        }
        Some(TokenOwner {
            user_id: grant.user_id.clone(),
            scopes: grant.scopes.clone(),
        })
    }

    pub fn new_grant(&mut self, user_id: &str, scopes: Vec<String>) -> u64 {
        self.next_grant += 1;
        self.grants.insert(
            self.next_grant,
            Grant {
                user_id: user_id.to_string(),
                scopes,
                revoked: false,
            },
        );
        self.next_grant
    }

    /// Mint an access token (and a refresh token when `offline_access` was granted).
    pub fn issue_tokens(&mut self, grant: u64) -> (String, Option<String>) {
        let now = self.now_ms();
        let access = ids::token("ory_at_");
        self.access_tokens.insert(
            access.clone(),
            AccessToken {
                grant,
                expires_at_ms: now + ACCESS_TTL_MS,
            },
        );
        let offline = self
            .grants
            .get(&grant)
            .is_some_and(|g| g.scopes.iter().any(|s| s == "offline_access"));
        let refresh = offline.then(|| {
            let rt = ids::token("ory_rt_");
            self.refresh_tokens.insert(
                rt.clone(),
                RefreshToken {
                    grant,
                    expires_at_ms: now + REFRESH_TTL_MS,
                    paired_access: access.clone(),
                    rotated: None,
                },
            );
            rt
        });
        (access, refresh)
    }

    /// The OAuth token response body for an access token.
    pub fn token_response(&self, access: &str, refresh: Option<&str>) -> Value {
        let now = self.now_ms();
        let (expires_in, scope) = match self.access_tokens.get(access) {
            Some(at) => (
                at.expires_at_ms.saturating_sub(now) / 1000,
                self.grants
                    .get(&at.grant)
                    .map(|g| g.scopes.join(" "))
                    .unwrap_or_default(),
            ),
            None => (0, String::new()),
        };
        let mut body = serde_json::json!({
            "access_token": access,
            "expires_in": expires_in,
            "scope": scope,
            "token_type": "bearer",
        });
        if let Some(rt) = refresh {
            body["refresh_token"] = Value::String(rt.to_string());
        }
        body
    }

    pub fn grants_of_user(&self, user_id: &str) -> Vec<u64> {
        self.grants
            .iter()
            .filter(|(_, g)| g.user_id == user_id && !g.revoked)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Subscriptions whose token still works; dead ones are dropped on the way.
    pub fn live_subscriptions(&mut self) -> Vec<Subscription> {
        let subs = std::mem::take(&mut self.subscriptions);
        let live: Vec<Subscription> = subs
            .into_iter()
            .filter(|s| self.token_owner(&s.access_token).is_some())
            .collect();
        self.subscriptions = live.clone();
        live
    }

    pub fn with_settings(settings: Settings) -> Self {
        SimState {
            base_settings: settings,
            settings,
            ..SimState::default()
        }
    }

    pub fn reset(&mut self) {
        *self = SimState::with_settings(self.base_settings);
    }

    /// The chat a buyer already has on a post: Divar keeps one conversation per buyer and post.
    pub fn chat_of(&self, post_token: &str, buyer_user_id: &str) -> Option<&Chat> {
        self.chats
            .iter()
            .find(|c| c.post_token == post_token && c.buyer_user_id == buyer_user_id)
    }
}

fn trim<T>(v: &mut Vec<T>) {
    if v.len() > LOG_CAP {
        let excess = v.len() - LOG_CAP;
        v.drain(0..excess);
    }
}
