//! Requests and responses as plain data. The glue converts `worker::Request` into a `Request`
//! (reading the body under a size cap) and a `Response` back, so handlers are testable natively.

use serde::Serialize;

/// The most the glue ever buffers from a request body. Routes set lower limits of their own.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Options,
    Other(String),
}

impl Method {
    pub fn parse(raw: &str) -> Self {
        match raw.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Bytes(Vec<u8>),
    /// The body went past `MAX_BODY_BYTES`; the rest was never read.
    TooLarge,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// Names lower-cased by the glue.
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Request {
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Request {
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The bearer credential from `Authorization`, if the header has that form.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// One query parameter, percent-decoded. Repeated parameters are refused (None), so a
    /// smuggled second `state` can never shadow the first.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let mut found = None;
        for pair in self.query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(k).as_deref() == Some(name) {
                if found.is_some() {
                    return None;
                }
                found = Some(percent_decode(v)?);
            }
        }
        found
    }
}

/// A header's value by case-insensitive name.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `https://host/a/b?q#f` → `/a/b?q`, for an absolute URL as Workers hand it.
pub fn path_and_query(url: &str) -> &str {
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let path = after_scheme.find('/').map(|i| &after_scheme[i..]).unwrap_or("/");
    path.split('#').next().unwrap_or(path)
}

/// Decodes `application/x-www-form-urlencoded` text; None on malformed escapes or bad UTF-8.
pub fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Encodes a component for a URL query or form body (unreserved characters kept).
pub fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Headers every response from the worker carries: nothing it says is cached by a shared cache
/// or sniffed into another type, and no page leaks its URL (which holds a handle) as a referrer.
const BASE_HEADERS: [(&str, &str); 3] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// The policy of HTML the worker renders itself: no script at all, only our own stylesheet.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                            base-uri 'none'; frame-ancestors 'none'";

impl Response {
    fn with_base(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        let mut headers: Vec<(String, String)> = BASE_HEADERS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.push(("content-type".into(), content_type.into()));
        Response { status, headers, body }
    }

    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        // Serialising our own types cannot fail; the fallback keeps that a non-panic anyway.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::with_base(status, "application/json; charset=utf-8", body)
    }

    /// A JSON body already encoded.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Self::with_base(status, "application/json; charset=utf-8", body)
    }

    pub fn html(status: u16, html: String) -> Self {
        let mut r = Self::with_base(status, "text/html; charset=utf-8", html.into_bytes());
        r.headers.push(("content-security-policy".into(), PAGE_CSP.into()));
        r.headers.push(("x-frame-options".into(), "DENY".into()));
        r
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        let mut r = Self::with_base(status, "text/plain; charset=utf-8", Vec::new());
        r.headers.push(("location".into(), location.into()));
        r
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Text a person typed, made safe to show to someone else: Unicode bidi overrides and isolates
/// (which can make "17:00" read as "00:71", or a note masquerade as our own text) and control
/// characters other than newlines are dropped.
pub fn clean_text(raw: &str) -> String {
    raw.chars()
        .filter(
            |c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'),
        )
        .filter(|c| *c == '\n' || !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Text from outside made safe to log: at most `max_chars` characters, and no control or
/// bidi characters, so a value can neither forge a log line (CR/LF) nor reorder one on
/// screen. Anything dropped or cut is marked.
pub fn loggable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        let unsafe_char = c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}');
        out.push(if unsafe_char { '�' } else { c });
    }
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn outside_text_cannot_forge_or_flood_a_log_line() {
        let forged = format!("invalid\nERROR admin login ok\r\u{202E}gnp.exe{}", "x".repeat(10_000));
        let line = super::loggable(&forged, 64);
        assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\u{202E}'));
        assert_eq!(line.chars().count(), 65, "64 characters and the mark that it was cut");
        assert!(line.ends_with('…'));
        assert_eq!(super::loggable("/api/visit", 64), "/api/visit");
        assert_eq!(super::loggable("قرار بازدید", 64), "قرار بازدید");
    }

    use super::*;

    #[test]
    fn query_params_decode_and_refuse_duplicates() {
        let r = Request::new(Method::Get, "/cb?state=a%2Bb&code=x+y&dup=1&dup=2&bad=%zz");
        assert_eq!(r.path, "/cb");
        assert_eq!(r.query_param("state").as_deref(), Some("a+b"));
        assert_eq!(r.query_param("code").as_deref(), Some("x y"));
        assert_eq!(r.query_param("dup"), None);
        assert_eq!(r.query_param("bad"), None);
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn urls_split_into_path_and_query() {
        assert_eq!(
            path_and_query("https://w.example/oauth/callback?state=a&code=b"),
            "/oauth/callback?state=a&code=b"
        );
        assert_eq!(path_and_query("http://127.0.0.1:8787"), "/");
        assert_eq!(path_and_query("http://127.0.0.1:8787/?x=1#frag"), "/?x=1");
        assert_eq!(path_and_query("https://w.example/a/b/"), "/a/b/");
    }

    #[test]
    fn percent_encoding_round_trips() {
        let raw = "CONVERSATION_SEND_MESSAGE.6b3d offline_access/?&=é";
        assert_eq!(percent_decode(&percent_encode(raw)).as_deref(), Some(raw));
        assert_eq!(percent_encode("a b"), "a%20b");
    }

    #[test]
    fn bearer_is_parsed_case_insensitively() {
        let r = Request::new(Method::Get, "/").with_header("Authorization", "bearer abc.def");
        assert_eq!(r.bearer(), Some("abc.def"));
        let r = Request::new(Method::Get, "/").with_header("Authorization", "Basic abc");
        assert_eq!(r.bearer(), None);
        let r = Request::new(Method::Get, "/").with_header("Authorization", "Bearer ");
        assert_eq!(r.bearer(), None);
    }

    #[test]
    fn every_response_forbids_caching_and_referrers() {
        for r in [
            Response::json(200, &1),
            Response::html(200, String::new()),
            Response::redirect(303, "/"),
        ] {
            assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
            assert_eq!(r.header("cache-control"), Some("no-store"));
        }
        assert!(Response::html(200, String::new())
            .header("content-security-policy")
            .is_some());
    }

    #[test]
    fn clean_text_drops_bidi_tricks_and_controls() {
        assert_eq!(clean_text(" a\u{202E}b\u{2066}c\u{0007}d\ne\r "), "abcd\ne");
        assert_eq!(
            clean_text("<script>x</script>"),
            "<script>x</script>",
            "markup is escaped where rendered, not here"
        );
    }

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
