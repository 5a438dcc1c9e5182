//! divar-sim: a local stand-in for Divar's Kenar platform, so kenar-edge can be developed and
//! tested end to end without Divar: an OAuth server, the Kenar REST API with OpenAPI checks,
//! Divar's calls into the app (session init, dynamic actions, events), a chat UI and a control
//! API for tests.

pub mod config;
pub mod control;
pub mod event_faults;
pub mod faults;
pub mod http;
pub mod ids;
pub mod kenar_api;
pub mod oauth;
pub mod openapi;
pub mod state;
pub mod ui;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use config::Config;
use state::SimState;

pub struct Shared {
    pub config: Config,
    /// Where the simulator itself is reachable (known only after binding, for `--port 0`).
    pub base_url: String,
    pub http: reqwest::Client,
    state: Mutex<SimState>,
}

pub type AppState = Arc<Shared>;

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves plain data behind; keep serving rather than
        // poisoning every later request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulator.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    pub shared: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

/// The simulator talks only to loopback: it holds secrets and must never become a proxy.
fn check_loopback(name: &str, raw: &str) -> std::io::Result<()> {
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name} must be an http URL on loopback (127.0.0.1, ::1 or localhost), got {raw:?}"),
        )
    };
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    let ok_host = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if u.scheme() != "http" || !ok_host {
        return Err(bad());
    }
    Ok(())
}

/// Bind and serve in the background. Returns once the socket is listening.
pub async fn start(config: Config) -> std::io::Result<Running> {
    check_loopback("session-init URL", &config.session_init_url())?;
    check_loopback("dynamic-action URL", &config.dynamic_action_url())?;
    check_loopback("events URL", &config.events_url())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(config.webhook_timeout_ms))
        .build()
        .map_err(std::io::Error::other)?;
    let state = SimState::with_settings(config.settings());
    let shared = Arc::new(Shared {
        config,
        base_url: base_url.clone(),
        http,
        state: Mutex::new(state),
    });
    let app = router(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        base_url,
        shared,
        shutdown: Some(tx),
        task,
    })
}

pub fn router(shared: AppState) -> axum::Router {
    axum::Router::new()
        .merge(oauth::routes())
        .merge(kenar_api::routes())
        .merge(control::routes())
        .merge(ui::routes())
        .fallback(not_simulated)
        .with_state(shared)
}

/// Any other path: the answer Divar's gateway gives a route it does not serve (404, gRPC code 5,
/// JSON), naming what the simulator leaves out, so a client never meets an empty or HTML 404.
async fn not_simulated(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if path.starts_with("/_sim/") {
        return http::control_error(404, format!("no control call {method} {path}"));
    }
    let err = http::GrpcError::not_found(format!(
        "divar-sim does not simulate {method} {path} (see divar-sim/README.md, Divar-facing endpoints)"
    ));
    http::json_response(err.status, err.body(), None)
}
