//! The chat UI: static files compiled into the binary, so the simulator serves everything
//! itself and loads nothing from third parties.

use crate::AppState;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/style.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        // Browsers ask for it on every page; an empty answer keeps their consoles clean.
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            ("content-type", content_type),
            // Same rule as our app: the simulator's pages are never framed.
            ("x-frame-options", "DENY"),
        ],
        body,
    )
}
