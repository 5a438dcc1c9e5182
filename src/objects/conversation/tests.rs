//! The page's free messages through the conversation's object: what is sent, once, in order,
//! on whose authority, and what happens when Divar says no or is away.

use serde_json::{json, Value};

use crate::delivery::engine::{MAX_ATTEMPTS, PENDING_GRACE_MS};
use crate::delivery::outbox::{self, DeliveryState};
use crate::delivery::tokens::TokenStatus;
use crate::kenar::message::MAX_MESSAGE_CHARS;
use crate::objects::sql::Sql;
use crate::platform::Platform;
use crate::testkit::{Chat, SEND, TOKEN};
use crate::web::{Method, Request, Response};

/// A chat where the buyer (u-1, DEMAND) has launched the add-on; granted if `granted`.
fn chat(granted: bool) -> (Chat, String) {
    let chat = Chat::default();
    let handle = chat.launch("DEMAND", "u-1");
    if granted {
        chat.grant("u-1");
    }
    (chat, handle)
}

fn submit(chat: &Chat, handle: &str, text: &str, key: &str) -> Response {
    chat.post(handle, "/api/messages", json!({"text": text, "idempotency_key": key}))
}

/// The item the page gets back for a submission.
fn item(chat: &Chat, handle: &str, text: &str, key: &str) -> Value {
    let r = submit(chat, handle, text, key);
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    r.json_body()["item"].clone()
}

fn state(chat: &Chat, handle: &str, text: &str, key: &str) -> Value {
    item(chat, handle, text, key)["state"].clone()
}

fn listed(chat: &Chat, handle: &str) -> Vec<Value> {
    let r = chat.get(handle, "/api/messages");
    assert_eq!(r.status, 200);
    r.json_body()["items"].as_array().cloned().unwrap_or_default()
}

fn states(chat: &Chat, handle: &str) -> Vec<String> {
    listed(chat, handle)
        .iter()
        .map(|i| i["state"].as_str().unwrap_or("").to_string())
        .collect()
}

fn messages(bodies: &[Value]) -> Vec<&str> {
    bodies.iter().map(|b| b["message"].as_str().unwrap_or("")).collect()
}

#[test]
fn sends_with_each_sides_buttons() {
    let (chat, h) = chat(true);
    chat.http().route(SEND, 200, r#"{"status":200,"message":"success"}"#);
    assert_eq!(state(&chat, &h, "سلام، فردا ساعت ۵؟", "key-00000001"), "sent");
    let sent = chat.sends();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].url.ends_with("/v2/open-platform/conversations/conv-1/messages"));
    assert_eq!(chat.sent_with(), vec!["Bearer ory_at_u-1"], "on the person's own grant");
    assert!(sent[0]
        .headers
        .contains(&("x-api-key".into(), "dev-kenar-api-key-0123456789".into())));
    let body = &chat.sent_bodies()[0];
    assert_eq!(body["message"], "سلام، فردا ساعت ۵؟");
    assert_eq!(
        body["receiver_buttons"]["rows"][0]["buttons"][0]["action"]["open_server_link"]["data"]["purpose"],
        "reply"
    );
    assert_eq!(
        body["sender_buttons"]["rows"][0]["buttons"][0]["action"]["open_server_link"]["data"]["purpose"],
        "view"
    );
    assert_eq!(
        body["sender_buttons"]["rows"][0]["buttons"][1]["action"]["open_post_page"]["post_token"],
        "wZC44q5D"
    );
    assert!(body.get("type").is_none(), "not in Divar's OpenAPI schema");
    assert_eq!(chat.alarm(), None, "nothing left to wake up for");
}

#[test]
fn the_same_key_is_never_sent_twice_and_names_one_message() {
    let (chat, h) = chat(true);
    chat.http().route(SEND, 200, "{}");
    chat.http().route(SEND, 200, "{}");
    chat.http().route(SEND, 200, "{}");
    let first = item(&chat, &h, "one", "key-00000001");
    assert_eq!(first["state"], "sent");
    let again = item(&chat, &h, "one", "key-00000001");
    assert_eq!(again, first, "a resubmission answers with the same item");
    assert_eq!(chat.sends().len(), 1);
    assert_eq!(state(&chat, &h, "two", "key-00000002"), "sent");
    let reused = submit(&chat, &h, "other text", "key-00000001");
    assert_eq!(reused.status, 422, "a key names one message");
    assert!(reused.json_body()["message"]
        .as_str()
        .unwrap_or("")
        .contains("idempotency_key"));
    assert_eq!(chat.sends().len(), 2);
    let texts: Vec<Value> = listed(&chat, &h).iter().map(|i| i["text"].clone()).collect();
    assert_eq!(texts, vec![json!("one"), json!("two")]);

    // A key belongs to its launch session: the same person's next launch starts afresh.
    let h2 = chat.launch("DEMAND", "u-1");
    assert_eq!(state(&chat, &h2, "three", "key-00000001"), "sent");
    assert_eq!(chat.sends().len(), 3);
    assert_eq!(listed(&chat, &h2).len(), 1, "each session lists its own");
}

#[test]
fn without_permission_the_item_waits_for_consent_then_goes() {
    let (chat, h) = chat(false);
    let first = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(
        (first["state"].as_str(), first["reason"].as_str()),
        (Some("needs_consent"), Some("permission_needed"))
    );
    assert!(chat.http().sent().is_empty());
    assert_eq!(chat.alarm(), None, "nothing to retry without permission");
    assert_eq!(
        states(&chat, &h),
        vec!["needs_consent"],
        "kept across the OAuth round trip"
    );
    chat.grant("u-1");
    chat.http().route(SEND, 200, "{}");
    let after = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(after["state"], "sent");
    assert_eq!(after["id"], first["id"], "the same item went, not a new one");
    assert!(after.get("reason").is_none());
    assert_eq!(chat.sends().len(), 1);
    assert_eq!(states(&chat, &h), vec!["sent"]);
}

#[test]
fn a_blocked_recipient_fails_clearly_and_is_never_retried() {
    let (chat, h) = chat(true);
    chat.http().route(
        SEND,
        412,
        r#"{"code":9,"message":"message delivery failed due to recipient's restriction"}"#,
    );
    let first = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(
        (first["state"].as_str(), first["reason"].as_str()),
        (Some("failed"), Some("recipient_restricted"))
    );
    assert_eq!(chat.alarm(), None);
    chat.p.advance_secs(3600);
    assert_eq!(chat.p.fire_alarms(), 0);
    assert_eq!(
        state(&chat, &h, "hi", "key-00000001"),
        "failed",
        "a resubmission does not try again"
    );
    assert_eq!(chat.sends().len(), 1);
}

#[test]
fn a_token_divar_dropped_early_is_refreshed_once_and_the_send_retried() {
    let (chat, h) = chat(true);
    chat.http().route(SEND, 401, r#"{"code":16}"#);
    chat.http().route(
        TOKEN,
        200,
        r#"{"access_token":"ory_at_2","refresh_token":"ory_rt_2","expires_in":3600}"#,
    );
    chat.http().route(SEND, 200, "{}");
    assert_eq!(state(&chat, &h, "hi", "key-00000001"), "sent");
    assert_eq!(chat.sent_with(), vec!["Bearer ory_at_u-1", "Bearer ory_at_2"]);
    let refreshes = chat.http().sent_to(TOKEN);
    assert_eq!(refreshes.len(), 1);
    let form = refreshes[0].body.clone().unwrap_or_default();
    assert!(form.contains("grant_type=refresh_token") && form.contains("refresh_token=ory_rt_u-1"));

    chat.http().route(SEND, 200, "{}");
    assert_eq!(state(&chat, &h, "again", "key-00000002"), "sent");
    assert_eq!(chat.sent_with()[2], "Bearer ory_at_2", "the fresh token is kept");
    assert_eq!(chat.http().sent_to(TOKEN).len(), 1, "and not refreshed again");
}

#[test]
fn a_revoked_grant_whose_refresh_is_refused_leads_back_to_consent() {
    let (chat, h) = chat(true);
    chat.http().route(SEND, 401, r#"{"code":16}"#);
    chat.http().route(TOKEN, 400, r#"{"error":"invalid_grant"}"#);
    let first = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(
        (first["state"].as_str(), first["reason"].as_str()),
        (Some("needs_consent"), Some("permission_revoked"))
    );
    assert_eq!(chat.sends().len(), 1);
    assert_eq!(chat.token_of("u-1"), TokenStatus::ConsentNeeded, "the grant is gone");
    assert_eq!(chat.alarm(), None);
}

#[test]
fn a_403_leads_back_to_consent_and_forgets_the_grant() {
    let (chat, h) = chat(true);
    chat.http().route(SEND, 403, r#"{"code":7}"#);
    let first = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(
        (first["state"].as_str(), first["reason"].as_str()),
        (Some("needs_consent"), Some("permission_revoked"))
    );
    assert_eq!(chat.token_of("u-1"), TokenStatus::ConsentNeeded);
    assert_eq!(
        state(&chat, &h, "hi", "key-00000001"),
        "needs_consent",
        "the grant is gone, nothing is sent"
    );
    assert_eq!(chat.sends().len(), 1);
    assert!(chat.http().sent_to(TOKEN).is_empty(), "a 403 is not a token problem");
    chat.grant("u-1");
    chat.http().route(SEND, 200, "{}");
    assert_eq!(state(&chat, &h, "hi", "key-00000001"), "sent", "a new grant lets it go");
}

#[test]
fn an_outage_waits_for_the_alarm_which_sends_exactly_once() {
    let (chat, h) = chat(true);
    for _ in 0..3 {
        chat.http().route(SEND, 500, "{}");
    }
    let first = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(
        (
            first["state"].as_str(),
            first["attempts"].as_u64(),
            first["reason"].as_str()
        ),
        (Some("waiting"), Some(1), Some("divar_unavailable"))
    );
    assert_eq!(chat.sends().len(), 3, "bounded retries inside the request");
    let now = chat.p.now_ms();
    let at = chat.alarm().expect("an alarm covers the retry");
    assert!(at > now && at <= now + 30_000, "the first backoff: {}", at - now);

    chat.p.advance_secs(10);
    assert_eq!(chat.p.fire_alarms(), 0, "not due yet");
    assert_eq!(chat.sends().len(), 3);
    assert_eq!(
        state(&chat, &h, "hi", "key-00000001"),
        "waiting",
        "a resubmission does not jump the backoff"
    );
    assert_eq!(chat.sends().len(), 3);

    chat.p.advance_secs(21);
    chat.http().route(SEND, 200, "{}");
    assert_eq!(chat.p.fire_alarms(), 1);
    assert_eq!(states(&chat, &h), vec!["sent"]);
    assert_eq!(listed(&chat, &h)[0]["attempts"], 2);
    assert_eq!(chat.sends().len(), 4);
    assert_eq!(chat.alarm(), None, "nothing left");
    chat.p.advance_secs(3600);
    assert_eq!(chat.p.fire_alarms(), 0);
    assert_eq!(chat.sends().len(), 4);
}

#[test]
fn a_long_retry_after_is_honoured() {
    let (chat, h) = chat(true);
    chat.http().route_with_header(SEND, 429, "{}", "retry-after", "600");
    assert_eq!(state(&chat, &h, "hi", "key-00000001"), "waiting");
    assert_eq!(
        chat.sends().len(),
        1,
        "a wait this long is not spent inside the request"
    );
    let at = chat.alarm().expect("alarm");
    assert!(at >= chat.p.now_ms() + 599_000, "Divar's wait, not our 30 s backoff");
    chat.p.advance_secs(120);
    assert_eq!(chat.p.fire_alarms(), 0);
    chat.p.advance_secs(500);
    chat.http().route(SEND, 200, "{}");
    assert_eq!(chat.p.fire_alarms(), 1);
    assert_eq!(states(&chat, &h), vec!["sent"]);
    assert_eq!(chat.sends().len(), 2);
}

#[test]
fn gives_up_after_the_attempt_budget() {
    let (chat, h) = chat(true);
    for _ in 0..(3 * MAX_ATTEMPTS) {
        chat.http().route(SEND, 503, "{}");
    }
    assert_eq!(state(&chat, &h, "hi", "key-00000001"), "waiting");
    // Hours pass, longer than the page's session lives: look inside the object.
    let stored = || outbox::get(&chat.sql(), 1).expect("read").expect("the item");
    for attempt in 2..=MAX_ATTEMPTS {
        assert_eq!(stored().state, DeliveryState::Waiting, "before attempt {attempt}");
        chat.p.advance_secs(1800);
        assert_eq!(chat.p.fire_alarms(), 1, "attempt {attempt}");
    }
    let last = stored();
    assert_eq!(
        (last.state, last.reason.as_deref(), last.attempts),
        (DeliveryState::Failed, Some("divar_unavailable"), MAX_ATTEMPTS)
    );
    assert_eq!(chat.sends().len(), 3 * MAX_ATTEMPTS as usize);
    assert_eq!(chat.alarm(), None, "given up: no more alarms");
    chat.p.advance_secs(86_400);
    assert_eq!(chat.p.fire_alarms(), 0);
    assert_eq!(chat.sends().len(), 3 * MAX_ATTEMPTS as usize);
}

#[test]
fn a_waiting_head_holds_its_senders_later_messages_which_then_go_in_order() {
    let (chat, h) = chat(true);
    for _ in 0..3 {
        chat.http().route(SEND, 500, "{}");
    }
    assert_eq!(state(&chat, &h, "one", "key-00000001"), "waiting");
    // Divar is back, but these must not overtake the first.
    for _ in 0..3 {
        chat.http().route(SEND, 200, "{}");
    }
    assert_eq!(state(&chat, &h, "two", "key-00000002"), "pending");
    assert_eq!(state(&chat, &h, "three", "key-00000003"), "pending");
    assert_eq!(chat.sends().len(), 3, "nothing overtook the waiting head");
    assert_eq!(states(&chat, &h), vec!["waiting", "pending", "pending"]);
    let at = chat.alarm().expect("alarm");
    assert!(
        at > chat.p.now_ms() + PENDING_GRACE_MS,
        "the alarm waits for the head, not for what queues behind it"
    );
    chat.p.advance_secs(5);
    assert_eq!(chat.p.fire_alarms(), 0);
    assert_eq!(chat.sends().len(), 3);

    chat.p.advance_secs(30);
    assert_eq!(chat.p.fire_alarms(), 1, "one alarm run");
    let bodies = chat.sent_bodies();
    assert_eq!(
        messages(&bodies[3..]),
        vec!["one", "two", "three"],
        "in submission order"
    );
    assert_eq!(states(&chat, &h), vec!["sent", "sent", "sent"]);
    assert_eq!(chat.alarm(), None);
}

#[test]
fn another_senders_lane_is_not_held_up() {
    let chat = Chat::default();
    let buyer = chat.launch("DEMAND", "u-1");
    let seller = chat.launch("SUPPLY", "u-2");
    chat.grant("u-1");
    chat.grant("u-2");
    for _ in 0..3 {
        chat.http().route(SEND, 500, "{}");
    }
    chat.http().route(SEND, 200, "{}");
    assert_eq!(state(&chat, &buyer, "from the buyer", "key-00000001"), "waiting");
    assert_eq!(
        state(&chat, &seller, "from the seller", "key-00000001"),
        "sent",
        "the seller's message goes although the buyer's waits"
    );
    assert_eq!(chat.sent_with()[3], "Bearer ory_at_u-2");
    assert_eq!(states(&chat, &buyer), vec!["waiting"]);
    assert_eq!(states(&chat, &seller), vec!["sent"]);

    chat.p.advance_secs(31);
    chat.http().route(SEND, 200, "{}");
    assert_eq!(chat.p.fire_alarms(), 1);
    assert_eq!(states(&chat, &buyer), vec!["sent"]);
    assert_eq!(
        messages(&chat.sent_bodies()),
        vec![
            "from the buyer",
            "from the buyer",
            "from the buyer",
            "from the seller",
            "from the buyer"
        ]
    );
    assert_eq!(chat.sent_with()[4], "Bearer ory_at_u-1");
}

#[test]
fn bad_submissions_are_named_4xx_and_send_nothing() {
    let (chat, h) = chat(true);
    let calls = chat.p.objects.calls();
    for (text, key, field) in [
        ("", "key-00000001", "text"),
        ("   ", "key-00000001", "text"),
        (&"x".repeat(MAX_MESSAGE_CHARS + 1), "key-00000001", "text"),
        ("hi", "short", "idempotency_key"),
        ("hi", "bad key with spaces", "idempotency_key"),
    ] {
        let r = submit(&chat, &h, text, key);
        assert_eq!(r.status, 422, "{field}");
        assert_eq!(r.json_body()["error"], "invalid_field");
        assert!(
            r.json_body()["message"].as_str().unwrap_or("").contains(field),
            "{field}"
        );
    }
    let not_the_shape = chat.request(
        Request::new(Method::Post, "/api/messages")
            .with_header("authorization", &format!("Bearer {h}"))
            .with_header("content-type", "application/json")
            .with_body("{\"text\": 5}"),
    );
    assert_eq!(not_the_shape.status, 400);
    let no_session = chat.post(
        "forged",
        "/api/messages",
        json!({"text": "hi", "idempotency_key": "key-00000001"}),
    );
    assert_eq!(no_session.status, 401);
    assert!(chat.http().sent().is_empty());
    assert_eq!(chat.p.objects.calls(), calls, "refused before reaching the object");
}

#[test]
fn a_send_cut_off_mid_flight_is_never_doubled_and_the_alarm_takes_it_over() {
    let (chat, h) = chat(true);
    for _ in 0..3 {
        chat.http().route(SEND, 500, "{}");
    }
    assert_eq!(state(&chat, &h, "hi", "key-00000001"), "waiting");
    // As if a request had claimed it and the object was evicted mid-send.
    let lease_until = chat.p.now_ms() + 35_000;
    chat.sql()
        .exec(
            "UPDATE outbox SET state = 'sending', lease_until = ? WHERE seq = 1",
            &[lease_until.into()],
        )
        .expect("update");
    chat.http().route(SEND, 200, "{}");
    let again = item(&chat, &h, "hi", "key-00000001");
    assert_eq!(again["state"], "pending", "a lease is shown as pending");
    assert_eq!(chat.sends().len(), 3, "a leased item is not sent by a second request");
    assert_eq!(
        chat.alarm(),
        Some(lease_until),
        "the alarm waits for the lease to run out"
    );
    chat.p.advance_secs(20);
    assert_eq!(chat.p.fire_alarms(), 0);
    chat.p.advance_secs(20);
    assert_eq!(chat.p.fire_alarms(), 1);
    assert_eq!(states(&chat, &h), vec!["sent"]);
    assert_eq!(chat.sends().len(), 4);
    assert_eq!(chat.alarm(), None);
}
