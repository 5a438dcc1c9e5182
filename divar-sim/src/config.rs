//! Command-line / environment configuration. Defaults mirror the worker's `.dev.vars.example`
//! so `divar-sim` and `wrangler dev` work together without any flags.

use crate::state::{HumanSenderType, SentAtFormat, Settings};
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "divar-sim",
    version,
    about = "Local simulator of Divar's Kenar platform: OAuth server, Kenar REST API, webhooks to the app, and a chat UI"
)]
pub struct Config {
    /// Port to listen on (loopback only). 0 picks a free port; the real one is printed.
    #[arg(long, env = "DIVAR_SIM_PORT", default_value_t = 8790)]
    pub port: u16,

    /// Base URL of the app (the worker). The per-endpoint URLs below default to paths under it.
    #[arg(long, env = "DIVAR_SIM_APP_BASE", default_value = "http://127.0.0.1:8787")]
    pub app_base: String,

    /// Session-initialization (server link) URL. Default: {app-base}/divar/session-init
    #[arg(long, env = "DIVAR_SIM_SESSION_INIT_URL")]
    pub session_init_url: Option<String>,

    /// Dynamic-action URL. Default: {app-base}/divar/dynamic-action
    #[arg(long, env = "DIVAR_SIM_DYNAMIC_ACTION_URL")]
    pub dynamic_action_url: Option<String>,

    /// Events (webhook) URL. Default: {app-base}/divar/events
    #[arg(long, env = "DIVAR_SIM_EVENTS_URL")]
    pub events_url: Option<String>,

    /// Registered OAuth redirect URI. Default: {app-base}/oauth/callback
    #[arg(long, env = "DIVAR_SIM_REDIRECT_URI")]
    pub redirect_uri: Option<String>,

    /// Additional registered OAuth redirect URIs (repeat the flag, or comma-separate in the env var).
    #[arg(
        long = "extra-redirect-uri",
        env = "DIVAR_SIM_EXTRA_REDIRECT_URIS",
        value_delimiter = ','
    )]
    pub extra_redirect_uris: Vec<String>,

    /// App slug, also the OAuth client_id.
    #[arg(long, env = "DIVAR_SIM_APP_SLUG", default_value = "kenar-edge-dev")]
    pub app_slug: String,

    /// The API key the app must send as x-api-key.
    #[arg(long, env = "DIVAR_SIM_API_KEY", default_value = "dev-kenar-api-key-0123456789")]
    pub api_key: String,

    /// The app's OAuth client secret.
    #[arg(
        long,
        env = "DIVAR_SIM_OAUTH_CLIENT_SECRET",
        default_value = "dev-oauth-client-secret-0123456789"
    )]
    pub oauth_client_secret: String,

    /// The Divar identification key, sent verbatim as Authorization on every call to the app.
    #[arg(
        long,
        env = "DIVAR_SIM_IDENTIFICATION_KEY",
        default_value = "dev-divar-identification-key-0123456789"
    )]
    pub identification_key: String,

    /// Timeout in milliseconds for every call the simulator makes to the app.
    #[arg(long, env = "DIVAR_SIM_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// How `sent_at` is spelled in event envelopes: integer microseconds (`micros`, Divar's
    /// examples) or an RFC 3339 string (`rfc3339`, the OpenAPI's date-time).
    #[arg(long, env = "DIVAR_SIM_SENT_AT_FORMAT", value_enum, default_value = "micros")]
    pub sent_at_format: SentAtFormat,

    /// `sender.type` of a person's message in event envelopes: `HUMAN` (the enum) or `USER`
    /// (some of Divar's examples).
    #[arg(long, env = "DIVAR_SIM_HUMAN_SENDER_TYPE", value_enum, default_value = "HUMAN")]
    pub human_sender_type: HumanSenderType,

    /// Also deliver the chatbot's own messages as NEW_CHATBOT_MESSAGE (sender.type BOT).
    #[arg(long, env = "DIVAR_SIM_ECHO_BOT_MESSAGES")]
    pub echo_bot_messages: bool,

    /// The app's title as people see it on the consent page (the panel's «نام برنامه»).
    #[arg(long, env = "DIVAR_SIM_APP_TITLE", default_value = "قرار بازدید")]
    pub app_title: String,
}

impl Config {
    /// A config with every default, as if started with no flags; tests start from this.
    pub fn defaults() -> Self {
        Config::parse_from(["divar-sim"])
    }

    /// The event spelling switches the run starts with (and `POST /_sim/reset` returns to).
    pub fn settings(&self) -> Settings {
        Settings {
            sent_at_format: self.sent_at_format,
            human_sender_type: self.human_sender_type,
            echo_bot_messages: self.echo_bot_messages,
        }
    }

    fn app_url(&self, path: &str) -> String {
        format!("{}{}", self.app_base.trim_end_matches('/'), path)
    }

    pub fn session_init_url(&self) -> String {
        self.session_init_url
            .clone()
            .unwrap_or_else(|| self.app_url("/divar/session-init"))
    }

    pub fn dynamic_action_url(&self) -> String {
        self.dynamic_action_url
            .clone()
            .unwrap_or_else(|| self.app_url("/divar/dynamic-action"))
    }

    pub fn events_url(&self) -> String {
        self.events_url.clone().unwrap_or_else(|| self.app_url("/divar/events"))
    }

    pub fn redirect_uris(&self) -> Vec<String> {
        let primary = self
            .redirect_uri
            .clone()
            .unwrap_or_else(|| self.app_url("/oauth/callback"));
        let mut all = vec![primary];
        all.extend(
            self.extra_redirect_uris
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
        all
    }
}
