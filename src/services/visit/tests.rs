//! The visit service end to end: through the page's API and Divar's one-tap buttons, into the
//! conversation's object and out to the chat. A step counts only once the chat shows it.

use serde_json::{json, Value};

use super::{OPEN_PAGE_TOAST, STALE_TOAST, WAIT_TOAST};
use crate::objects::sql::Sql;
use crate::platform::Platform;
use crate::services::visit::jalali::civil_from_days;
use crate::testkit::{Chat, SEND};
use crate::web::{Method, Request, Response};

/// The buyer (u-1, DEMAND) and the seller (u-2, SUPPLY) have both opened the add-on.
struct Visit {
    chat: Chat,
    buyer: String,
    seller: String,
}

fn visit() -> Visit {
    let chat = Chat::default();
    let buyer = chat.launch("DEMAND", "u-1");
    let seller = chat.launch("SUPPLY", "u-2");
    Visit { chat, buyer, seller }
}

/// Both sides have given permission, and Divar will take the next `sends` messages.
fn granted_visit(sends: usize) -> Visit {
    let v = visit();
    v.chat.grant("u-1");
    v.chat.grant("u-2");
    v.ok(sends);
    v
}

impl Visit {
    fn ok(&self, times: usize) {
        for _ in 0..times {
            self.chat.http().route(SEND, 200, "{}");
        }
    }
    fn slots(&self) -> Vec<i64> {
        let now = (self.chat.p.now_ms() / 1000) as i64;
        vec![now + 86_400, now + 2 * 86_400]
    }
    fn act(&self, handle: &str, op: &str, body: Value) -> Response {
        self.chat.post(handle, &format!("/api/visit/{op}"), body)
    }
    fn propose_body(&self, key: &str) -> Value {
        json!({"slots": self.slots(), "note": "زنگ واحد ۳", "idempotency_key": key})
    }
    /// The buyer proposes; returns the proposal's id.
    fn propose(&self, key: &str) -> String {
        let r = self.act(&self.buyer, "propose", self.propose_body(key));
        assert_eq!(r.json_body()["delivery"], "sent", "{:?}", r.json_body());
        r.json_body()["proposal"]["id"].as_str().expect("id").to_string()
    }
    fn answer(&self, handle: &str, id: &str, slot: usize, key: &str) -> Response {
        self.act(
            handle,
            "answer",
            json!({"proposal_id": id, "slot": slot, "idempotency_key": key}),
        )
    }
    fn view(&self, handle: &str) -> Value {
        let r = self.chat.get(handle, "/api/visit");
        assert_eq!(r.status, 200, "{:?}", r.json_body());
        r.json_body()
    }
    fn status(&self) -> Value {
        self.view(&self.buyer)["proposal"]["status"]["kind"].clone()
    }
    /// The seller taps a button of the buyer's proposal.
    fn tap(&self, data: Value) -> Value {
        let r = self.chat.tap("SUPPLY", Some("u-2"), data);
        assert_eq!(r.status, 200, "{:?}", r.json_body());
        r.json_body()
    }
    fn calendar(&self, path: &str) -> Response {
        self.chat.request(Request::new(Method::Get, path))
    }
}

/// Both sides granted, and the buyer's proposal (its first send answered 200) in the chat.
fn granted_proposal() -> (Visit, String) {
    let v = granted_visit(1);
    let id = v.propose("prop-0001");
    (v, id)
}

fn toast(answer: &Value) -> &str {
    answer["text_message"].as_str().unwrap_or("")
}

#[test]
fn propose_then_answer_confirms_and_serves_the_calendar_file() {
    let v = granted_visit(2);
    let id = v.propose("prop-0001");
    assert_eq!(v.status(), "open");
    let posted = &v.chat.sent_bodies()[0];
    assert!(posted["message"].as_str().unwrap_or("").contains("زنگ واحد ۳"));
    assert_eq!(
        posted["receiver_buttons"]["rows"][0]["buttons"][1]["action"]["get_dynamic_action"]["data"],
        json!({"svc": "visit", "v": "pick", "p": id, "s": "1", "sv": "1"}),
        "the button names its service and the state it was drawn from"
    );
    assert_eq!(v.chat.sent_with(), vec!["Bearer ory_at_u-1"]);
    assert_eq!(v.view(&v.seller)["can_answer"], true);
    assert_eq!(v.view(&v.buyer)["can_answer"], false);

    let r = v.answer(&v.seller, &id, 1, "answer-0001");
    assert_eq!(r.json_body()["delivery"], "sent");
    assert_eq!(r.json_body()["proposal"]["status"]["kind"], "confirmed");
    assert_eq!(
        v.chat.sent_with()[1],
        "Bearer ory_at_u-2",
        "the answer goes as the seller"
    );
    let confirmation = &v.chat.sent_bodies()[1];
    let ics_url = confirmation["receiver_buttons"]["rows"][0]["buttons"][0]["action"]["open_direct_link"]
        .as_str()
        .expect("a calendar link")
        .to_string();
    assert_eq!(
        confirmation["sender_buttons"]["rows"][0]["buttons"][0]["action"]["open_direct_link"],
        ics_url.as_str()
    );
    for handle in [&v.buyer, &v.seller] {
        let view = v.view(handle);
        assert_eq!(
            view["proposal"]["status"],
            json!({"kind": "confirmed", "slot": 1, "by": "SUPPLY"})
        );
        assert_eq!(view["proposal"]["ics_url"], ics_url.as_str());
        assert_eq!(view["in_flight"], false);
    }

    let path = ics_url.strip_prefix("http://127.0.0.1:8787").expect("ours");
    assert_eq!(path, format!("/ics/{}-{id}.ics", v.chat.key()));
    let ics = v.calendar(path);
    assert_eq!(ics.status, 200);
    assert_eq!(ics.header("content-type"), Some("text/calendar; charset=utf-8"));
    let text = String::from_utf8(ics.body).expect("utf8");
    let at = v.slots()[1];
    let (y, m, d) = civil_from_days(at.div_euclid(86_400));
    let secs = at.rem_euclid(86_400);
    let start = format!(
        "DTSTART:{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    assert!(text.contains(&start), "{text}");
    assert!(text.contains("https://divar.ir/v/wZC44q5D"), "{text}");

    for wrong in [
        format!("/ics/{}-{}.ics", v.chat.key(), "0123456789abcdef"),
        format!("/ics/{}-{id}.ics", crate::delivery::conversation_key("conv-2")),
        format!("/ics/{}-{id}.ics", v.chat.key().to_uppercase()),
        "/ics/nothing.ics".to_string(),
        format!("/ics/{}-p1.ics", "a".repeat(63)),
    ] {
        let r = v.calendar(&wrong);
        assert_eq!(r.status, 404, "{wrong}");
        // A well-formed link of a visit that changed (or never was) gets a Persian page; a
        // malformed one, the route's JSON 404.
        let page = String::from_utf8_lossy(&r.body).to_string();
        assert!(
            page.contains("دیگر برقرار نیست") || r.json_body()["error"] == "not_found",
            "{wrong}: {page}"
        );
    }
    assert_eq!(v.chat.sends().len(), 2);
}

#[test]
fn only_the_other_side_answers_and_only_the_proposer_cancels() {
    let (v, id) = granted_proposal();
    let own = v.answer(&v.buyer, &id, 0, "answer-0001");
    assert_eq!(own.status, 422);
    assert!(own.json_body()["message"].as_str().unwrap_or("").contains("other side"));
    assert_eq!(
        toast(
            &v.chat
                .tap(
                    "DEMAND",
                    Some("u-1"),
                    json!({"svc": "visit", "v": "pick", "p": id, "s": "0"})
                )
                .json_body()
        ),
        WAIT_TOAST
    );
    assert_eq!(
        v.act(&v.seller, "propose", v.propose_body("prop-0002")).status,
        422,
        "not while the other side's proposal is open"
    );
    assert_eq!(
        v.act(
            &v.seller,
            "cancel",
            json!({"proposal_id": id, "idempotency_key": "cancel-0001"})
        )
        .status,
        422
    );
    assert_eq!(v.chat.sends().len(), 1, "nothing but the proposal went out");
    assert_eq!(v.status(), "open");
}

#[test]
fn answer_from_the_page_decline_and_cancel() {
    let v = granted_visit(5);
    let id = v.propose("prop-0001");
    let days = v.view(&v.seller)["days"].as_array().cloned().unwrap_or_default();
    assert_eq!(days.len(), 14);
    assert!(days[0]["start"].as_i64().unwrap_or(i64::MAX) <= (v.chat.p.now_ms() / 1000) as i64);
    let declined = v.act(
        &v.seller,
        "answer",
        json!({"proposal_id": id, "decline": true, "idempotency_key": "answer-0001"}),
    );
    assert_eq!(declined.json_body()["proposal"]["status"]["kind"], "declined");
    assert_eq!(
        v.answer(&v.seller, &id, 0, "answer-0002").status,
        422,
        "a declined proposal is no longer open"
    );
    let second = v.act(&v.seller, "propose", v.propose_body("prop-0002"));
    let id2 = second.json_body()["proposal"]["id"].as_str().expect("id").to_string();
    assert_ne!(id2, id);
    let picked = v.answer(&v.buyer, &id2, 0, "answer-0003");
    assert_eq!(picked.json_body()["proposal"]["status"]["kind"], "confirmed");
    let cancelled = v.act(
        &v.seller,
        "cancel",
        json!({"proposal_id": id2, "idempotency_key": "cancel-0001"}),
    );
    assert_eq!(cancelled.json_body()["proposal"]["status"]["kind"], "cancelled");
    assert_eq!(v.chat.sends().len(), 5);
    assert!(v.chat.sent_bodies()[4]["message"]
        .as_str()
        .unwrap_or("")
        .contains("لغو"));
    let gone = v.calendar(&format!("/ics/{}-{id2}.ics", v.chat.key()));
    assert_eq!(gone.status, 404, "a cancelled visit has no calendar file");
    let page = String::from_utf8_lossy(&gone.body).to_string();
    assert!(
        page.contains("لغو شده") && page.contains("dir=\"rtl\""),
        "a Persian page: {page}"
    );
    assert_eq!(gone.header("referrer-policy"), Some("no-referrer"));
}

#[test]
fn a_second_answer_while_the_first_is_on_its_way_is_refused() {
    let (v, id) = granted_proposal();
    for _ in 0..3 {
        v.chat.http().route(SEND, 500, "{}");
    }
    let first = v.answer(&v.seller, &id, 0, "answer-0001");
    assert_eq!(first.status, 200);
    assert_eq!(first.json_body()["delivery"], "waiting");
    assert!(first.json_body().get("proposal").is_none(), "not in force yet");
    assert_eq!(v.chat.sends().len(), 4);
    let seen = v.view(&v.seller);
    assert_eq!(
        seen["proposal"]["status"]["kind"], "open",
        "the chat does not show it yet"
    );
    assert_eq!(
        (seen["in_flight"].as_bool(), seen["can_answer"].as_bool()),
        (Some(true), Some(false))
    );

    let other = v.answer(&v.seller, &id, 1, "answer-0002");
    assert_eq!(other.status, 422);
    assert!(other.json_body()["message"]
        .as_str()
        .unwrap_or("")
        .contains("no longer open"));
    let decline = v.act(
        &v.seller,
        "answer",
        json!({"proposal_id": id, "decline": true, "idempotency_key": "answer-0003"}),
    );
    assert_eq!(decline.status, 422);
    let busy = v.act(&v.buyer, "propose", v.propose_body("prop-0002"));
    assert_eq!(
        (busy.status, busy.json_body()["error"].as_str()),
        (409, Some("conflict"))
    );
    let busy = v.act(
        &v.buyer,
        "cancel",
        json!({"proposal_id": id, "idempotency_key": "cancel-0001"}),
    );
    assert_eq!(busy.status, 409);
    assert_eq!(
        toast(&v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "1"}))),
        STALE_TOAST
    );
    let resubmitted = v.answer(&v.seller, &id, 0, "answer-0001");
    assert_eq!(
        resubmitted.json_body()["delivery"],
        "waiting",
        "the same answer, still on its way"
    );
    assert_eq!(v.chat.sends().len(), 4, "nothing more was sent");

    v.chat.p.advance_secs(31);
    v.ok(1);
    assert_eq!(v.chat.p.fire_alarms(), 1);
    let after = v.view(&v.buyer);
    assert_eq!(
        after["proposal"]["status"],
        json!({"kind": "confirmed", "slot": 0, "by": "SUPPLY"})
    );
    assert_eq!(after["in_flight"], false);
    assert_eq!(v.chat.sends().len(), 5);
    assert!(v.chat.sent_bodies()[4]["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("✅"));
}

#[test]
fn a_repeated_proposal_after_confirmation_changes_nothing() {
    let v = granted_visit(2);
    let body = v.propose_body("prop-0001");
    let id = v.propose("prop-0001");
    assert_eq!(v.answer(&v.seller, &id, 0, "answer-0001").status, 200);
    assert_eq!(v.status(), "confirmed");
    v.ok(1);
    let again = v.act(&v.buyer, "propose", body);
    assert_eq!(again.status, 200);
    assert_eq!(again.json_body()["delivery"], "sent");
    assert_eq!(again.json_body()["proposal"]["id"], id.as_str());
    assert_eq!(again.json_body()["proposal"]["status"]["kind"], "confirmed");
    assert_eq!(v.status(), "confirmed", "the agreed visit stands");
    assert_eq!(v.chat.sends().len(), 2, "nothing was sent again");
}

#[test]
fn a_tap_with_permission_confirms_and_toasts_once() {
    let v = granted_visit(2);
    let id = v.propose("prop-0001");
    let tap = json!({"svc": "visit", "v": "pick", "p": id, "s": "1"});
    let answer = v.tap(tap.clone());
    assert!(toast(&answer).starts_with("✅"), "{answer}");
    assert!(answer.get("action").is_none());
    assert_eq!(v.chat.sent_with(), vec!["Bearer ory_at_u-1", "Bearer ory_at_u-2"]);
    assert_eq!(
        v.view(&v.buyer)["proposal"]["status"],
        json!({"kind": "confirmed", "slot": 1, "by": "SUPPLY"})
    );
    v.ok(1);
    assert_eq!(
        v.tap(tap),
        answer,
        "a repeated delivery of the tap gets the first one's answer and re-confirms nothing"
    );
    assert_eq!(
        toast(&v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0"}))),
        STALE_TOAST
    );
    assert_eq!(v.chat.sends().len(), 2);
}

#[test]
fn a_tap_without_permission_opens_the_page() {
    let v = visit();
    v.chat.grant("u-1");
    v.ok(1);
    let id = v.propose("prop-0001");
    let answer = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0"}));
    assert_eq!(
        answer["action"]["open_server_link"]["data"],
        json!({"v": "answer", "p": id, "s": "0"}),
    );
    assert_eq!(toast(&answer), OPEN_PAGE_TOAST);
    assert_eq!(v.status(), "open", "nothing changed");
    assert_eq!(v.chat.sends().len(), 1);
    let items = v.chat.sql().exec("SELECT COUNT(*) FROM outbox", &[]).expect("count");
    assert_eq!(items[0][0].as_i64(), Some(1), "the tap left nothing in the outbox");

    v.chat.grant("u-2");
    v.ok(1);
    let answer = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0"}));
    assert!(toast(&answer).starts_with("✅"), "{answer}");
    assert_eq!(v.status(), "confirmed");
}

#[test]
fn the_same_tap_twice_sends_once() {
    let (v, id) = granted_proposal();
    // The first tap's send fails for good: the proposal stays open, and the second tap of the
    // same button finds the first instead of sending again.
    v.chat.http().route(SEND, 412, r#"{"code":9}"#);
    let tap = json!({"svc": "visit", "v": "pick", "p": id, "s": "0"});
    let first = v.tap(tap.clone());
    assert!(toast(&first).contains("ممکن نشد"), "{first}");
    assert_eq!(
        v.status(),
        "open",
        "a message that never reached the chat changes nothing"
    );
    v.ok(1);
    let second = v.tap(tap);
    assert_eq!(second, first);
    assert_eq!(v.chat.sends().len(), 2);

    // While an answer is on its way, a second tap sends nothing either.
    let (v, id) = granted_proposal();
    for _ in 0..3 {
        v.chat.http().route(SEND, 500, "{}");
    }
    let tap = json!({"svc": "visit", "v": "pick", "p": id, "s": "0"});
    assert!(toast(&v.tap(tap.clone())).contains("صف"), "queued");
    v.ok(1);
    assert!(
        toast(&v.tap(tap)).contains("صف"),
        "the same tap again: the same, queued answer"
    );
    assert_eq!(v.chat.sends().len(), 4);
    v.chat.p.advance_secs(31);
    assert_eq!(v.chat.p.fire_alarms(), 1);
    assert_eq!(v.status(), "confirmed");
    assert_eq!(v.chat.sends().len(), 5);
}

#[test]
fn stale_and_unknown_buttons_toast_and_send_nothing() {
    let (v, id) = granted_proposal();
    v.ok(1);
    assert_eq!(
        toast(&v.tap(json!({"svc": "visit", "v": "pick", "p": "old-proposal", "s": "0"}))),
        STALE_TOAST
    );
    assert_eq!(
        toast(&v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "7"}))),
        STALE_TOAST,
        "no such slot"
    );
    assert_eq!(
        toast(&v.tap(json!({"svc": "visit", "v": "explode", "p": id}))),
        STALE_TOAST
    );
    assert_eq!(toast(&v.tap(json!({}))), STALE_TOAST);
    let unknown = v.tap(json!({"svc": "nothing", "v": "pick", "p": id, "s": "0"}));
    assert!(toast(&unknown).contains("دیگر کار نمی‌کند"), "{unknown}");
    let anonymous = v
        .chat
        .tap("SUPPLY", None, json!({"svc": "visit", "v": "pick", "p": id, "s": "0"}));
    assert_eq!(toast(&anonymous.json_body()), OPEN_PAGE_TOAST);
    let unauth = v.chat.request(
        Request::new(Method::Post, "/divar/dynamic-action")
            .with_header("content-type", "application/json")
            .with_body("{}"),
    );
    assert_eq!(unauth.status, 401);
    assert_eq!(v.chat.sends().len(), 1, "only the proposal");
    assert_eq!(v.status(), "open");
}

#[test]
fn button_data_without_svc_still_reaches_the_visit_service() {
    let v = granted_visit(2);
    let id = v.propose("prop-0001");
    // Drawn before services named themselves in their buttons.
    let answer = v.tap(json!({"v": "decline", "p": id}));
    assert_eq!(toast(&answer), "پاسخ شما ثبت شد.");
    assert_eq!(v.status(), "declined");
    assert_eq!(v.chat.sends().len(), 2);
}

#[test]
fn a_step_takes_effect_only_once_its_message_is_sent() {
    let v = visit();
    let body = v.propose_body("prop-0001");
    let first = v.act(&v.buyer, "propose", body.clone());
    assert_eq!(first.json_body()["delivery"], "needs_consent");
    assert!(first.json_body().get("proposal").is_none());
    let seen = v.view(&v.buyer);
    assert!(seen["proposal"].is_null(), "not announced, so not in force");
    assert_eq!(
        (seen["can_propose"].as_bool(), seen["in_flight"].as_bool()),
        (Some(true), Some(false))
    );
    v.chat.grant("u-1");
    v.ok(1);
    let second = v.act(&v.buyer, "propose", body);
    assert_eq!(second.json_body()["delivery"], "sent");
    let id = second.json_body()["proposal"]["id"].as_str().expect("id").to_string();
    assert_eq!(v.status(), "open");
    assert_eq!(v.chat.sends().len(), 1);

    // The seller's answer hits a blocked recipient: the chat never shows it, so it never counts.
    v.chat.grant("u-2");
    v.chat.http().route(SEND, 412, r#"{"code":9}"#);
    let blocked = v.answer(&v.seller, &id, 0, "answer-0001");
    assert_eq!(
        (
            blocked.json_body()["delivery"].as_str(),
            blocked.json_body()["reason"].as_str()
        ),
        (Some("failed"), Some("recipient_restricted"))
    );
    assert!(blocked.json_body().get("proposal").is_none());
    let seen = v.view(&v.seller);
    assert_eq!(seen["proposal"]["status"]["kind"], "open");
    assert_eq!(
        (seen["can_answer"].as_bool(), seen["in_flight"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(v.calendar(&format!("/ics/{}-{id}.ics", v.chat.key())).status, 404);

    // Permission withdrawn: the answer waits for consent and the state waits with it.
    v.chat.http().route(SEND, 403, r#"{"code":7}"#);
    let revoked = v.answer(&v.seller, &id, 0, "answer-0002");
    assert_eq!(revoked.json_body()["delivery"], "needs_consent");
    assert_eq!(v.status(), "open");
    v.chat.grant("u-2");
    v.ok(1);
    let resumed = v.answer(&v.seller, &id, 0, "answer-0002");
    assert_eq!(resumed.json_body()["delivery"], "sent");
    assert_eq!(v.status(), "confirmed");
    assert_eq!(v.chat.sends().len(), 4);
}

#[test]
fn bad_proposals_are_named_4xx() {
    let v = visit();
    v.chat.grant("u-1");
    let r = v.act(
        &v.buyer,
        "propose",
        json!({"slots": [1], "idempotency_key": "prop-0001"}),
    );
    assert_eq!(
        (r.status, r.json_body()["error"].as_str()),
        (422, Some("invalid_field"))
    );
    assert!(r.json_body()["message"].as_str().unwrap_or("").contains("slots"));
    let r = v.act(
        &v.buyer,
        "propose",
        json!({"slots": "soon", "idempotency_key": "prop-0001"}),
    );
    assert_eq!(r.status, 400);
    let r = v.act(&v.buyer, "propose", json!({"slots": v.slots()}));
    assert_eq!(r.status, 422);
    assert!(r.json_body()["message"]
        .as_str()
        .unwrap_or("")
        .contains("idempotency_key"));
    let r = v.act(
        &v.buyer,
        "answer",
        json!({"proposal_id": "x", "idempotency_key": "answer-0001"}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        v.chat
            .post("forged", "/api/visit/propose", v.propose_body("prop-0001"))
            .status,
        401
    );
    assert!(v.chat.http().sent().is_empty());
}

#[test]
fn after_a_tap_that_needed_permission_another_slot_can_be_tapped() {
    let v = visit();
    v.chat.grant("u-1");
    v.ok(1);
    let id = v.propose("prop-0001");
    let first = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0"}));
    assert!(first["action"]["open_server_link"].is_object(), "{first}");
    v.chat.grant("u-2");
    v.ok(1);
    let other = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "1"}));
    assert!(toast(&other).contains("ثبت شد"), "{other}");
    assert_eq!(v.status(), "confirmed");
}

#[test]
fn a_button_drawn_from_an_older_state_is_stale_whatever_it_says() {
    let (v, id) = granted_proposal();
    let sends = v.chat.sends().len();
    // The proposal's buttons were drawn from version 1; version 0 never had them.
    let forged = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0", "sv": "0"}));
    assert_eq!(toast(&forged), STALE_TOAST);
    let garbled = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0", "sv": "x"}));
    assert_eq!(toast(&garbled), STALE_TOAST);
    assert_eq!(v.chat.sends().len(), sends, "nothing sent");
    assert_eq!(v.status(), "open");
    v.ok(1);
    let real = v.tap(json!({"svc": "visit", "v": "pick", "p": id, "s": "0", "sv": "1"}));
    assert!(toast(&real).contains("ثبت شد"), "{real}");
}

#[test]
fn both_sides_are_reminded_two_hours_before_and_only_of_the_visit_that_stands() {
    let v = granted_visit(4);
    let id = v.propose("prop-0001");
    assert_eq!(v.answer(&v.seller, &id, 0, "answer-0001").status, 200);
    let at = v.slots()[0];
    let alarm = v.chat.alarm().expect("the reminder keeps an alarm");
    assert_eq!(alarm, (at as u64 - 2 * 3600) * 1000, "two hours before the visit");
    // Nothing before its time.
    v.chat.p.advance_secs(86_400 - 2 * 3600 - 60);
    v.chat.p.fire_alarms();
    assert_eq!(v.chat.sends().len(), 2);
    v.chat.p.advance_secs(61);
    v.chat.p.fire_alarms();
    let sent = v.chat.sent_bodies();
    assert_eq!(sent.len(), 3, "one reminder");
    assert!(
        sent[2]["message"].as_str().unwrap_or("").starts_with("⏰ یادآوری"),
        "{}",
        sent[2]
    );
    assert_eq!(
        v.chat.sent_with()[2],
        "Bearer ory_at_u-2",
        "on behalf of the one who agreed"
    );
    v.chat.p.advance_secs(3600);
    v.chat.p.fire_alarms();
    assert_eq!(v.chat.sends().len(), 3, "and only once");
}

#[test]
fn a_visit_called_off_is_not_reminded() {
    let v = granted_visit(4);
    let id = v.propose("prop-0001");
    assert_eq!(v.answer(&v.seller, &id, 0, "answer-0001").status, 200);
    // The buyer, who did not pick the time, calls it off (either side may, once agreed).
    let off = v.act(
        &v.buyer,
        "cancel",
        json!({"proposal_id": id, "idempotency_key": "cancel-0001"}),
    );
    assert_eq!(off.json_body()["delivery"], "sent", "{:?}", off.json_body());
    v.chat.p.advance_secs(2 * 86_400);
    v.chat.p.fire_alarms();
    let texts: Vec<String> = v
        .chat
        .sent_bodies()
        .iter()
        .map(|b| b["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[2].contains("خریدار قرار بازدید") && texts[2].contains("لغو کرد"),
        "{texts:?}"
    );
    assert!(texts.iter().all(|t| !t.contains("یادآوری")), "{texts:?}");
}

#[test]
fn the_day_list_says_today_and_tomorrow_and_the_page_learns_the_earliest_time() {
    let v = visit();
    let view = v.view(&v.buyer);
    let days = view["days"].as_array().expect("days");
    assert!(
        days[0]["label"].as_str().unwrap_or("").starts_with("امروز، "),
        "{}",
        days[0]
    );
    assert!(
        days[1]["label"].as_str().unwrap_or("").starts_with("فردا، "),
        "{}",
        days[1]
    );
    assert!(!days[2]["label"].as_str().unwrap_or("").contains("،"), "{}", days[2]);
    assert_eq!(view["earliest"], view["now"].as_i64().expect("now") + 3600);
    // A time within the hour is refused, naming the field.
    let now = (v.chat.p.now_ms() / 1000) as i64;
    let r = v.act(
        &v.buyer,
        "propose",
        json!({"slots": [now + 1800], "idempotency_key": "soon-0001"}),
    );
    assert_eq!(
        (r.status, r.json_body()["message"].as_str().map(|m| m.contains("slots"))),
        (422, Some(true))
    );
}
