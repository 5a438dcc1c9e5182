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

/// Equal as JSON, except that a number may differ in its last bits: serde_json, built without
/// `float_roundtrip` (which would cost the worker wasm size), can read a long decimal one ulp off,
/// so an opaque number in `extra_data` may come back 1 ulp away after a trip through JSON. Any
/// other difference (a key, a string, an integer) is still a failure.
pub fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `same_json` for two values that serialise (a launch before and after a trip).
pub fn same_as_json<T: serde::Serialize>(a: &T, b: &T) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => same_json(&a, &b),
        _ => false,
    }
}
