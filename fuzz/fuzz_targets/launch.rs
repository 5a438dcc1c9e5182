//! Session-init bodies (`kenar::launch::parse_launch`), as Divar POSTs them before opening the
//! page. A launch that parses is bounded, survives the trip through the signed handle exactly
//! (the page's every later call reads it from there), and is the same after a JSON round trip
//! (numbers to the last ulp: see `same_json`).
#![no_main]

use kenar_edge::handle::HandleSigner;
use kenar_edge::ids::SessionId;
use kenar_edge::kenar::launch::{parse_launch, LaunchContext, MAX_EXTRA_DATA_BYTES};
use kenar_edge::secret::Secret;
use kenar_edge_fuzz::same_as_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ctx) = parse_launch(data) else { return };
    // Identifiers are types that were validated on the way in (`kenar::ids`).
    for (value, max) in [
        (ctx.post_token.as_deref(), 32),
        (ctx.conversation_id.as_deref(), 64),
        (ctx.user_id.as_deref(), 128),
        (ctx.peer_id.as_deref(), 128),
    ] {
        if let Some(v) = value {
            assert!(!v.is_empty() && v.len() <= max, "unbounded field {v:?}");
            assert_eq!(v.trim(), v, "untrimmed field {v:?}");
            assert!(
                !v.contains([' ', '.', '?', '#', '%']),
                "an identifier that could inject: {v:?}"
            );
        }
    }
    let extra = serde_json::to_string(&ctx.extra_data).expect("serialise");
    assert!(extra.len() <= MAX_EXTRA_DATA_BYTES);

    let json = serde_json::to_vec(&ctx).expect("serialise");
    let back: LaunchContext = serde_json::from_slice(&json).expect("a launch reads back");
    // A long decimal in extra_data may come back one ulp off (see `same_json`); nothing else may.
    assert!(
        same_as_json(&back, &ctx),
        "JSON round trip changed the launch: {back:?} != {ctx:?}"
    );

    let signer = HandleSigner::new(&Secret::new(kenar_edge_fuzz::signing_key()));
    let sid = SessionId::parse("0123456789abcdef0123456789abcdef").expect("sid");
    let token = signer.sign_session(sid, &ctx, 1_700_000_000, 3600).expect("sign");
    let handle = signer.verify(&token, 1_700_000_100).expect("our own handle verifies");
    assert_eq!(handle.session_id, sid);
    if HandleSigner::fits_inline(&ctx) {
        let inline = handle.context.as_ref().expect("an inline launch in the handle");
        assert!(
            same_as_json(inline, &ctx),
            "the handle changed the launch: {inline:?} != {ctx:?}"
        );
    } else {
        assert_eq!(handle.context, None);
    }
});
