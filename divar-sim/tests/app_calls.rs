mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn launch_v2_sends_session_init_with_identification_key() {
    let env = Env::new().await;
    let c = env.chat().await;
    let cid = c["conversation_id"].as_str().unwrap();
    let (s, v) = env.launch(cid, json!({"side": "seller", "version": 2})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], 200);
    assert_eq!(v["url"], format!("{}/s/abc123", env.app.base).as_str());

    let seen = env.app.seen("/divar/session-init");
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(h.get("authorization").unwrap(), IDENT_KEY);
    assert_eq!(h.get("api-version").unwrap(), "2");
    assert!(h
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        seen[0].body,
        json!({"source": "CHAT", "post_token": c["post_token"], "conversation_id": cid,
               "user_side": "SUPPLY", "extra_data": {}, "user_id": c["seller_user_id"]})
    );
}

#[tokio::test]
async fn launch_v1_sends_legacy_body() {
    let env = Env::new().await;
    let c = env.chat().await;
    let cid = c["conversation_id"].as_str().unwrap();
    let (s, v) = env
        .launch(cid, json!({"side": "buyer", "version": 1, "extra_data": {"k": "v"}}))
        .await;
    assert_eq!((s, v["status"].as_u64()), (200, Some(200)));
    let seen = env.app.seen("/divar/session-init");
    let b = &seen[0].body;
    assert!(seen[0].headers.get("api-version").is_none());
    assert_eq!(b["callback_url"], format!("{}/completion", env.base).as_str());
    assert_eq!(b["user_id"], c["buyer_user_id"]);
    assert_eq!(b["peer_id"], c["seller_user_id"]);
    assert_eq!(b["supplier"]["id"], c["seller_user_id"]);
    assert_eq!(b["demand"]["id"], c["buyer_user_id"]);
    assert_eq!(b["post_token"], c["post_token"]);
    assert_eq!(b["conversation_id"], cid);
    assert_eq!(b["extra_data"], json!({"k": "v"}));
}

async fn wait_for(env: &Env, path: &str, n: usize) -> Vec<common::Seen> {
    for _ in 0..100 {
        let seen = env.app.seen(path);
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.app.seen(path)
}

#[tokio::test]
async fn subscribed_app_receives_new_message_events() {
    let env = Env::new().await;
    let c = env.chat().await;
    let cid = c["conversation_id"].as_str().unwrap();
    let post = c["post_token"].as_str().unwrap();
    let seller = c["seller_user_id"].as_str().unwrap();

    // Nothing is delivered before a subscription.
    let (_, r) = env
        .ctl(
            "POST",
            &format!("/_sim/chats/{cid}/messages"),
            json!({"side": "buyer", "text": "قبل"}),
        )
        .await;
    assert_eq!(r["deliveries"].as_array().unwrap().len(), 0);

    let buyer_tok = env
        .token(
            c["buyer_user_id"].as_str().unwrap(),
            &[&format!("CHAT_POST_CONVERSATIONS_READ.{post}")],
        )
        .await;
    let sub = json!({"event_type": "NEW_MESSAGE_ON_POST", "event_resource_id": post, "metadata": {"app": "x"}});
    let (s, _, _) = env
        .api_post(
            "/v1/open-platform/events/subscriptions",
            Some(API_KEY),
            Some(&buyer_tok),
            &sub,
        )
        .await;
    assert_eq!(s, 403, "only the poster may subscribe");
    let tok = env.token(seller, &["USER_ID"]).await;
    let (s, _, _) = env
        .api_post(
            "/v1/open-platform/events/subscriptions",
            Some(API_KEY),
            Some(&tok),
            &sub,
        )
        .await;
    assert_eq!(s, 403, "scope missing");
    let tok = env
        .token(seller, &[&format!("CHAT_POST_CONVERSATIONS_READ.{post}")])
        .await;
    let (s, v, _) = env
        .api_post(
            "/v1/open-platform/events/subscriptions",
            Some(API_KEY),
            Some(&tok),
            &sub,
        )
        .await;
    assert_eq!((s, v), (200, json!({})));

    let (_, r) = env
        .ctl(
            "POST",
            &format!("/_sim/chats/{cid}/messages"),
            json!({"side": "buyer", "text": "سلام"}),
        )
        .await;
    assert_eq!(r["deliveries"][0]["status"], 200);
    let seen = env.app.seen("/divar/events");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers.get("authorization").unwrap(), IDENT_KEY);
    let ev = &seen[0].body;
    assert_eq!(ev["type"], "NEW_MESSAGE");
    assert_eq!(ev["metadata"], json!({"app": "x"}));
    let m = &ev["new_message"];
    assert_eq!(m["text"], "سلام");
    assert_eq!(
        m["conversation"],
        json!({"id": cid, "type": "POST", "post_token": post})
    );
    assert_eq!(m["sender"], json!({"side": "BUYER", "type": "HUMAN"}));
    assert!(m["sent_at"].as_i64().unwrap() > 1_600_000_000_000_000);

    // Revoking the grant kills the subscription.
    env.ctl("POST", "/_sim/users/revoke", json!({"user_id": seller})).await;
    let (_, r) = env
        .ctl(
            "POST",
            &format!("/_sim/chats/{cid}/messages"),
            json!({"side": "buyer", "text": "بعد"}),
        )
        .await;
    assert_eq!(r["deliveries"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn chatbot_message_and_revocation_events() {
    let env = Env::new().await;
    let c = env.chat().await;
    let buyer = c["buyer_user_id"].as_str().unwrap();
    let (_, r) = env
        .ctl(
            "POST",
            "/_sim/bot/messages",
            json!({"user_id": buyer, "text": "/start CHAT x"}),
        )
        .await;
    let ev = &env.app.seen("/divar/events")[0].body;
    assert_eq!(ev["type"], "NEW_CHATBOT_MESSAGE");
    assert_eq!(
        ev["new_chatbot_message"]["conversation"],
        json!({"id": r["conversation_id"], "type": "BOT"})
    );
    assert_eq!(ev["new_chatbot_message"]["text"], "/start CHAT x");

    env.token(buyer, &["NOTIFICATION_ACCESS_REVOCATION", "USER_ID"]).await;
    let (_, r) = env.ctl("POST", "/_sim/users/revoke", json!({"user_id": buyer})).await;
    assert_eq!(r["revoked_grants"], 1);
    let seen = env.app.seen("/divar/events");
    assert_eq!(
        seen[1].body,
        json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": buyer}})
    );
}

#[tokio::test]
async fn pressing_buttons_follows_each_sides_grid() {
    let env = Env::new().await;
    let c = env.chat().await;
    let cid = c["conversation_id"].as_str().unwrap();
    let tok = env
        .token(
            c["seller_user_id"].as_str().unwrap(),
            &[&format!("CONVERSATION_SEND_MESSAGE.{cid}")],
        )
        .await;
    let body = json!({
        "message": "پیشنهاد",
        "sender_buttons": {"rows": [{"buttons": [{"action": {"open_direct_link": "https://example.invalid/s"}, "caption": "s"}]}]},
        "receiver_buttons": {"rows": [{"buttons": [
            {"action": {"open_server_link": {"data": {"offer": "1"}}}, "caption": "open"},
            {"action": {"get_dynamic_action": {"data": {"answer": "yes"}}}, "caption": "yes"}]}]}
    });
    assert_eq!(env.send(cid, &tok, body).await.0, 200);
    let (_, msgs) = env
        .ctl("GET", &format!("/_sim/conversations/{cid}/messages"), json!({}))
        .await;
    let mid = msgs["messages"][0]["id"].as_str().unwrap().to_string();
    let press = |side: &'static str, button: usize| {
        let env = &env;
        let mid = mid.clone();
        async move {
            env.ctl(
                "POST",
                &format!("/_sim/messages/{mid}/press"),
                json!({"side": side, "row": 0, "button": button}),
            )
            .await
        }
    };

    let (_, v) = press("seller", 0).await;
    assert_eq!(
        v,
        json!({"kind": "open_direct_link", "url": "https://example.invalid/s"})
    );
    assert_eq!(press("seller", 1).await.0, 404, "the sender has only one button");

    let (_, v) = press("buyer", 0).await;
    assert_eq!(v["kind"], "open_server_link");
    assert_eq!(v["url"], format!("{}/s/abc123", env.app.base).as_str());
    let init = &env.app.seen("/divar/session-init")[0].body;
    assert_eq!(init["source"], "CHAT_MESSAGE_ACTION");
    assert_eq!(init["extra_data"], json!({"offer": "1"}));
    assert_eq!(init["user_side"], "DEMAND");

    let (_, v) = press("buyer", 1).await;
    assert_eq!(v["kind"], "get_dynamic_action");
    assert_eq!(v["text_message"], "ثبت شد");
    assert_eq!(
        v["follow_up"],
        json!({"kind": "open_direct_link", "url": "https://example.invalid/x"})
    );
    let da: Vec<Value> = wait_for(&env, "/divar/dynamic-action", 1)
        .await
        .into_iter()
        .map(|s| s.body)
        .collect();
    assert_eq!(
        da[0],
        json!({"touchpoint": "CHAT", "post_token": c["post_token"], "conversation_id": cid,
        "user_side": "DEMAND", "extra_data": {"answer": "yes"}, "user_id": c["buyer_user_id"]})
    );
}

#[tokio::test]
async fn deliveries_are_recorded_and_completion_counted() {
    let env = Env::new().await;
    let c = env.chat().await;
    let cid = c["conversation_id"].as_str().unwrap();
    env.launch(cid, json!({"side": "buyer"})).await;
    let (_, d) = env.ctl("GET", "/_sim/deliveries", json!({})).await;
    let d = &d["deliveries"][0];
    assert_eq!(d["kind"], "session_init");
    assert_eq!(d["status"], 200);
    assert!(d["response_body"].as_str().unwrap().contains("/s/abc123"));
    assert!(d["latency_ms"].is_u64());

    let resp = env.http.get(format!("{}/completion", env.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("dir=\"rtl\""));
    let (_, v) = env.ctl("GET", "/_sim/completions", json!({})).await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["completions"][0]["user_id"], c["buyer_user_id"]);

    // Reset forgets everything, completions included.
    let (_, r) = env.ctl("POST", "/_sim/reset", json!({})).await;
    assert_eq!(r, json!({}));
    let (_, v) = env.ctl("GET", "/_sim/completions", json!({})).await;
    assert_eq!(v["count"], 0);
}
