//! The worker's own routes, as a typed table. The static page and its assets never reach the
//! worker: `wrangler.toml` sends only these paths to it (`run_worker_first`).

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::flows;
use crate::platform::{Platform, RateLimit};
use crate::services::ServiceId;
use crate::web::{Method, Request, Response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    SessionInit,
    Session,
    OAuthStart,
    OAuthCallback,
    Messages,
    DynamicAction,
    Events,
    /// `GET /api/assistant`: the seller's assistant for their post.
    Assistant,
    /// `POST /api/assistant/settings`.
    AssistantSettings,
    /// `GET /api/<service>`.
    ServiceView(ServiceId),
    /// `POST /api/<service>/<op>`; the op is the path's last segment.
    ServiceAct(ServiceId),
    Calendar,
    ReturnToDivar,
    SelfTest,
}

impl Route {
    pub fn parse(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        Some(match path {
            "/healthz" => Route::Health,
            "/divar/session-init" => Route::SessionInit,
            "/api/session" => Route::Session,
            "/api/oauth/start" => Route::OAuthStart,
            "/oauth/callback" => Route::OAuthCallback,
            "/api/messages" => Route::Messages,
            "/divar/dynamic-action" => Route::DynamicAction,
            "/divar/events" => Route::Events,
            "/api/assistant" => Route::Assistant,
            "/api/assistant/settings" => Route::AssistantSettings,
            "/_selftest/storage" => Route::SelfTest,
            p if p.starts_with("/ics/") => Route::Calendar,
            "/return" => Route::ReturnToDivar,
            p => {
                let rest = p.strip_prefix("/api/")?;
                let (name, op) = match rest.split_once('/') {
                    Some((name, op)) => (name, Some(op)),
                    None => (rest, None),
                };
                let service = ServiceId::parse(name).filter(|s| s.has_page())?;
                match op {
                    None => Route::ServiceView(service),
                    Some(op) if is_op(op) => Route::ServiceAct(service),
                    Some(_) => return None,
                }
            }
        })
    }

    /// The rate limit a route counts against, if any: the page's calls and the public files.
    /// Divar's own calls (keyed) and the health check are never limited.
    fn rate_limit(self) -> Option<RateLimit> {
        match self {
            Route::OAuthStart => Some(RateLimit::OAuthStart),
            Route::Session
            | Route::OAuthCallback
            | Route::Messages
            | Route::Assistant
            | Route::AssistantSettings
            | Route::ServiceView(_)
            | Route::ServiceAct(_)
            | Route::Calendar => Some(RateLimit::Page),
            Route::Health
            | Route::SessionInit
            | Route::DynamicAction
            | Route::Events
            | Route::ReturnToDivar
            | Route::SelfTest => None,
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            Route::SessionInit
            | Route::OAuthStart
            | Route::DynamicAction
            | Route::Events
            | Route::AssistantSettings
            | Route::ServiceAct(_)
            | Route::SelfTest => "POST",
            Route::Messages => "GET, POST",
            Route::Health
            | Route::Session
            | Route::OAuthCallback
            | Route::Assistant
            | Route::ServiceView(_)
            | Route::Calendar
            | Route::ReturnToDivar => "GET",
        }
    }
}

/// A service operation's name: a short lowercase word.
fn is_op(op: &str) -> bool {
    (1..=32).contains(&op.len()) && op.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Whom a limit counts: the client's address (Cloudflare's `cf-connecting-ip`) for the page,
/// a digest of the session handle for consent (a forged handle fails right after, cheaply).
fn limit_key(limit: RateLimit, req: &Request) -> String {
    match limit {
        RateLimit::Page => format!("ip:{}", req.header("cf-connecting-ip").unwrap_or("unknown")),
        RateLimit::OAuthStart => format!(
            "handle:{}",
            crate::crypto::digest_hex(&["rate-limit", req.bearer().unwrap_or("")])
        ),
    }
}

/// Turns a request into a response; never fails and never panics on input.
pub async fn handle<P: Platform>(
    p: &P,
    config: &Result<Config, crate::config::ConfigError>,
    req: &Request,
) -> Response {
    match dispatch(p, config, req).await {
        Ok(response) => response,
        Err(error) => {
            if error.status() >= 500 {
                p.log(&format!("error on {}: {error}", crate::web::loggable(&req.path, 120)));
            }
            error.to_response()
        }
    }
}

async fn dispatch<P: Platform>(
    p: &P,
    config: &Result<Config, crate::config::ConfigError>,
    req: &Request,
) -> AppResult<Response> {
    let route = Route::parse(&req.path).ok_or(AppError::NotFound)?;
    let method_ok = match req.method {
        Method::Get | Method::Head => route.allowed().contains("GET"),
        Method::Post => route.allowed().contains("POST"),
        _ => false,
    };
    if !method_ok {
        return Err(AppError::MethodNotAllowed(route.allowed()));
    }
    // Health answers even when the configuration is broken, so a deploy can be told apart
    // from a misconfiguration.
    let cfg = match (route, config) {
        (Route::Health, _) => return Ok(Response::json(200, &serde_json::json!({"ok": true}))),
        (_, Err(e)) => return Err(AppError::Config(e.clone())),
        (_, Ok(cfg)) => cfg,
    };
    if let Some(limit) = route.rate_limit().filter(|_| cfg.rate_limits) {
        if !p.within_limit(limit, &limit_key(limit, req)).await {
            return Err(AppError::TooManyRequests);
        }
    }
    match route {
        Route::Health => Ok(Response::json(200, &serde_json::json!({"ok": true}))),
        Route::SessionInit => flows::launch::session_init(p, cfg, req).await,
        Route::Session => flows::session::get_session(p, cfg, req).await,
        Route::OAuthStart => flows::oauth::start(p, cfg, req).await,
        Route::OAuthCallback => flows::oauth::callback(p, cfg, req).await,
        Route::Messages if req.method == Method::Post => flows::messaging::submit(p, cfg, req).await,
        Route::Messages => flows::messaging::list(p, cfg, req).await,
        Route::DynamicAction => flows::dynamic_action::handle(p, cfg, req).await,
        Route::Events => flows::events::handle(p, cfg, req).await,
        Route::Assistant => flows::assistant::view(p, cfg, req).await,
        Route::AssistantSettings => flows::assistant::save(p, cfg, req).await,
        Route::ServiceView(service) => flows::service_api::view(p, cfg, req, service).await,
        Route::ServiceAct(service) => {
            let op = req.path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            flows::service_api::act(p, cfg, req, service, op).await
        }
        Route::Calendar => flows::service_api::calendar(p, req).await,
        Route::SelfTest => flows::service_api::selftest(p, cfg).await,
        // The one way back to Divar: its fixed completion URL, from configuration only.
        Route::ReturnToDivar => Ok(Response::redirect(303, cfg.completion_url.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::config::ConfigError;
    use crate::testkit::TestPlatform;

    fn call(config: &Result<Config, ConfigError>, req: Request) -> Response {
        pollster::block_on(handle(&TestPlatform::default(), config, &req))
    }

    #[test]
    fn unknown_paths_and_wrong_methods_are_json_4xx() {
        let cfg = Ok(dev_config());
        let r = call(&cfg, Request::new(Method::Get, "/divar/nothing"));
        assert_eq!((r.status, r.json_body()["error"].as_str()), (404, Some("not_found")));
        let r = call(&cfg, Request::new(Method::Get, "/divar/session-init"));
        assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
        let r = call(&cfg, Request::new(Method::Other("DELETE".into()), "/api/session"));
        assert_eq!(r.status, 405);
    }

    #[test]
    fn return_goes_only_to_the_configured_completion_url() {
        let r = call(
            &Ok(dev_config()),
            Request::new(Method::Get, "/return?to=https://evil.example").with_header("host", "evil.example"),
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("http://127.0.0.1:8790/completion"));
    }

    #[test]
    fn misconfiguration_is_a_named_500_but_health_still_answers() {
        let cfg = Err(ConfigError::Missing("SESSION_SIGNING_KEY"));
        let r = call(&cfg, Request::new(Method::Post, "/divar/session-init"));
        assert_eq!(r.status, 500);
        assert!(r.json_body()["message"]
            .as_str()
            .unwrap_or("")
            .contains("SESSION_SIGNING_KEY"));
        assert_eq!(call(&cfg, Request::new(Method::Get, "/healthz")).status, 200);
    }

    #[test]
    fn unknown_services_and_ops_are_json_404_or_405() {
        let chat = crate::testkit::Chat::default();
        let h = chat.launch("DEMAND", "u-1");
        chat.grant("u-1");
        for (method, path) in [
            (Method::Get, "/api/nothing"),
            (Method::Post, "/api/nothing"),
            (Method::Post, "/api/nothing/propose"),
            (Method::Post, "/api/visit/Propose"),
            (Method::Post, "/api/visit/a/b"),
            (Method::Get, "/api"),
        ] {
            let r = chat.request(
                Request::new(method.clone(), path)
                    .with_header("authorization", &format!("Bearer {h}"))
                    .with_body("{}"),
            );
            assert_eq!(
                (r.status, r.json_body()["error"].as_str()),
                (404, Some("not_found")),
                "{path}"
            );
        }
        let r = chat.post(
            &h,
            "/api/visit/nothing",
            serde_json::json!({"idempotency_key": "key-00000001"}),
        );
        assert_eq!(
            (r.status, r.json_body()["error"].as_str()),
            (404, Some("not_found")),
            "an op the service does not have"
        );
        let r = chat.get(&h, "/api/visit/propose");
        assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
        assert_eq!(r.json_body()["error"], "method_not_allowed");
        let r = chat.post(&h, "/api/visit", serde_json::json!({}));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
        assert!(chat.http().sent().is_empty());
    }

    #[test]
    fn the_storage_selftest_exists_only_where_configured() {
        let chat = crate::testkit::Chat::default();
        let post = || Request::new(Method::Post, "/_selftest/storage");
        let off = chat.request(post());
        assert_eq!(
            (off.status, off.json_body()["error"].as_str()),
            (404, Some("not_found"))
        );
        assert_eq!(chat.p.objects.calls(), 0, "no object is even made");
        let mut cfg = dev_config();
        cfg.selftest = true;
        chat.p.objects.set_config(cfg.clone());
        let on = pollster::block_on(handle(&chat.p, &Ok(cfg), &post()));
        assert_eq!(on.status, 200, "{:?}", on.json_body());
        let checks = on.json_body()["checks"].as_array().cloned().unwrap_or_default();
        assert!(checks.len() >= 3, "{checks:?}");
        for check in &checks {
            assert_eq!(check["ok"], true, "{check}");
        }
        let r = chat.request(Request::new(Method::Get, "/_selftest/storage"));
        assert_eq!(r.status, 405);
    }
}
