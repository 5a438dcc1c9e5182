//! The checks every call from Divar passes before its body is read: the identification key,
//! then the content type, then the size.

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::web::{Body, Request};

/// Verifies Divar's identification key and returns the JSON body, at most `limit` bytes.
pub fn authenticated_json_body<'r>(cfg: &Config, req: &'r Request, limit: usize) -> AppResult<&'r [u8]> {
    if !cfg.identification_key.verify(req.header("authorization")) {
        return Err(AppError::Unauthorized);
    }
    json_body(req, limit)
}

/// The body of a JSON request, at most `limit` bytes, after the content-type check.
pub fn json_body(req: &Request, limit: usize) -> AppResult<&[u8]> {
    let content_type = req.header("content-type").unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(AppError::UnsupportedMediaType("send Content-Type: application/json"));
    }
    if let Some(declared) = req
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if declared > limit {
            return Err(AppError::PayloadTooLarge(limit));
        }
    }
    match &req.body {
        Body::Bytes(bytes) if bytes.len() <= limit => Ok(bytes),
        _ => Err(AppError::PayloadTooLarge(limit)),
    }
}
