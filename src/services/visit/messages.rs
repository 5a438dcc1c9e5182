//! What the visit service posts into the chat at each step, with each side's buttons.
//!
//! Button data (handed back by Divar in the dynamic-action or session-init body):
//! `v` = what to do (`pick`, `decline`, `answer`, `manage`, `propose`), `p` = the proposal id,
//! `s` = the slot's index.

use super::jalali::{format_short, format_tehran, persian_digits};
use super::model::{Proposal, Status};
use crate::kenar::message::{Action, Button, ButtonGrid, ConversationMessage};
use crate::kenar::side::UserSide;

fn grid(rows: Vec<Vec<Button>>) -> ButtonGrid {
    // Every grid below is built from at most 3 rows of at most 3 buttons; `row` re-checks.
    rows.into_iter()
        .try_fold(ButtonGrid::default(), |g, r| g.row(r))
        .unwrap_or_default()
}

/// Who a side is, in the chat's words.
pub fn side_name(side: UserSide) -> &'static str {
    match side {
        UserSide::Supply => "فروشنده",
        UserSide::Demand => "خریدار",
    }
}

/// What a new proposal replaces, if anything, in one line both sides read the same way.
fn replaces(previous: Option<&Proposal>) -> Option<String> {
    let previous = previous?;
    match previous.status {
        Status::Confirmed { .. } => previous
            .confirmed_at()
            .map(|at| format!("این پیشنهاد جای قرار قبلی ({}) را می‌گیرد.", format_short(at))),
        Status::Open => Some("این پیشنهاد جای پیشنهاد قبلی را می‌گیرد.".into()),
        Status::Declined { .. } | Status::Cancelled => None,
    }
}

/// Both sides see the same text (Divar sends one text with a grid of buttons per side), so it
/// names who proposed and who picks rather than saying "you".
pub fn proposal(p: &Proposal, previous: Option<&Proposal>) -> ConversationMessage {
    let mut text = format!("📅 {} برای بازدید این زمان‌ها را پیشنهاد داد:", side_name(p.proposer));
    for (i, slot) in p.slots.iter().enumerate() {
        text.push_str(&format!(
            "\n{}) {}",
            persian_digits(&(i + 1).to_string()),
            format_tehran(*slot)
        ));
    }
    if !p.note.is_empty() {
        text.push_str(&format!("\nیادداشت: {}", p.note));
    }
    if let Some(line) = replaces(previous) {
        text.push_str(&format!("\n{line}"));
    }
    text.push_str(&format!(
        "\n{} یکی از زمان‌ها را انتخاب می‌کند.",
        side_name(p.proposer.other())
    ));
    let picks = p
        .slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            Button::new(
                &format_short(*slot),
                Action::dynamic(&[("svc", "visit"), ("v", "pick"), ("p", &p.id), ("s", &i.to_string())]),
            )
        })
        .collect();
    let receiver = grid(vec![
        picks,
        vec![
            Button::new(
                "هیچ‌کدام",
                Action::dynamic(&[("svc", "visit"), ("v", "decline"), ("p", &p.id)]),
            ),
            Button::new("پاسخ در افزونه", Action::server_link(&[("v", "answer"), ("p", &p.id)])),
        ],
    ]);
    let sender = grid(vec![vec![Button::new(
        "تغییر یا لغو",
        Action::server_link(&[("v", "manage"), ("p", &p.id)]),
    )]]);
    ConversationMessage {
        message: text,
        sender_buttons: sender,
        receiver_buttons: receiver,
    }
}

/// The agreed visit: when, who chose it, the proposer's note; for both sides the calendar and
/// a way to change or call it off (either side may).
pub fn confirmed(p: &Proposal, at_unix: i64, ics_url: &str) -> ConversationMessage {
    let mut text = format!("✅ قرار بازدید قطعی شد: {}", format_tehran(at_unix));
    if let Status::Confirmed { by, .. } = p.status {
        text.push_str(&format!(
            "\n{} این زمان را از پیشنهاد {} انتخاب کرد.",
            side_name(by),
            side_name(p.proposer)
        ));
    }
    if !p.note.is_empty() {
        text.push_str(&format!("\nیادداشت: {}", p.note));
    }
    let buttons = || {
        grid(vec![vec![
            Button::new("افزودن به تقویم", Action::OpenDirectLink(ics_url.to_string())),
            Button::new("تغییر یا لغو", Action::server_link(&[("v", "manage"), ("p", &p.id)])),
        ]])
    };
    ConversationMessage {
        message: text,
        sender_buttons: buttons(),
        receiver_buttons: buttons(),
    }
}

/// Two hours before: one message both sides see.
pub fn reminder(at_unix: i64) -> ConversationMessage {
    ConversationMessage {
        message: format!("⏰ یادآوری: قرار بازدید {}", format_tehran(at_unix)),
        sender_buttons: ButtonGrid::default(),
        receiver_buttons: ButtonGrid::default(),
    }
}

fn propose_again() -> ButtonGrid {
    grid(vec![vec![Button::new(
        "پیشنهاد زمان دیگر",
        Action::server_link(&[("v", "propose")]),
    )]])
}

pub fn declined(by: UserSide) -> ConversationMessage {
    ConversationMessage {
        message: format!("{}: هیچ‌کدام از زمان‌های پیشنهادی مناسب نبود.", side_name(by)),
        sender_buttons: propose_again(),
        receiver_buttons: propose_again(),
    }
}

/// Calling off names who did, and what: an open proposal or an agreed visit.
pub fn cancelled(p: &Proposal, by: UserSide) -> ConversationMessage {
    let message = match p.slots.get(match p.status {
        Status::Confirmed { slot, .. } => slot,
        _ => usize::MAX,
    }) {
        Some(at) => format!("❌ {} قرار بازدید {} را لغو کرد.", side_name(by), format_short(*at)),
        None => format!("❌ {} پیشنهاد زمان بازدید را پس گرفت.", side_name(by)),
    };
    ConversationMessage {
        message,
        sender_buttons: propose_again(),
        receiver_buttons: propose_again(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kenar::side::UserSide;
    use serde_json::Value;

    #[test]
    fn a_proposal_gives_the_receiver_one_tap_per_slot() {
        let now = 1_795_000_000i64;
        let p = Proposal::new(
            "p1".into(),
            vec![now + 3600, now + 7200, now + 10800],
            "<b>",
            UserSide::Demand,
            now as u64 * 1000,
        )
        .expect("valid");
        let json: Value = serde_json::to_value(proposal(&p, None)).expect("json");
        let rows = json["receiver_buttons"]["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["buttons"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            rows[0]["buttons"][2]["action"]["get_dynamic_action"]["data"],
            serde_json::json!({"svc": "visit", "v": "pick", "p": "p1", "s": "2"})
        );
        assert_eq!(
            rows[1]["buttons"][1]["action"]["open_server_link"]["data"]["v"],
            "answer"
        );
        assert_eq!(
            json["sender_buttons"]["rows"][0]["buttons"][0]["action"]["open_server_link"]["data"]["v"],
            "manage"
        );
        let text = json["message"].as_str().expect("text");
        assert!(text.contains("۱) ") && text.contains("۳) ") && text.contains("یادداشت: <b>"));
    }

    fn agreed() -> Proposal {
        let now = 1_795_000_000i64;
        let mut p = Proposal::new(
            "p1".into(),
            vec![now + 3600, now + 7200],
            "زنگ واحد ۳",
            UserSide::Supply,
            now as u64 * 1000,
        )
        .expect("valid");
        p.pick("p1", 1, UserSide::Demand).expect("picked");
        p
    }

    #[test]
    fn a_confirmation_names_who_chose_carries_the_note_and_lets_both_change_it() {
        let p = agreed();
        let at = p.confirmed_at().expect("at");
        let json: Value = serde_json::to_value(confirmed(&p, at, "https://w/ics/x.ics")).expect("json");
        for side in ["sender_buttons", "receiver_buttons"] {
            let row = &json[side]["rows"][0]["buttons"];
            assert_eq!(row[0]["action"]["open_direct_link"], "https://w/ics/x.ics");
            assert_eq!(row[1]["action"]["open_server_link"]["data"]["v"], "manage", "{side}");
        }
        let text = json["message"].as_str().unwrap_or("");
        assert!(
            text.contains("خریدار این زمان را از پیشنهاد فروشنده انتخاب کرد"),
            "{text}"
        );
        assert!(text.contains("یادداشت: زنگ واحد ۳"), "{text}");
    }

    #[test]
    fn the_text_reads_true_for_both_sides_and_says_what_it_replaces() {
        let now = 1_795_000_000i64;
        let next =
            Proposal::new("p2".into(), vec![now + 90_000], "", UserSide::Demand, now as u64 * 1000).expect("valid");
        let text = proposal(&next, Some(&agreed())).message;
        assert!(text.starts_with("📅 خریدار برای بازدید"), "{text}");
        assert!(text.contains("فروشنده یکی از زمان‌ها را انتخاب می‌کند"), "{text}");
        assert!(!text.contains("بزنید"), "no 'you' that only one side can do: {text}");
        assert!(text.contains("جای قرار قبلی"), "{text}");
        let first = proposal(&next, None).message;
        assert!(!first.contains("جای"), "{first}");
        let called_off = cancelled(&agreed(), UserSide::Demand).message;
        assert!(
            called_off.contains("خریدار قرار بازدید") && called_off.contains("لغو کرد"),
            "{called_off}"
        );
    }
}
