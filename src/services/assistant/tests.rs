use super::settings::{ClockTime, Hours};
use super::*;
use crate::config::tests::dev_config;
use crate::delivery::PersonKey;
use crate::services::Poster;

/// 2026-11-22 12:00 in Tehran (08:30 UTC).
const NOON: u64 = 1_795_336_200_000;

fn settings() -> Settings {
    let mut s = Settings {
        enabled: true,
        greeting: "سلام، خوش آمدید.".into(),
        ..Settings::default()
    };
    s.answers.price = "قیمت مقطوع است: ۱۲ میلیون.".into();
    s.answers.place = "تهران، ونک.".into();
    s
}

fn with_hours(mut s: Settings, from: &str, to: &str) -> Settings {
    s.hours = Some(Hours {
        from: ClockTime::parse(from).expect("from"),
        to: ClockTime::parse(to).expect("to"),
    });
    s
}

/// Plays a buyer's messages in order, carrying the record; each entry is the reply or None.
fn play(s: &Settings, texts: &[(&str, u64)]) -> Vec<Option<Reply>> {
    let mut record = AssistantRecord::default();
    texts
        .iter()
        .map(|(text, at)| {
            let reply = compose(s, &record, text, *at);
            if let Some(r) = &reply {
                record = r.record.clone();
            }
            reply
        })
        .collect()
}

fn text(r: &Option<Reply>) -> &str {
    r.as_ref().map(|r| r.text.as_str()).unwrap_or("")
}

#[test]
fn greets_once_answers_each_topic_once_and_keeps_quiet_when_unsure() {
    let replies = play(
        &settings(),
        &[
            ("سلام", NOON),
            ("قیمت آخرش چنده؟", NOON + 1),
            ("رنگش چیه؟", NOON + 2),
            ("قیمتش چند بود؟", NOON + 3),
            ("آدرس کجاست؟ کی می‌تونم ببینم؟", NOON + 4),
        ],
    );
    assert!(text(&replies[0]).contains("سلام، خوش آمدید."));
    assert!(text(&replies[1]).contains("۱۲ میلیون") && !text(&replies[1]).contains("خوش آمدید"));
    assert!(replies[2].is_none(), "no topic: silence");
    assert!(replies[3].is_none(), "the price was already given");
    let last = replies[4].as_ref().expect("where and when");
    assert!(last.text.contains("ونک") && last.text.contains("پیشنهاد زمان بازدید"));
    assert!(last.offers_visit);
    assert_eq!(last.record.replies, 3);
    assert_eq!(last.record.answered, vec![Topic::Price, Topic::Where, Topic::When]);
}

#[test]
fn a_topic_without_an_answer_is_not_answered() {
    let mut s = settings();
    s.greeting.clear();
    s.answers.price.clear();
    assert_eq!(play(&s, &[("قیمت؟", NOON)]), vec![None]);
}

#[test]
fn the_away_message_goes_outside_hours_at_most_every_twelve_hours() {
    let s = with_hours(settings(), "09:00", "11:00");
    let replies = play(
        &s,
        &[
            ("سلام", NOON),
            ("هستید؟", NOON + 3_600_000),
            ("قیمت؟", NOON + 2 * 3_600_000),
            ("سلام دوباره", NOON + AWAY_REPEAT_MS),
        ],
    );
    assert!(text(&replies[0]).contains("خوش آمدید") && text(&replies[0]).contains("در دسترس نیستم"));
    assert!(replies[1].is_none());
    assert!(!text(&replies[2]).contains("در دسترس نیستم") && text(&replies[2]).contains("۱۲ میلیون"));
    // Twelve hours later it is 00:00 in Tehran: still outside 09–11.
    assert!(text(&replies[3]).contains("در دسترس نیستم"));
    let inside = with_hours(settings(), "09:00", "21:00");
    assert!(!text(&play(&inside, &[("سلام", NOON)])[0]).contains("در دسترس نیستم"));
}

#[test]
fn the_message_reads_right_to_left_and_offers_the_visit_to_the_buyer_only() {
    let reply = compose(&settings(), &AssistantRecord::default(), "کی بیام ببینم؟", NOON).expect("reply");
    let m = serde_json::to_value(message(&reply)).expect("json");
    assert!(m["message"]
        .as_str()
        .expect("text")
        .lines()
        .all(|l| l.starts_with('\u{200F}')));
    assert_eq!(
        m["receiver_buttons"]["rows"][0]["buttons"][0]["action"]["open_server_link"]["data"]["v"],
        "propose"
    );
    assert_eq!(
        m["sender_buttons"]["rows"][0]["buttons"][0]["action"]["open_server_link"]["data"]["v"],
        "assistant"
    );
    let plain = compose(&settings(), &AssistantRecord::default(), "سلام", NOON).expect("greeting");
    assert!(
        serde_json::to_value(message(&plain)).expect("json")["receiver_buttons"].is_null()
            || serde_json::to_value(message(&plain)).expect("json")["receiver_buttons"]["rows"]
                .as_array()
                .is_none_or(Vec::is_empty)
    );
}

fn incoming(side: Option<UserSide>, enabled: bool, seller_joined: bool) -> Incoming {
    let mut s = settings();
    s.enabled = enabled;
    Incoming {
        id: "m-1".into(),
        text: Some("قیمت؟".into()),
        sender_user_id: None,
        post_token: Some("gZd7omnS".into()),
        side,
        poster: Some(Poster {
            person: PersonKey::of_user("seller"),
            post_token: "gZd7omnS".into(),
            assistant: s,
        }),
        seller_joined,
    }
}

#[test]
fn only_buyers_are_answered_only_while_on_and_never_after_the_seller_wrote() {
    let cfg = dev_config();
    let ctx = Ctx::new(&cfg, NOON, "conv-1");
    let record = AssistantRecord::default();
    let ask = |m: Incoming| Assistant::on_message(&ctx, &record, &m, false).is_some();
    assert!(ask(incoming(Some(UserSide::Demand), true, false)));
    assert!(
        !ask(incoming(Some(UserSide::Supply), true, false)),
        "the seller's own message"
    );
    assert!(!ask(incoming(None, true, false)), "a side Divar did not name");
    assert!(!ask(incoming(Some(UserSide::Demand), false, false)), "turned off");
    assert!(
        !ask(incoming(Some(UserSide::Demand), true, true)),
        "the seller took over"
    );
    let mut without = incoming(Some(UserSide::Demand), true, false);
    without.poster = None;
    assert!(!ask(without), "no seller's subscription behind the message");
}
