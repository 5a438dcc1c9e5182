//! Event envelopes (`kenar::events::parse_event`), as Divar POSTs them to the events URL. Every
//! identifier an event carries is bounded and of the documented safe charset (later code puts
//! them in keys and URLs without looking again); metadata is bounded; times are non-negative.
//! The raw input is also read as an RFC 3339 time.
#![no_main]

use kenar_edge::kenar::events::{parse_event, rfc3339_to_unix_micros, ChatMessage, Event, MAX_METADATA_BYTES};
use libfuzzer_sys::fuzz_target;

fn plain(id: &str, max: usize) {
    assert!(!id.is_empty() && id.len() <= max, "unbounded id {id:?}");
    assert!(
        id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "unsafe id {id:?}"
    );
}

fn base64ish(id: &str) {
    assert!(!id.is_empty() && id.len() <= 128, "unbounded user id {id:?}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'=')),
        "unsafe user id {id:?}"
    );
}

fn label(s: &str) {
    assert!(s.len() <= 64, "unbounded label {s:?}");
    assert!(
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'#')),
        "unsafe label {s:?}"
    );
}

fn message(m: &ChatMessage) {
    plain(&m.id, 128);
    plain(&m.conversation_id, 128);
    if let Some(p) = &m.post_token {
        plain(p, 32);
    }
    if let Some(u) = &m.sender.user_id {
        base64ish(u);
    }
    assert!(m.sent_at_micros.is_none_or(|t| t >= 0));
}

fn metadata(m: &Option<serde_json::Map<String, serde_json::Value>>) {
    if let Some(m) = m {
        assert!(serde_json::to_string(m).expect("json").len() <= MAX_METADATA_BYTES);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(t) = rfc3339_to_unix_micros(text) {
            assert!(text.len() >= 20 && text.len() <= 40);
            let _ = t;
        }
    }
    let Ok(event) = parse_event(data) else { return };
    match &event {
        Event::NewChatbotMessage(m) => message(m),
        Event::NewMessage {
            message: m,
            metadata: md,
        } => {
            message(m);
            metadata(md);
        }
        Event::UserAccessRevocation { user_id } => base64ish(user_id),
        Event::PostUpdate {
            post_token,
            category,
            city,
            district,
            first_published_at_micros,
            metadata: md,
            ..
        } => {
            if let Some(p) = post_token {
                plain(p, 32);
            }
            for l in [category, city, district].into_iter().flatten() {
                label(l);
            }
            assert!(first_published_at_micros.is_none_or(|t| t >= 0));
            metadata(md);
        }
        Event::PaymentTransaction {
            transaction,
            metadata: md,
        } => {
            plain(&transaction.id, 128);
            assert!(transaction.extra_details.as_ref().is_none_or(|d| d.len() <= 1024));
            if let Some(slug) = &transaction.app_slug {
                label(slug);
            }
            assert!(transaction.created_at_micros.is_none_or(|t| t >= 0));
            metadata(md);
        }
        Event::Unknown { kind } => label(kind),
    }
});
