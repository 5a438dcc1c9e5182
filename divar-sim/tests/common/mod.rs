//! Test harness: a real simulator on port 0 plus a tiny stub app that records what Divar sends.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use divar_sim::{start, Config, Running};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const IDENT_KEY: &str = "dev-divar-identification-key-0123456789";
pub const API_KEY: &str = "dev-kenar-api-key-0123456789";
pub const SECRET: &str = "dev-oauth-client-secret-0123456789";
pub const SLUG: &str = "kenar-edge-dev";

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// When the request arrived (before any answer delay).
    pub at: Instant,
}

#[derive(Clone, Default)]
pub struct StubApp {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub base: String,
    /// How long the events endpoint takes to answer, to make overlapping deliveries visible.
    pub events_delay_ms: Arc<AtomicU64>,
}

impl StubApp {
    pub fn set_events_delay(&self, ms: u64) {
        self.events_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The bodies the events URL received, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.seen("/divar/events").into_iter().map(|s| s.body).collect()
    }

    /// Waits (up to 2 s) until the events URL has received at least `n` bodies.
    pub async fn wait_events(&self, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            if self.seen("/divar/events").len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.events()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn record(app: &StubApp, path: &str, headers: HeaderMap, body: Bytes) -> Option<Response> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    app.seen.lock().unwrap().push(Seen {
        path: path.to_string(),
        headers: headers.clone(),
        body,
        at: Instant::now(),
    });
    // Like the real worker: refuse anything without Divar's identification key.
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    (auth != Some(IDENT_KEY)).then(|| StatusCode::FORBIDDEN.into_response())
}

async fn session_init(State(app): State<StubApp>, h: HeaderMap, b: Bytes) -> Response {
    if let Some(r) = record(&app, "/divar/session-init", h, b).await {
        return r;
    }
    Json(json!({"url": format!("{}/s/abc123", app.base), "status": "200", "message": "success"})).into_response()
}

async fn dynamic_action(State(app): State<StubApp>, h: HeaderMap, b: Bytes) -> Response {
    if let Some(r) = record(&app, "/divar/dynamic-action", h, b).await {
        return r;
    }
    Json(json!({"text_message": "ثبت شد", "action": {"open_direct_link": "https://example.invalid/x"}})).into_response()
}

async fn events(State(app): State<StubApp>, h: HeaderMap, b: Bytes) -> Response {
    if let Some(r) = record(&app, "/divar/events", h, b).await {
        return r;
    }
    let delay = app.events_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::OK.into_response()
}

pub async fn start_stub_app() -> StubApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = StubApp {
        seen: Arc::default(),
        base,
        events_delay_ms: Arc::default(),
    };
    let router = Router::new()
        .route("/divar/session-init", post(session_init))
        .route("/divar/dynamic-action", post(dynamic_action))
        .route("/divar/events", post(events))
        .with_state(app.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    app
}

pub struct Env {
    pub sim: Running,
    pub base: String,
    pub http: reqwest::Client,
    pub app: StubApp,
}

impl Env {
    pub async fn new() -> Env {
        Env::with_config(|_| {}).await
    }

    /// A simulator whose flags `tweak` changes (after the test defaults are set).
    pub async fn with_config(tweak: impl FnOnce(&mut Config)) -> Env {
        let app = start_stub_app().await;
        let mut config = Config::defaults();
        config.port = 0;
        config.app_base = app.base.clone();
        config.webhook_timeout_ms = 3000;
        tweak(&mut config);
        let sim = start(config).await.unwrap();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Env {
            base: sim.base_url.clone(),
            sim,
            http,
            app,
        }
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.app.base)
    }

    pub async fn ctl(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Launches the add-on in conversation `cid` through the control API.
    pub async fn launch(&self, cid: &str, body: Value) -> (u16, Value) {
        self.ctl("POST", &format!("/_sim/chats/{cid}/launch"), body).await
    }

    pub async fn chat(&self) -> Value {
        let (s, v) = self.ctl("POST", "/_sim/chats", json!({})).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// A token minted straight from the control API (no consent dance).
    pub async fn token(&self, user_id: &str, scopes: &[&str]) -> String {
        let (s, v) = self
            .ctl("POST", "/_sim/tokens", json!({"user_id": user_id, "scopes": scopes}))
            .await;
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    pub async fn api_post(
        &self,
        path: &str,
        api_key: Option<&str>,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value, HeaderMap) {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = api_key {
            req = req.header("X-Api-Key", k);
        }
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    pub async fn api_get(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .header("x-api-key", API_KEY)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Send into a conversation with the default API key.
    pub async fn send(&self, cid: &str, token: &str, body: Value) -> (u16, Value, HeaderMap) {
        self.api_post(
            &format!("/v2/open-platform/conversations/{cid}/messages"),
            Some(API_KEY),
            Some(token),
            &body,
        )
        .await
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GET /oauth2/auth with the given params; returns (status, Location header, body).
    pub async fn authorize(&self, params: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let resp = self
            .http
            .get(format!("{}/oauth2/auth?{q}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, loc, resp.text().await.unwrap())
    }

    /// Full consent flow for `user_id`; returns the authorization code.
    pub async fn get_code(&self, user_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
        let redirect = self.redirect_uri();
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", SLUG),
            ("redirect_uri", redirect.as_str()),
            ("scope", scope),
            ("state", "state-0123456789"),
        ];
        params.extend_from_slice(extra);
        let (status, _, body) = self.authorize(&params).await;
        assert_eq!(status, 200, "{body}");
        let (_, list) = self
            .ctl("GET", "/_sim/oauth/authorizations?status=pending", json!({}))
            .await;
        let id = list["authorizations"].as_array().unwrap().last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, v) = self
            .ctl(
                "POST",
                &format!("/_sim/oauth/authorizations/{id}/approve"),
                json!({"user_id": user_id}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let url = url::Url::parse(v["redirect_url"].as_str().unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q.get("state").map(String::as_str), Some("state-0123456789"));
        q["code"].clone()
    }

    pub async fn exchange(&self, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let redirect = self.redirect_uri();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", SLUG),
            ("client_secret", SECRET),
            ("redirect_uri", redirect.as_str()),
        ];
        form.extend_from_slice(extra);
        self.token_request(&form).await
    }
}

pub fn text_body(msg: &str) -> Value {
    json!({"message": msg})
}

pub fn grid(rows: usize, per_row: usize) -> Value {
    let row = json!({"buttons": (0..per_row).map(|i| json!({
        "action": {"open_direct_link": format!("https://example.invalid/{i}")},
        "caption": format!("b{i}"),
        "icon": "HOME"
    })).collect::<Vec<_>>()});
    json!({"rows": (0..rows).map(|_| row.clone()).collect::<Vec<_>>()})
}
