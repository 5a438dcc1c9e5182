//! Topic matching (`services::assistant::topics::{topics, squash}`) on any text a buyer can
//! write. `squash` is idempotent and keeps no spaces, digits or marks; the topics come once
//! each, in `Topic::ALL` order, and are the same for the squashed text.
#![no_main]

use kenar_edge::services::assistant::topics::{squash, topics, Topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let squashed = squash(&text);
    assert_eq!(squash(&squashed), squashed, "squash is not idempotent");
    assert!(!squashed
        .chars()
        .any(|c| c.is_whitespace() || c.is_ascii_digit() || c == '\u{200C}'));
    assert!(!squashed.chars().any(|c| c.is_ascii_uppercase()));
    let found = topics(&text);
    let order: Vec<usize> = found
        .iter()
        .map(|t| Topic::ALL.iter().position(|a| a == t).expect("a known topic"))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "topics out of order or repeated: {found:?}"
    );
    assert_eq!(topics(&squashed), found);
});
