//! Query strings and percent-encoding (`web::Request::query_param`, `web::percent_decode`,
//! `web::percent_encode`, `web::path_and_query`, `Request::bearer`), as the OAuth callback and
//! every route read them. Encoding round-trips; a parameter is found only when exactly one pair
//! names it; a path never holds the query.
#![no_main]

use arbitrary::Arbitrary;
use kenar_edge::web::{path_and_query, percent_decode, percent_encode, Method, Request};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    url: &'a str,
    name: &'a str,
    authorization: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let encoded = percent_encode(input.name);
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
    assert_eq!(
        percent_decode(&encoded).as_deref(),
        Some(input.name),
        "encode/decode round trip"
    );
    if let Some(decoded) = percent_decode(input.url) {
        assert!(decoded.len() <= input.url.len());
    }

    let target = path_and_query(input.url);
    assert!(target.starts_with('/'), "{target}");
    assert!(!target.contains('#'));
    let req = Request::new(Method::parse(input.method), target).with_header("Authorization", input.authorization);
    assert!(!req.path.contains('?'));
    if let Some(token) = req.bearer() {
        assert!(!token.is_empty() && token.trim() == token);
    }
    for name in [input.name, "state", "code", "error"] {
        if let Some(value) = req.query_param(name) {
            let matching: Vec<&str> = req
                .query
                .split('&')
                .filter(|p| !p.is_empty())
                .filter(|p| percent_decode(p.split_once('=').map_or(*p, |(k, _)| k)).as_deref() == Some(name))
                .collect();
            assert_eq!(matching.len(), 1, "{name} found among {matching:?}");
            let raw = matching[0].split_once('=').map_or("", |(_, v)| v);
            assert_eq!(percent_decode(raw), Some(value));
        }
    }
});
