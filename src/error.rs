//! The app's one error type, mapped to HTTP in one place. A caller's mistake gets a precise
//! message naming the problem; anything internal gets a generic body, and the detail goes only
//! to the log.

use serde::Serialize;

use crate::config::ConfigError;
use crate::web::Response;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A body that is JSON but not the shape we take: names the field.
    #[error("invalid field {field}: {why}")]
    InvalidField { field: String, why: String },
    #[error("unauthorized")]
    Unauthorized,
    #[error("session: {0}")]
    Session(&'static str),
    /// A valid session asking for what its person may not do here.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// The request is fine but collides with something still under way; try again soon.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A rate limit was reached; try again after a minute.
    #[error("too many requests")]
    TooManyRequests,
    #[error("payload too large (limit {0} bytes)")]
    PayloadTooLarge(usize),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(&'static str),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("internal: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    /// The field a 422 is about, for a page to put the message next to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::InvalidField { .. } => 422,
            AppError::Unauthorized | AppError::Session(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound => 404,
            AppError::MethodNotAllowed(_) => 405,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::TooManyRequests => 429,
            AppError::UnsupportedMediaType(_) => 415,
            AppError::Config(_) | AppError::Internal(_) => 500,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::InvalidField { .. } => "invalid_field",
            AppError::Unauthorized => "unauthorized",
            AppError::Session(code) => code,
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::TooManyRequests => "too_many_requests",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::Config(_) => "misconfigured",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn to_response(&self) -> Response {
        let message = match self {
            AppError::BadRequest(why) | AppError::Conflict(why) | AppError::Forbidden(why) => why.clone(),
            AppError::InvalidField { .. } | AppError::PayloadTooLarge(_) | AppError::UnsupportedMediaType(_) => {
                self.to_string()
            }
            // One answer for a missing and a wrong key, so a prober learns nothing.
            AppError::Unauthorized => "missing or invalid credentials".into(),
            AppError::Session(_) => "the session handle is missing, invalid or expired".into(),
            AppError::NotFound => "no such route".into(),
            AppError::TooManyRequests => "too many requests; wait a minute and try again".into(),
            AppError::MethodNotAllowed(allow) => format!("use {allow}"),
            // Names the setting (never its value) for the deployer reading the logs.
            AppError::Config(e) => format!("the worker is misconfigured: {e}"),
            AppError::Internal(_) => "something went wrong on our side; please try again".into(),
        };
        let response = Response::json(
            self.status(),
            &ErrorBody {
                error: self.code(),
                message,
                field: match self {
                    AppError::InvalidField { field, .. } => Some(field.as_str()),
                    _ => None,
                },
            },
        );
        match self {
            AppError::MethodNotAllowed(allow) => response.with_header("allow", allow),
            AppError::TooManyRequests => response.with_header("retry-after", "60"),
            AppError::Unauthorized | AppError::Session(_) => response.with_header("www-authenticate", "Bearer"),
            _ => response,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_client() {
        let r = AppError::Internal("kv exploded at key s:abc".into()).to_response();
        assert_eq!(r.status, 500);
        assert!(!String::from_utf8_lossy(&r.body).contains("kv exploded"));
    }

    #[test]
    fn caller_mistakes_are_named() {
        let r = AppError::InvalidField {
            field: "user_side".into(),
            why: "must be SUPPLY or DEMAND".into(),
        }
        .to_response();
        assert_eq!(r.status, 422);
        assert_eq!(r.json_body()["error"], "invalid_field");
        assert_eq!(
            r.json_body()["field"],
            "user_side",
            "a page can put the message next to the field"
        );
        assert!(r.json_body()["message"].as_str().unwrap_or("").contains("user_side"));
        assert_eq!(AppError::PayloadTooLarge(16).to_response().status, 413);
        assert_eq!(
            AppError::MethodNotAllowed("POST").to_response().header("allow"),
            Some("POST")
        );
    }

    #[test]
    fn misconfiguration_names_the_setting() {
        let r = AppError::Config(ConfigError::Missing("SESSION_SIGNING_KEY")).to_response();
        assert_eq!(r.status, 500);
        assert!(r.json_body()["message"]
            .as_str()
            .unwrap_or("")
            .contains("SESSION_SIGNING_KEY"));
    }
}
