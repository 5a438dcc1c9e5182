//! Dynamic-action bodies (`kenar::dynamic_action::parse_dynamic_action`): Divar asking what a
//! one-tap button does. A body that parses is bounded; the button's data then names a service
//! (`ServiceId::of_button`), whose tap key and plan must take any data without panicking.
#![no_main]

use kenar_edge::delivery::PersonKey;
use kenar_edge::dispatch;
use kenar_edge::kenar::dynamic_action::parse_dynamic_action;
use kenar_edge::kenar::launch::MAX_EXTRA_DATA_BYTES;
use kenar_edge::services::{Actor, Ctx, Service, ServiceId};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static CONFIG: kenar_edge::config::Config = kenar_edge_fuzz::dev_config();
}

fuzz_target!(|data: &[u8]| {
    let Ok(tap) = parse_dynamic_action(data) else { return };
    for (value, max) in [
        (tap.conversation_id.as_deref(), 64),
        (tap.post_token.as_deref(), 32),
        (tap.user_id.as_deref(), 128),
    ] {
        if let Some(v) = value {
            assert!(!v.is_empty() && v.len() <= max, "unbounded field {v:?}");
        }
    }
    assert!(serde_json::to_string(&tap.data).expect("json").len() <= MAX_EXTRA_DATA_BYTES);
    let _ = tap.data_str("v");
    let Some(service) = ServiceId::of_button(&tap.data) else {
        return;
    };
    assert_eq!(ServiceId::parse(service.name()), Some(service));
    let conversation = tap.conversation_id.as_deref().unwrap_or("c").to_string();
    CONFIG.with(|cfg| {
        let ctx = Ctx::new(cfg, 1_700_000_000_000, &conversation);
        let actor = Actor {
            person: PersonKey::of_user(tap.user_id.as_deref().unwrap_or("u")),
            side: tap.user_side,
            session: None,
            post_token: tap.post_token.as_deref().map(str::to_string),
            location: None,
        };
        dispatch!(service, S => {
            let key = S::tap_key(&ctx, &tap.data);
            if let Some(key) = key {
                assert!(key.len() <= 256, "a tap key this long is no key: {key:?}");
            }
            let _ = S::plan_tap(&ctx, &Default::default(), &actor, &tap.data);
        });
    });
});
