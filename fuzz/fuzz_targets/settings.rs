//! The seller's assistant settings as the page sends them
//! (`services::assistant::settings::Settings::from_page`), on any JSON. Settings that are taken
//! are clean (no bidi or control tricks: they go to strangers), bounded, consistent (hours need
//! an away message) and read back the same from storage; the assistant then composes a reply
//! from them to any text at any time without panicking, and its texts are the seller's own.
#![no_main]

use kenar_edge::services::assistant::settings::{ClockTime, Settings, TEXT_MAX_CHARS};
use kenar_edge::services::assistant::{compose, AssistantRecord};
use kenar_edge::web::clean_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input is the settings JSON, then optionally a NUL and a buyer's text.
    let (json, text) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], String::from_utf8_lossy(&data[at + 1..]).into_owned()),
        None => (data, String::from("قیمت؟ کجاست؟ هنوز هست؟ کی میشه دید؟")),
    };
    if let Ok(raw) = std::str::from_utf8(json) {
        if let Some(t) = ClockTime::parse(raw) {
            assert!(t.minutes() < 24 * 60);
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let Ok(settings) = Settings::from_page(&value) else {
        return;
    };
    for t in [
        &settings.greeting,
        &settings.away,
        &settings.answers.price,
        &settings.answers.available,
        &settings.answers.place,
        &settings.answers.when,
    ] {
        assert!(t.chars().count() <= TEXT_MAX_CHARS);
        assert_eq!(&clean_text(t), t, "settings text not clean");
    }
    if let Some(h) = settings.hours {
        assert!(!settings.away.is_empty());
        assert!(h.from.minutes() < 1440 && h.to.minutes() < 1440);
    }
    let stored = serde_json::to_string(&settings).expect("json");
    let back: Settings = serde_json::from_str(&stored).expect("stored settings read back");
    assert_eq!(back, settings);
    // And the page sends back what it was shown: the same settings again.
    let again = Settings::from_page(&serde_json::to_value(&settings).expect("json")).expect("shown settings are valid");
    assert_eq!(again, settings);

    let mut record = AssistantRecord::default();
    for now in [0u64, 1_700_000_000_000, 1_700_030_000_000, u64::MAX / 2, u64::MAX] {
        let _ = settings.away_at(now);
        if let Some(reply) = compose(&settings, &record, &text, now) {
            assert!(reply.record.greeted);
            assert!(reply.record.replies > record.replies || record.replies == u32::MAX);
            record = reply.record;
        }
    }
});
