mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

struct Chat {
    cid: String,
    post: String,
    seller: String,
    buyer: String,
}

async fn chat(env: &Env) -> Chat {
    let v = env.chat().await;
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    Chat {
        cid: s("conversation_id"),
        post: s("post_token"),
        seller: s("seller_user_id"),
        buyer: s("buyer_user_id"),
    }
}

#[tokio::test]
async fn send_message_checks_key_token_and_scope() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let other = chat(&env).await;
    let scope = format!("CONVERSATION_SEND_MESSAGE.{}", c.cid);
    let tok = env.token(&c.buyer, &[&scope]).await;
    let path = format!("/v2/open-platform/conversations/{}/messages", c.cid);

    let (s, v, _) = env.api_post(&path, None, Some(&tok), &text_body("hi")).await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(16)), "missing api key");
    let (s, v, _) = env.api_post(&path, Some(API_KEY), None, &text_body("hi")).await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(16)), "missing token");

    let no_scope = env.token(&c.buyer, &["USER_ID"]).await;
    let (s, v, _) = env.send(&c.cid, &no_scope, text_body("hi")).await;
    assert_eq!((s, v["code"].as_i64()), (403, Some(7)), "missing scope: {v}");

    let (s, v, _) = env.send(&other.cid, &tok, text_body("hi")).await;
    assert_eq!((s, v["code"].as_i64()), (403, Some(7)), "wrong conversation: {v}");

    let (s, v, _) = env.send(&c.cid, &tok, text_body("سلام")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"status": 200, "message": "success"}));

    let (_, msgs) = env
        .ctl("GET", &format!("/_sim/conversations/{}/messages", c.cid), json!({}))
        .await;
    let m = &msgs["messages"][0];
    assert_eq!(m["text"], "سلام");
    assert_eq!(m["sender_user_id"], c.buyer.as_str());
    assert_eq!(m["sender_side"], "BUYER");
}

#[tokio::test]
async fn seller_wide_scopes_allow_sending_only_as_the_poster() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let post_scope = format!("CHAT_POST_CONVERSATIONS_MESSAGE_SEND.{}", c.post);
    let seller_tok = env.token(&c.seller, &[&post_scope]).await;
    assert_eq!(env.send(&c.cid, &seller_tok, text_body("x")).await.0, 200);
    let buyer_tok = env.token(&c.buyer, &[&post_scope]).await;
    assert_eq!(env.send(&c.cid, &buyer_tok, text_body("x")).await.0, 403);
    let all = env
        .token(&c.seller, &["CHAT_SUPPLIER_ALL_CONVERSATIONS_MESSAGE_SEND"])
        .await;
    assert_eq!(env.send(&c.cid, &all, text_body("x")).await.0, 200);
}

#[tokio::test]
async fn body_is_validated_against_the_openapi_and_grid_limits() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let tok = env
        .token(&c.seller, &[&format!("CONVERSATION_SEND_MESSAGE.{}", c.cid)])
        .await;

    let good = json!({"message": "ok", "sender_buttons": grid(3, 3), "receiver_buttons": {"rows": [
        {"buttons": [{"action": {"open_server_link": {"data": {"k": "v"}}}, "caption": "باز کن", "icon": "HOME"},
                     {"action": {"get_dynamic_action": {"data": {"k": "v"}}}, "caption": "پویا"}]}]}});
    let (s, v, _) = env.send(&c.cid, &tok, good).await;
    assert_eq!(s, 200, "{v}");

    let cases = [
        (
            json!({"message": "x", "sender_buttons": grid(4, 1)}),
            "sender_buttons.rows",
        ),
        (
            json!({"message": "x", "receiver_buttons": grid(1, 4)}),
            "receiver_buttons.rows[0].buttons",
        ),
        (json!({"sender_buttons": grid(1, 1)}), "message"),
        (
            json!({"message": "x", "sender_buttons": {"rows": [{"buttons": [{"action": {}, "caption": "c"}]}]}}),
            "action",
        ),
        (
            json!({"message": "x", "sender_buttons": {"rows": [{"buttons": [{"action": {"open_direct_link": "a", "open_post_page": {"post_token": "p"}}}]}]}}),
            "action",
        ),
        (json!({"message": 5}), "message"),
    ];
    for (body, field) in cases {
        let (s, v, _) = env.send(&c.cid, &tok, body.clone()).await;
        assert_eq!((s, v["code"].as_i64()), (400, Some(3)), "{body} -> {v}");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{field} not named in {v}"
        );
    }

    // A misspelt icon is read as no icon, as protojson with DiscardUnknown reads an unknown
    // enum name: the message goes, and the request log keeps a warning.
    let misspelt = json!({"message": "x", "sender_buttons": {"rows": [{"buttons": [
        {"action": {"open_direct_link": "a"}, "caption": "c", "icon": "REAL_STATE"}
    ]}]}});
    let (s, v, _) = env.send(&c.cid, &tok, misspelt).await;
    assert_eq!(s, 200, "{v}");

    // A field Divar does not know is ignored, as grpc-gateway does (its own examples send
    // `type`), and kept as a warning in the request log.
    let (s, v, _) = env
        .send(&c.cid, &tok, json!({"message": "x", "colour": "red", "type": "TEXT"}))
        .await;
    assert_eq!(s, 200, "{v}");

    let (_, reqs) = env
        .ctl("GET", "/_sim/requests?endpoint=conversation_send", json!({}))
        .await;
    let reqs = reqs["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 9);
    assert_eq!(reqs[0]["valid"], true);
    assert!(reqs[1..7]
        .iter()
        .all(|r| r["valid"] == false && !r["violations"].as_array().unwrap().is_empty()));
    assert_eq!(reqs[7]["valid"], true);
    assert_eq!(
        reqs[7]["violations"],
        json!(["warning: sender_buttons.rows[0].buttons[0].icon: unknown enum value \"REAL_STATE\", read as not set"])
    );
    assert_eq!(reqs[8]["valid"], true);
    assert_eq!(
        reqs[8]["violations"],
        json!([
            "warning: colour: unknown field, ignored",
            "warning: type: unknown field, ignored"
        ])
    );
    // Only the three accepted messages were stored.
    let (_, msgs) = env
        .ctl("GET", &format!("/_sim/conversations/{}/messages", c.cid), json!({}))
        .await;
    assert_eq!(msgs["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn blocked_recipient_gets_412_code_9() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let tok = env
        .token(&c.seller, &[&format!("CONVERSATION_SEND_MESSAGE.{}", c.cid)])
        .await;
    let (s, _) = env.ctl("POST", "/_sim/users/block", json!({"user_id": c.buyer})).await;
    assert_eq!(s, 200);
    let (s, v, _) = env.send(&c.cid, &tok, text_body("hi")).await;
    assert_eq!(s, 412);
    assert_eq!(v["code"], 9);
    assert_eq!(v["message"], "message delivery failed due to recipient's restriction");
    env.ctl("POST", "/_sim/users/unblock", json!({"user_id": c.buyer}))
        .await;
    assert_eq!(env.send(&c.cid, &tok, text_body("hi")).await.0, 200);
}

#[tokio::test]
async fn fault_429_with_retry_after_for_exactly_n_calls_then_success() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let tok = env
        .token(&c.buyer, &[&format!("CONVERSATION_SEND_MESSAGE.{}", c.cid)])
        .await;
    let (s, _) = env
        .ctl(
            "POST",
            "/_sim/faults",
            json!({"endpoint": "conversation_send", "status": 429, "retry_after": 7, "count": 2}),
        )
        .await;
    assert_eq!(s, 200);
    for _ in 0..2 {
        let (s, v, h) = env.send(&c.cid, &tok, text_body("hi")).await;
        assert_eq!((s, v["code"].as_i64()), (429, Some(8)));
        assert_eq!(h.get("retry-after").unwrap(), "7");
    }
    let (s, _, h) = env.send(&c.cid, &tok, text_body("hi")).await;
    assert_eq!(s, 200);
    assert!(h.get("retry-after").is_none());
    let (_, f) = env.ctl("GET", "/_sim/faults", json!({})).await;
    assert_eq!(f["faults"].as_array().unwrap().len(), 0, "exhausted rule is gone");
}

#[tokio::test]
async fn fault_latency_and_hang() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let tok = env.token(&c.buyer, &["USER_ID"]).await;
    env.ctl(
        "POST",
        "/_sim/faults",
        json!({"endpoint": "users", "latency_ms": 300, "count": 1}),
    )
    .await;
    let t = Instant::now();
    assert_eq!(env.api_get("/v1/open-platform/users", &tok).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(env.api_get("/v1/open-platform/users", &tok).await.0, 200);
    assert!(t.elapsed() < Duration::from_millis(300));

    env.ctl(
        "POST",
        "/_sim/faults",
        json!({"endpoint": "users", "hang": true, "count": 1}),
    )
    .await;
    let r = env
        .http
        .get(format!("{}/v1/open-platform/users", env.base))
        .header("x-api-key", API_KEY)
        .header("authorization", format!("Bearer {tok}"))
        .timeout(Duration::from_millis(400))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    assert_eq!(env.api_get("/v1/open-platform/users", &tok).await.0, 200);
}

#[tokio::test]
async fn users_endpoint_returns_fields_per_scope_and_expiry_forces_refresh() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let id_only = env.token(&c.buyer, &["USER_ID"]).await;
    let (s, v) = env.api_get("/v1/open-platform/users", &id_only).await;
    assert_eq!(s, 200);
    assert_eq!(v["user_id"], c.buyer.as_str());
    assert!(v.get("phone_number").is_none());
    // The SDKs' POST form answers the same.
    let (s, posted, _) = env
        .api_post("/v1/open-platform/users", Some(API_KEY), Some(&id_only), &json!({}))
        .await;
    assert_eq!((s, posted), (200, v.clone()));
    let both = env.token(&c.buyer, &["USER_ID", "USER_PHONE"]).await;
    let (_, v) = env.api_get("/v1/open-platform/users", &both).await;
    assert!(v["phone_number"].as_str().unwrap().starts_with("09"));

    let (_, e) = env
        .ctl("POST", "/_sim/users/expire-tokens", json!({"user_id": c.buyer}))
        .await;
    assert_eq!(e["expired"], 2);
    assert_eq!(env.api_get("/v1/open-platform/users", &id_only).await.0, 401);
}

#[tokio::test]
async fn bot_endpoints() {
    let env = Env::new().await;
    let c = chat(&env).await;
    let (s, v) = env
        .ctl(
            "POST",
            "/_sim/bot/messages",
            json!({"user_id": c.buyer, "text": "/start"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let conv = v["conversation_id"].as_str().unwrap().to_string();

    let path = format!("/v1/open-platform/chat/bot/conversations/{conv}/messages");
    let body = json!({"text_message": "hello", "buttons": grid(1, 2)});
    let (s, v, _) = env.api_post(&path, Some(API_KEY), None, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation_id"], conv.as_str());
    assert_eq!(env.api_post(&path, None, None, &body).await.0, 401);
    let (s, _, _) = env
        .api_post(
            &path,
            Some(API_KEY),
            None,
            &json!({"text_message": "x", "buttons": grid(4, 1)}),
        )
        .await;
    assert_eq!(s, 400);

    // Sending directly to a user: path id must be the token's user, percent-encoded.
    let enc = |u: &str| url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>();
    let tok = env.token(&c.buyer, &["CHAT_BOT_USER_MESSAGE_SEND"]).await;
    let upath = format!("/v1/open-platform/chat/bot/users/{}/messages", enc(&c.buyer));
    let (s, v, _) = env
        .api_post(&upath, Some(API_KEY), Some(&tok), &json!({"text_message": "hi"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation_id"], conv.as_str());
    let other = format!("/v1/open-platform/chat/bot/users/{}/messages", enc(&c.seller));
    assert_eq!(
        env.api_post(&other, Some(API_KEY), Some(&tok), &json!({"text_message": "hi"}))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn conversation_read_needs_its_scope() {
    let env = Env::new().await;
    let c = chat(&env).await;
    env.ctl(
        "POST",
        &format!("/_sim/chats/{}/messages", c.cid),
        json!({"side": "buyer", "text": "سلام"}),
    )
    .await;
    let tok = env
        .token(&c.seller, &[&format!("CHAT_CONVERSATION_READ.{}", c.cid)])
        .await;
    let (s, v) = env
        .api_get(&format!("/v1/open-platform/chat/conversations/{}", c.cid), &tok)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation"]["post_token"], c.post.as_str());
    assert_eq!(v["messages"][0]["text"], "سلام");
    assert_eq!(v["messages"][0]["sender"]["side"], "BUYER");
    let other = chat(&env).await;
    let (s, _) = env
        .api_get(&format!("/v1/open-platform/chat/conversations/{}", other.cid), &tok)
        .await;
    assert_eq!(s, 403);
}
