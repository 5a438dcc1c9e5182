//! Fault injection on event delivery: duplicate, concurrent, reorder and delay, each POST
//! recorded in `/_sim/deliveries` with the envelope's id and the fault that shaped it.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A user with a chatbot conversation; every message they write is one NEW_CHATBOT_MESSAGE.
async fn writer(env: &Env) -> String {
    env.chat().await["buyer_user_id"].as_str().unwrap().to_string()
}

async fn write(env: &Env, user: &str, text: &str) -> Value {
    let (s, v) = env
        .ctl("POST", "/_sim/bot/messages", json!({"user_id": user, "text": text}))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn fault(env: &Env, spec: Value) -> Value {
    let (s, v) = env.ctl("POST", "/_sim/event-faults", spec).await;
    assert_eq!(s, 200, "{v}");
    v["fault"].clone()
}

fn texts(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| e["new_chatbot_message"]["text"].as_str().unwrap().to_string())
        .collect()
}

async fn event_deliveries(env: &Env) -> Vec<Value> {
    let (_, d) = env.ctl("GET", "/_sim/deliveries?kind=event", json!({})).await;
    d["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn duplicate_sends_the_same_envelope_k_times_for_the_next_n_events() {
    let env = Env::new().await;
    let u = writer(&env).await;
    let f = fault(&env, json!({"mode": "duplicate", "copies": 3, "count": 1})).await;
    assert_eq!(f["remaining"], 1);
    let r = write(&env, &u, "یک").await;
    let answers = r["deliveries"].as_array().unwrap();
    assert_eq!(answers.len(), 3);
    write(&env, &u, "دو").await;

    let evs = env.app.events();
    assert_eq!(texts(&evs), ["یک", "یک", "یک", "دو"]);
    assert_eq!(evs[0], evs[1], "byte-for-byte the same envelope");
    assert_eq!(evs[1], evs[2]);
    let d = event_deliveries(&env).await;
    assert_eq!(d.len(), 4);
    let rule = f["id"].as_u64().unwrap();
    for (i, x) in d[..3].iter().enumerate() {
        assert_eq!(x["event_id"], d[0]["event_id"]);
        assert_eq!(x["event_type"], "NEW_CHATBOT_MESSAGE");
        assert_eq!(x["outcome"], "ok");
        assert_eq!(x["fault"], format!("rule {rule}: duplicate {}/3", i + 1).as_str());
        assert_eq!(answers[i]["delivery_id"], x["id"]);
    }
    assert_ne!(d[3]["event_id"], d[0]["event_id"]);
    assert!(d[3]["fault"].is_null());
    let (_, f) = env.ctl("GET", "/_sim/event-faults", json!({})).await;
    assert_eq!(f["faults"].as_array().unwrap().len(), 0, "the rule is used up");
}

#[tokio::test]
async fn concurrent_copies_arrive_together_and_duplicates_one_after_another() {
    let env = Env::new().await;
    let u = writer(&env).await;
    env.app.set_events_delay(300);
    fault(&env, json!({"mode": "concurrent", "copies": 3, "count": 1})).await;
    let t = Instant::now();
    let r = write(&env, &u, "هم‌زمان").await;
    let took = t.elapsed();
    assert_eq!(r["deliveries"].as_array().unwrap().len(), 3);
    assert!(
        took < Duration::from_millis(800),
        "three 300 ms answers overlapped: {took:?}"
    );
    let seen = env.app.seen("/divar/events");
    assert_eq!(seen.len(), 3);
    let spread = seen[2].at.duration_since(seen[0].at);
    assert!(
        spread < Duration::from_millis(200),
        "all three arrived at once: {spread:?}"
    );
    let mut faults: Vec<String> = event_deliveries(&env)
        .await
        .iter()
        .map(|d| d["fault"].as_str().unwrap().to_string())
        .collect();
    faults.sort();
    assert!(faults[0].ends_with("concurrent 1/3") && faults[2].ends_with("concurrent 3/3"));

    fault(&env, json!({"mode": "duplicate", "copies": 2, "count": 1})).await;
    let t = Instant::now();
    write(&env, &u, "پشت سر هم").await;
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "each copy waits for the last answer"
    );
}

#[tokio::test]
async fn reorder_holds_a_batch_and_sends_it_newest_first() {
    let env = Env::new().await;
    let u = writer(&env).await;
    let f = fault(&env, json!({"mode": "reorder", "count": 3})).await;
    let rule = f["id"].as_u64().unwrap();
    let r1 = write(&env, &u, "1").await;
    assert_eq!(
        r1["deliveries"],
        json!([{"delivery_id": null, "status": null, "body": null, "error": null, "latency_ms": 0,
                "event_id": 1, "fault": format!("rule {rule}: reorder held 1/3"), "held": true}])
    );
    write(&env, &u, "2").await;
    assert!(env.app.events().is_empty(), "held, not sent");
    let (_, f) = env.ctl("GET", "/_sim/event-faults", json!({})).await;
    assert_eq!(f["held"].as_array().unwrap().len(), 2);
    assert_eq!(f["held"][1]["body"]["new_chatbot_message"]["text"], "2");

    let r3 = write(&env, &u, "3").await;
    assert_eq!(
        r3["deliveries"].as_array().unwrap().len(),
        3,
        "the third completes the batch"
    );
    assert_eq!(texts(&env.app.events()), ["3", "2", "1"]);
    let d = event_deliveries(&env).await;
    let faults: Vec<&str> = d.iter().map(|x| x["fault"].as_str().unwrap()).collect();
    assert_eq!(
        faults,
        [
            format!("rule {rule}: reorder sent 1/3 (arrived 3/3)"),
            format!("rule {rule}: reorder sent 2/3 (arrived 2/3)"),
            format!("rule {rule}: reorder sent 3/3 (arrived 1/3)"),
        ]
    );
    let ids: Vec<u64> = d.iter().map(|x| x["event_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [3, 2, 1]);

    // After the batch everything flows in order again.
    write(&env, &u, "4").await;
    assert_eq!(texts(&env.app.events())[3], "4");
}

#[tokio::test]
async fn held_events_can_be_released_early_and_clearing_never_loses_them() {
    let env = Env::new().await;
    let u = writer(&env).await;
    fault(&env, json!({"mode": "reorder", "count": 5})).await;
    write(&env, &u, "a").await;
    write(&env, &u, "b").await;
    let (s, r) = env.ctl("POST", "/_sim/event-faults/release", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(r["released"].as_array().unwrap().len(), 2);
    assert_eq!(texts(&env.app.events()), ["b", "a"]);

    // The rule still holds the next three; clearing sends them rather than dropping them.
    write(&env, &u, "c").await;
    let (_, r) = env.ctl("DELETE", "/_sim/event-faults", json!({})).await;
    assert_eq!(r["cleared"], 1);
    assert_eq!(r["released"].as_array().unwrap().len(), 1);
    write(&env, &u, "d").await;
    assert_eq!(texts(&env.app.events()), ["b", "a", "c", "d"]);
}

#[tokio::test]
async fn delay_and_event_type_filters() {
    let env = Env::new().await;
    let c = env.chat().await;
    let seller = c["seller_user_id"].as_str().unwrap();
    let post = c["post_token"].as_str().unwrap();
    let cid = c["conversation_id"].as_str().unwrap();
    let tok = env
        .token(seller, &[&format!("CHAT_POST_CONVERSATIONS_READ.{post}")])
        .await;
    let sub = json!({"event_type": "NEW_MESSAGE_ON_POST", "event_resource_id": post});
    assert_eq!(
        env.api_post(
            "/v1/open-platform/events/subscriptions",
            Some(API_KEY),
            Some(&tok),
            &sub
        )
        .await
        .0,
        200
    );
    fault(
        &env,
        json!({"mode": "delay", "delay_ms": 300, "event_type": "NEW_MESSAGE"}),
    )
    .await;

    // A chatbot message is not a NEW_MESSAGE: untouched.
    let t = Instant::now();
    write(&env, seller, "bot").await;
    assert!(t.elapsed() < Duration::from_millis(300));
    // Every NEW_MESSAGE is late until the rule is cleared (no count = until cleared).
    for text in ["x", "y"] {
        let t = Instant::now();
        let (_, r) = env
            .ctl(
                "POST",
                &format!("/_sim/chats/{cid}/messages"),
                json!({"side": "buyer", "text": text}),
            )
            .await;
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(r["deliveries"][0]["fault"].as_str().unwrap().ends_with("delay 300ms"));
    }
    let (_, d) = env
        .ctl("GET", "/_sim/deliveries?event_type=NEW_MESSAGE", json!({}))
        .await;
    assert_eq!(d["deliveries"].as_array().unwrap().len(), 2);
    let (_, f) = env.ctl("GET", "/_sim/event-faults", json!({})).await;
    assert_eq!(f["faults"][0]["hits"], 2);
    assert!(f["faults"][0]["remaining"].is_null());
}

#[tokio::test]
async fn the_apps_failures_are_recorded_per_delivery() {
    let env = Env::with_config(|c| c.webhook_timeout_ms = 300).await;
    let u = writer(&env).await;
    env.app.set_events_delay(600); // past the webhook timeout
    fault(&env, json!({"mode": "duplicate", "count": 1})).await;
    let r = write(&env, &u, "slow").await;
    for a in r["deliveries"].as_array().unwrap() {
        assert!(a["status"].is_null());
        assert!(a["error"].as_str().unwrap().starts_with("timeout"));
    }
    let d = event_deliveries(&env).await;
    assert!(d.iter().all(|x| x["outcome"] == "transport_error"));
    let (_, by_id) = env
        .ctl(
            "GET",
            &format!("/_sim/deliveries?event_id={}", d[0]["event_id"]),
            json!({}),
        )
        .await;
    assert_eq!(by_id["deliveries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_rules_are_refused() {
    let env = Env::new().await;
    for spec in [
        json!({"mode": "shuffle"}),
        json!({"mode": "duplicate", "copies": 1}),
        json!({"mode": "duplicate", "event_type": "NEW_MESSAGE_ON_POST"}),
        json!({"mode": "reorder", "count": 1}),
        json!({"mode": "delay"}),
        json!({"mode": "delay", "delay_ms": 10, "copies": 2}),
        json!({"mode": "duplicate", "count": 0}),
        json!({"mode": "duplicate", "typo": 1}),
    ] {
        let (s, v) = env.ctl("POST", "/_sim/event-faults", spec.clone()).await;
        assert_eq!(s, 400, "{spec} -> {v}");
        assert!(v["error"].is_string());
    }
}
