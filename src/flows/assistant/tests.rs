//! The seller's assistant end to end over the worker's routes, with Divar faked: consent and
//! subscription, replies to buyers once per delivery, silence once the seller writes, the
//! list of the post's conversations, re-subscription after every token refresh, revocation.

use serde_json::{json, Value};

use crate::delivery::subscriptions::{RENEW_AHEAD_MS, RETRY_MS};
use crate::delivery::PersonKey;
use crate::platform::{ObjectClass, Platform};
use crate::testkit::{Chat, IDENTIFICATION_KEY, SEND, TOKEN};
use crate::web::{find_header, Method, Request, Response};

const POST: &str = "wZC44q5D";
const SUBSCRIBE: &str = "/v1/open-platform/events/subscriptions";
const SELLER: &str = "s-1";
const USERS: &str = "/v1/open-platform/users";

fn launch(chat: &Chat, side: &str, user: &str, conversation: &str) -> String {
    let body = json!({"source": "CHAT", "post_token": POST, "conversation_id": conversation,
                      "user_side": side, "user_id": user});
    let r = chat.request(
        Request::new(Method::Post, "/divar/session-init")
            .with_header("authorization", IDENTIFICATION_KEY)
            .with_header("content-type", "application/json")
            .with_body(body.to_string()),
    );
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    chat.p.run_deferred();
    let url = r.json_body()["url"].as_str().expect("url").to_string();
    url.split_once("#h=").expect("handle").1.to_string()
}

fn settings(enabled: bool) -> Value {
    json!({"enabled": enabled, "greeting": "سلام، خوش آمدید.",
           "answers": {"price": "قیمت مقطوع: ۱۲ میلیون.", "available": "بله، موجود است.", "where": "", "when": ""},
           "hours": null, "away": ""})
}

fn save(chat: &Chat, handle: &str, settings: Value) -> Response {
    chat.post(
        handle,
        "/api/assistant/settings",
        json!({"idempotency_key": "k-0123456789abcdef", "settings": settings}),
    )
}

/// The seller consents on Divar's page; Divar issues `access` for an hour.
fn consent(chat: &Chat, handle: &str, access: &str) -> Response {
    let r = chat.post(handle, "/api/oauth/start", json!({"purpose": "assistant"}));
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    let url = r.json_body()["authorize_url"].as_str().expect("url").to_string();
    let query = url.split_once('?').expect("query").1.to_string();
    let state = Request::new(Method::Get, &format!("/x?{query}"))
        .query_param("state")
        .expect("state");
    chat.http().route(
        TOKEN,
        200,
        &json!({"access_token": access, "refresh_token": format!("rt-{access}"), "expires_in": 3600}).to_string(),
    );
    chat.http().route(USERS, 200, &json!({ "user_id": SELLER }).to_string());
    chat.http().route(SUBSCRIBE, 200, "{}");
    chat.p.advance_secs(3);
    chat.request(Request::new(
        Method::Get,
        &format!("/oauth/callback?state={state}&code=c-{access}"),
    ))
}

fn event(chat: &Chat, id: &str, conversation: &str, sender: (&str, &str), text: &str, metadata: Value) -> Response {
    let at_us = chat.p.now_ms() * 1000;
    let body = json!({"type": "NEW_MESSAGE", "metadata": metadata, "new_message": {
        "id": id, "conversation": {"id": conversation, "type": "POST", "post_token": POST},
        "sender": {"side": sender.0, "type": sender.1}, "type": "TEXT", "sent_at": at_us, "text": text}});
    let r = chat.request(
        Request::new(Method::Post, "/divar/events")
            .with_header("authorization", IDENTIFICATION_KEY)
            .with_header("content-type", "application/json")
            .with_body(body.to_string()),
    );
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    chat.p.advance_secs(1);
    r
}

fn ours() -> Value {
    json!({"seller": PersonKey::of_user(SELLER).as_str(), "post": POST})
}

fn buyer(chat: &Chat, id: &str, conversation: &str, text: &str) -> Response {
    event(chat, id, conversation, ("BUYER", "HUMAN"), text, ours())
}

/// Sends to Divar's conversation endpoint: (conversation, bearer, text).
fn sends(chat: &Chat) -> Vec<(String, String, String)> {
    chat.http()
        .sent_to(SEND)
        .iter()
        .map(|r| {
            let conversation = r
                .url
                .split(SEND)
                .nth(1)
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("")
                .to_string();
            let body: Value = serde_json::from_str(r.body.as_deref().unwrap_or("{}")).expect("json");
            let bearer = find_header(&r.headers, "authorization").unwrap_or("").to_string();
            (
                conversation,
                bearer,
                body["message"].as_str().unwrap_or("").replace('\u{200F}', ""),
            )
        })
        .collect()
}

fn subscriptions(chat: &Chat) -> Vec<(String, Value)> {
    chat.http()
        .sent_to(SUBSCRIBE)
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(r.body.as_deref().unwrap_or("{}")).expect("json");
            (find_header(&r.headers, "authorization").unwrap_or("").to_string(), body)
        })
        .collect()
}

/// Divar answers every send.
fn divar_ok(chat: &Chat, n: usize) {
    for _ in 0..n {
        chat.http().route(SEND, 200, r#"{"status":200,"message":"success"}"#);
    }
}

/// A seller with the assistant on and subscribed, as after the page's walk.
fn seller_on(chat: &Chat) -> String {
    let handle = launch(chat, "SUPPLY", SELLER, "conv-1");
    assert_eq!(
        save(chat, &handle, settings(true)).json_body()["status"],
        "needs_consent"
    );
    let back = consent(chat, &handle, "at-1");
    assert_eq!(back.status, 303);
    handle
}

#[test]
fn only_the_seller_of_the_post_gets_an_assistant() {
    let chat = Chat::default();
    let buyer = launch(&chat, "DEMAND", "b-1", "conv-1");
    let view = chat.get(&buyer, "/api/assistant");
    assert_eq!(
        (view.status, view.json_body()),
        (200, json!({"available": false, "why": "not_seller"}))
    );
    assert_eq!(save(&chat, &buyer, settings(true)).status, 403);
    assert_eq!(
        chat.post(&buyer, "/api/oauth/start", json!({"purpose": "assistant"}))
            .status,
        403
    );
    let seller = launch(&chat, "SUPPLY", SELLER, "conv-1");
    let view = chat.get(&seller, "/api/assistant").json_body();
    assert_eq!(
        (view["available"].clone(), view["status"].clone()),
        (json!(true), json!("off"))
    );
    assert_eq!(view["conversations"], json!([]));
    assert_eq!(chat.get("forged", "/api/assistant").status, 401);
}

#[test]
fn settings_are_checked_field_by_field() {
    let chat = Chat::default();
    let seller = launch(&chat, "SUPPLY", SELLER, "conv-1");
    let mut long = settings(true);
    long["answers"]["price"] = json!("x".repeat(501));
    let r = save(&chat, &seller, long);
    assert_eq!(r.status, 422);
    assert!(r.json_body()["message"]
        .as_str()
        .unwrap_or("")
        .contains("settings.answers.price"));
    let mut hours = settings(true);
    hours["hours"] = json!({"from": "9", "to": "17:00"});
    assert!(save(&chat, &seller, hours).json_body()["message"]
        .as_str()
        .unwrap_or("")
        .contains("settings.hours.from"));
    let bad_purpose = chat.post(&seller, "/api/oauth/start", json!({"purpose": "everything"}));
    assert_eq!(bad_purpose.status, 422);
    assert!(chat.http().sent().is_empty(), "nothing reached Divar");
}

#[test]
fn consent_asks_for_the_posts_scopes_and_subscribes_with_metadata_back_to_the_seller() {
    let chat = Chat::default();
    let seller = launch(&chat, "SUPPLY", SELLER, "conv-1");
    save(&chat, &seller, settings(true));
    let start = chat.post(&seller, "/api/oauth/start", json!({"purpose": "assistant"}));
    let url = start.json_body()["authorize_url"].as_str().expect("url").to_string();
    let scope = Request::new(Method::Get, &format!("/x?{}", url.split_once('?').expect("q").1))
        .query_param("scope")
        .expect("scope");
    assert_eq!(
        scope,
        "CHAT_POST_CONVERSATIONS_READ.wZC44q5D CHAT_POST_CONVERSATIONS_MESSAGE_SEND.wZC44q5D offline_access NOTIFICATION_ACCESS_REVOCATION USER_ID"
    );
    let back = consent(&chat, &seller, "at-1");
    let location = back.header("location").expect("location");
    assert!(location.ends_with("&oauth=granted&for=assistant"), "{location}");
    let subs = subscriptions(&chat);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].0, "Bearer at-1");
    assert_eq!(
        subs[0].1,
        json!({"event_type": "NEW_MESSAGE_ON_POST", "event_resource_id": POST, "metadata": ours()})
    );
    assert_eq!(chat.get(&seller, "/api/assistant").json_body()["status"], "on");
    assert!(
        chat.p.logs.borrow().iter().all(|l| !l.contains("at-1")),
        "no token in the logs"
    );
}

#[test]
fn buyers_get_one_reply_per_message_until_the_seller_writes() {
    let chat = Chat::default();
    let seller = seller_on(&chat);
    divar_ok(&chat, 4);
    for _ in 0..3 {
        buyer(&chat, "m-1", "conv-1", "سلام، قیمت آخرش چنده؟");
    }
    chat.p.fire_alarms();
    let sent = sends(&chat);
    assert_eq!(sent.len(), 1, "three deliveries of one message: one reply");
    assert_eq!(sent[0].0, "conv-1");
    assert_eq!(
        sent[0].1, "Bearer at-1",
        "on the seller's behalf, with the post's grant"
    );
    assert!(
        sent[0].2.contains("خوش آمدید") && sent[0].2.contains("۱۲ میلیون"),
        "{}",
        sent[0].2
    );

    // The reply comes back as an event from the app: never answered.
    let own = event(&chat, "m-2", "conv-1", ("SELLER", "BOT"), &sent[0].2, ours());
    assert_eq!(own.json_body()["outcome"], "own");
    buyer(&chat, "m-3", "conv-1", "رنگش چیه؟");
    chat.p.fire_alarms();
    assert_eq!(sends(&chat).len(), 1, "nothing the assistant can answer: silence");

    // A second buyer on the same post.
    buyer(&chat, "m-4", "conv-2", "هنوز موجوده؟");
    chat.p.fire_alarms();
    let sent = sends(&chat);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0, "conv-2");
    assert!(sent[1].2.contains("خوش آمدید") && sent[1].2.contains("موجود است"));

    // The seller writes in the first conversation: the assistant keeps quiet there for good.
    event(&chat, "m-5", "conv-1", ("SELLER", "HUMAN"), "سلام، بله در خدمتم", ours());
    buyer(&chat, "m-6", "conv-1", "هنوز موجوده؟");
    buyer(&chat, "m-7", "conv-2", "قیمت؟");
    chat.p.fire_alarms();
    let sent = sends(&chat);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[2].0, "conv-2", "the other buyer still gets answers");

    let view = chat.get(&seller, "/api/assistant").json_body();
    let list = view["conversations"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["n"], 2, "newest activity first");
    assert_eq!(
        (list[0]["last_text"].clone(), list[0]["last_from"].clone()),
        (json!("قیمت؟"), json!("buyer"))
    );
    assert_eq!(
        (list[0]["replies"].clone(), list[0]["seller_joined"].clone()),
        (json!(2), json!(false))
    );
    assert_eq!(
        (list[1]["n"].clone(), list[1]["seller_joined"].clone()),
        (json!(1), json!(true))
    );
    assert_eq!(list[1]["last_text"], "هنوز موجوده؟");
    assert!(
        list.iter().all(|c| c.get("key").is_none()),
        "no object names on the page"
    );
}

#[test]
fn events_that_are_not_a_sellers_subscription_are_ignored() {
    let chat = Chat::default();
    seller_on(&chat);
    for metadata in [
        json!(null),
        json!({"seller": "nobody", "post": POST}),
        json!({"seller": PersonKey::of_user(SELLER).as_str(), "post": "other post!"}),
    ] {
        let r = event(&chat, "m-x", "conv-1", ("BUYER", "HUMAN"), "قیمت؟", metadata);
        assert_eq!(r.json_body()["ignored"], "not_our_subscription");
    }
    // Another seller's key: their object has no assistant, so nothing is said.
    let stranger = json!({"seller": PersonKey::of_user("s-2").as_str(), "post": POST});
    event(&chat, "m-y", "conv-1", ("BUYER", "HUMAN"), "قیمت؟", stranger);
    chat.p.fire_alarms();
    assert!(sends(&chat).is_empty());
}

#[test]
fn a_turned_off_assistant_says_nothing() {
    let chat = Chat::default();
    let seller = seller_on(&chat);
    assert_eq!(save(&chat, &seller, settings(false)).json_body()["status"], "off");
    buyer(&chat, "m-1", "conv-1", "قیمت؟");
    chat.p.fire_alarms();
    assert!(sends(&chat).is_empty());
}

#[test]
fn the_subscription_is_renewed_before_the_token_dies_and_after_any_refresh() {
    let chat = Chat::default();
    seller_on(&chat);
    let person = PersonKey::of_user(SELLER);
    let wake = chat
        .p
        .objects
        .alarm_of(ObjectClass::Person, person.as_str())
        .expect("an alarm");
    let expires = chat.p.now_ms() + 3600 * 1000 - 3000;
    assert!(
        wake <= expires - RENEW_AHEAD_MS && wake + 120_000 > expires - RENEW_AHEAD_MS,
        "wake {wake} expires {expires}"
    );

    // The alarm: refresh ahead of expiry, then a new subscription with the new token.
    chat.http().route(
        TOKEN,
        200,
        r#"{"access_token":"at-2","refresh_token":"rt-2","expires_in":3600}"#,
    );
    chat.http().route(SUBSCRIBE, 200, "");
    chat.p.advance_secs((wake - chat.p.now_ms()) / 1000 + 1);
    chat.p.fire_alarms();
    let refreshes = chat.http().sent_to(TOKEN);
    assert!(refreshes
        .last()
        .and_then(|r| r.body.clone())
        .unwrap_or_default()
        .contains("grant_type=refresh_token"));
    let subs = subscriptions(&chat);
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].0, "Bearer at-2");

    // Divar drops the token early; a reply's send refreshes it, and the subscription follows.
    chat.http().route(SEND, 401, r#"{"code":16,"message":"token expired"}"#);
    divar_ok(&chat, 1);
    chat.http().route(
        TOKEN,
        200,
        r#"{"access_token":"at-3","refresh_token":"rt-3","expires_in":3600}"#,
    );
    chat.http().route(SUBSCRIBE, 200, "{}");
    buyer(&chat, "m-1", "conv-1", "قیمت؟");
    chat.p.fire_alarms();
    chat.p.fire_alarms();
    let subs = subscriptions(&chat);
    assert_eq!(subs.last().map(|s| s.0.as_str()), Some("Bearer at-3"), "{subs:?}");
    assert_eq!(subs.len(), 3);
}

#[test]
fn a_failed_subscription_shows_and_is_retried() {
    let chat = Chat::default();
    let seller = launch(&chat, "SUPPLY", SELLER, "conv-1");
    save(&chat, &seller, settings(true));
    let r = chat.post(&seller, "/api/oauth/start", json!({"purpose": "assistant"}));
    let url = r.json_body()["authorize_url"].as_str().expect("url").to_string();
    let state = Request::new(Method::Get, &format!("/x?{}", url.split_once('?').expect("q").1))
        .query_param("state")
        .expect("state");
    chat.http().route(
        TOKEN,
        200,
        r#"{"access_token":"at-1","refresh_token":"rt-1","expires_in":3600}"#,
    );
    chat.http().route(USERS, 200, r#"{"user_id":"s-1"}"#);
    for _ in 0..3 {
        chat.http().route(SUBSCRIBE, 503, "");
    }
    chat.p.advance_secs(3);
    let back = chat.request(Request::new(
        Method::Get,
        &format!("/oauth/callback?state={state}&code=c"),
    ));
    assert!(back
        .header("location")
        .expect("loc")
        .ends_with("oauth=granted&for=assistant"));
    let view = chat.get(&seller, "/api/assistant").json_body();
    assert_eq!(
        (view["status"].clone(), view["problem"].clone()),
        (json!("failing"), json!("divar_unavailable"))
    );
    chat.http().route(SUBSCRIBE, 200, "{}");
    chat.p.advance_secs(RETRY_MS / 1000 + 1);
    chat.p.fire_alarms();
    assert_eq!(chat.get(&seller, "/api/assistant").json_body()["status"], "on");
}

#[test]
fn revocation_removes_the_assistant_and_its_grant_at_once() {
    let chat = Chat::default();
    seller_on(&chat);
    divar_ok(&chat, 2);
    buyer(&chat, "m-1", "conv-1", "قیمت؟");
    chat.p.fire_alarms();
    assert_eq!(sends(&chat).len(), 1);
    let revoke = json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": SELLER}});
    let r = chat.request(
        Request::new(Method::Post, "/divar/events")
            .with_header("authorization", IDENTIFICATION_KEY)
            .with_header("content-type", "application/json")
            .with_body(revoke.to_string()),
    );
    assert_eq!(r.status, 200);
    buyer(&chat, "m-2", "conv-2", "قیمت؟");
    chat.p.advance_secs(24 * 3600);
    chat.p.fire_alarms();
    assert_eq!(sends(&chat).len(), 1, "nothing more is said for them");
    assert_eq!(subscriptions(&chat).len(), 1, "and nothing renewed");
    // A new launch (the old page's handle has long expired): nothing of theirs is left.
    let seller = launch(&chat, "SUPPLY", SELLER, "conv-1");
    let view = chat.get(&seller, "/api/assistant").json_body();
    assert_eq!(
        (view["status"].clone(), view["conversations"].clone()),
        (json!("off"), json!([]))
    );
    assert_eq!(
        chat.p
            .objects
            .alarm_of(ObjectClass::Person, PersonKey::of_user(SELLER).as_str()),
        None
    );
}
