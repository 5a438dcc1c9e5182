//! Response helpers shared by the HTTP modules.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error in grpc-gateway's shape, as every Kenar API endpoint answers.
#[derive(Debug, Clone)]
pub struct GrpcError {
    pub status: u16,
    pub code: i32,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl GrpcError {
    pub fn new(status: u16, code: i32, message: impl Into<String>) -> Self {
        GrpcError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn unauthenticated(msg: impl Into<String>) -> Self {
        Self::new(401, 16, msg)
    }
    pub fn permission_denied(msg: impl Into<String>) -> Self {
        Self::new(403, 7, msg)
    }
    pub fn invalid_argument(msg: impl Into<String>) -> Self {
        Self::new(400, 3, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(404, 5, msg)
    }
    pub fn body(&self) -> Value {
        json!({"code": self.code, "message": self.message, "details": []})
    }
}

pub fn json_response(status: u16, body: Value, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, Json(body)).into_response();
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
    }
    resp
}

/// A control-API error: `{"error": "..."}`.
pub fn control_error(status: u16, msg: impl Into<String>) -> Response {
    json_response(status, json!({"error": msg.into()}), None)
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn html(body: String) -> Response {
    ([("content-type", "text/html; charset=utf-8")], body).into_response()
}

pub fn html_status(status: u16, body: String) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (code, [("content-type", "text/html; charset=utf-8")], body).into_response()
}

/// Minimal HTML escaping for values echoed into pages.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
