//! The whole router (`routes::handle`), natively over the in-memory platform, with any method,
//! path, query, headers and body on every route, in sequences that carry real handles, OAuth
//! states, ids and links from one answer to the next request. See `src/scenario.rs` for the
//! input format and the checks: never a 5xx, every error JSON with an `error` code, the base
//! headers always, calls only to Divar, and no secret in any log line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kenar_edge_fuzz::scenario::run(data);
});
