//! What the visit service posts into the chat at each step, with each side's buttons.
//!
//! Button data (handed back by Divar in the dynamic-action or session-init body):
//! `v` = what to do (`pick`, `decline`, `answer`, `manage`, `propose`), `p` = the proposal id,
//! `s` = the slot's index.

use super::jalali::{format_short, format_tehran, persian_digits};
use super::model::Proposal;
use crate::kenar::message::{Action, Button, ButtonGrid, ConversationMessage};

fn grid(rows: Vec<Vec<Button>>) -> ButtonGrid {
    // Every grid below is built from at most 3 rows of at most 3 buttons; `row` re-checks.
    rows.into_iter()
        .try_fold(ButtonGrid::default(), |g, r| g.row(r))
        .unwrap_or_default()
}

pub fn proposal(p: &Proposal) -> ConversationMessage {
    let mut text = String::from("📅 پیشنهاد زمان بازدید");
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
    text.push_str("\nبرای انتخاب، یکی از زمان‌ها را بزنید.");
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

pub fn confirmed(at_unix: i64, ics_url: &str) -> ConversationMessage {
    let add = || {
        grid(vec![vec![Button::new(
            "افزودن به تقویم",
            Action::OpenDirectLink(ics_url.to_string()),
        )]])
    };
    ConversationMessage {
        message: format!("✅ قرار بازدید قطعی شد: {}", format_tehran(at_unix)),
        sender_buttons: add(),
        receiver_buttons: add(),
    }
}

fn propose_again() -> ButtonGrid {
    grid(vec![vec![Button::new(
        "پیشنهاد زمان دیگر",
        Action::server_link(&[("v", "propose")]),
    )]])
}

pub fn declined() -> ConversationMessage {
    ConversationMessage {
        message: "هیچ‌کدام از زمان‌های پیشنهادی مناسب نبود.".into(),
        sender_buttons: propose_again(),
        receiver_buttons: propose_again(),
    }
}

pub fn cancelled() -> ConversationMessage {
    ConversationMessage {
        message: "❌ قرار بازدید لغو شد.".into(),
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
        let json: Value = serde_json::to_value(proposal(&p)).expect("json");
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

    #[test]
    fn a_confirmation_offers_the_calendar_to_both() {
        let json: Value = serde_json::to_value(confirmed(1_795_267_800, "https://w/ics/x.ics")).expect("json");
        for side in ["sender_buttons", "receiver_buttons"] {
            assert_eq!(
                json[side]["rows"][0]["buttons"][0]["action"]["open_direct_link"],
                "https://w/ics/x.ics"
            );
        }
        assert!(json["message"].as_str().unwrap_or("").contains("۱۷:۰۰"));
    }
}
