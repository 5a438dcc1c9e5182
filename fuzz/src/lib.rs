//! Shared pieces of the fuzz targets: the fixed configuration, the checks every response of the
//! worker must pass, and the router scenario interpreter (`scenario`), which is also run by
//! `cargo test` here so the committed seeds are known to reach deep into the flows.

pub mod scenario;

use kenar_edge::web::Response;

pub use kenar_edge::testkit::{dev_config, IDENTIFICATION_KEY};

/// The signing key of `.dev.vars.example` (the configuration every target runs with).
pub fn signing_key() -> String {
    kenar_edge::testkit::dev_vars()
        .get("SESSION_SIGNING_KEY")
        .cloned()
        .expect("SESSION_SIGNING_KEY in .dev.vars.example")
}

/// The checks every answer of the worker passes, whatever it was asked:
/// - never a 5xx (no fake is scripted to fail in these harnesses);
/// - the headers every response carries (no caching, no sniffing, no referrer);
/// - an error is JSON `{"error": "<code>", "message": …}`, except the OAuth callback's own
///   HTML dead end (a page a person sees, not an API answer);
/// - a 405 says what is allowed.
pub fn check_response(method: &str, path: &str, resp: &Response) {
    let body = String::from_utf8_lossy(&resp.body);
    assert!(
        resp.status < 500,
        "{method} {path}: status {} (body {body})",
        resp.status
    );
    assert_eq!(resp.header("cache-control"), Some("no-store"), "{method} {path}");
    assert_eq!(
        resp.header("x-content-type-options"),
        Some("nosniff"),
        "{method} {path}"
    );
    assert_eq!(resp.header("referrer-policy"), Some("no-referrer"), "{method} {path}");
    if resp.status < 400 {
        return;
    }
    let content_type = resp.header("content-type").unwrap_or("");
    // The pages a person opens (the OAuth callback, a calendar link) answer errors in Persian
    // HTML, with a CSP; the API answers JSON.
    let page = path.trim_end_matches('/') == "/oauth/callback" || path.starts_with("/ics/");
    if page && content_type.starts_with("text/html") {
        assert!(
            resp.header("content-security-policy").is_some(),
            "{path}: html without CSP"
        );
        return;
    }
    assert!(
        content_type.starts_with("application/json"),
        "{method} {path}: error {} as {content_type}: {body}",
        resp.status
    );
    let json: serde_json::Value = serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("{method} {path}: error body is not JSON ({e}): {body}"));
    assert!(
        json.get("error")
            .and_then(|e| e.as_str())
            .is_some_and(|e| !e.is_empty()),
        "{method} {path}: error body without an `error` code: {body}"
    );
    if resp.status == 405 {
        assert!(resp.header("allow").is_some(), "{method} {path}: 405 without Allow");
    }
}
