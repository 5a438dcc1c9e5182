//! The chatbot conversation (API.md §7): a person's messages and `/start` payloads arrive as
//! NEW_CHATBOT_MESSAGE, the app replies with the API key only, and its buttons work.

mod common;

use common::*;
use serde_json::{json, Value};

async fn user(env: &Env) -> String {
    env.chat().await["buyer_user_id"].as_str().unwrap().to_string()
}

async fn bot_reply(env: &Env, cid: &str, body: &Value) -> (u16, Value) {
    let (s, v, _) = env
        .api_post(
            &format!("/v1/open-platform/chat/bot/conversations/{cid}/messages"),
            Some(API_KEY),
            None,
            body,
        )
        .await;
    (s, v)
}

async fn messages(env: &Env, cid: &str) -> Vec<Value> {
    let (s, v) = env
        .ctl("GET", &format!("/_sim/conversations/{cid}/messages"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    v["messages"].as_array().unwrap().clone()
}

fn board() -> Value {
    let rows: Vec<Value> = (0..3)
        .map(|r| {
            json!({"buttons": (0..3).map(|c| json!({
                "caption": "⬜",
                "action": {"get_dynamic_action": {"data": {"svc": "xo", "cell": format!("{}", r * 3 + c)}}}
            })).collect::<Vec<_>>()})
        })
        .collect();
    json!({"rows": rows})
}

#[tokio::test]
async fn a_bot_message_needs_a_user_and_says_so() {
    let env = Env::new().await;
    let (s, v) = env.ctl("POST", "/_sim/bot/messages", json!({"text": "سلام"})).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("user_id is required"), "{v}");
    let (s, _) = env.ctl("POST", "/_sim/bot/messages", json!({})).await;
    assert_eq!(s, 400);
    let (s, _) = env
        .ctl("POST", "/_sim/bot/messages", json!({"user_id": "nobody", "text": "x"}))
        .await;
    assert_eq!(s, 404);
    assert!(env.app.events().is_empty());
}

#[tokio::test]
async fn opening_the_bot_is_per_user_and_sends_nothing() {
    let env = Env::new().await;
    let a = user(&env).await;
    let b = user(&env).await;
    let (s, ca) = env.ctl("POST", "/_sim/bot/conversations", json!({"user_id": a})).await;
    assert_eq!(s, 200, "{ca}");
    assert_eq!(ca["user_id"], a.as_str());
    let (_, again) = env.ctl("POST", "/_sim/bot/conversations", json!({"user_id": a})).await;
    assert_eq!(again, ca, "one bot conversation per user");
    let (_, cb) = env.ctl("POST", "/_sim/bot/conversations", json!({"user_id": b})).await;
    assert_ne!(cb["conversation_id"], ca["conversation_id"]);
    assert!(env.app.events().is_empty(), "opening alone delivers nothing");
    let (_, list) = env.ctl("GET", "/_sim/bot/conversations", json!({})).await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_persons_message_is_delivered_in_divars_envelope_and_the_reply_shows_with_its_grid() {
    let env = Env::new().await;
    let u = user(&env).await;
    let (s, r) = env
        .ctl("POST", "/_sim/bot/messages", json!({"user_id": u, "text": "بازی"}))
        .await;
    assert_eq!(s, 200, "{r}");
    let cid = r["conversation_id"].as_str().unwrap().to_string();
    assert_eq!(r["deliveries"][0]["status"], 200);
    assert_eq!(r["deliveries"][0]["event_id"], 1);

    let seen = env.app.seen("/divar/events");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers.get("authorization").unwrap(), IDENT_KEY);
    let ev = &seen[0].body;
    let m = &ev["new_chatbot_message"];
    let sent_at = m["sent_at"].as_i64().unwrap();
    assert!(sent_at > 1_600_000_000_000_000, "µs since the epoch");
    assert_eq!(
        ev,
        &json!({
            "type": "NEW_CHATBOT_MESSAGE",
            "new_chatbot_message": {
                "id": r["message"]["id"],
                "conversation": {"id": cid, "type": "BOT"},
                "sender": {"type": "HUMAN"},
                "type": "TEXT",
                "sent_at": sent_at,
                "text": "بازی",
            }
        })
    );

    // The app answers with the API key only, with a full 3×3 grid.
    let (s, v) = bot_reply(&env, &cid, &json!({"text_message": "نوبت شما", "buttons": board()})).await;
    assert_eq!((s, &v), (200, &json!({"conversation_id": cid})));
    let msgs = messages(&env, &cid).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["sender_type"], "BOT");
    assert_eq!(msgs[1]["text"], "نوبت شما");
    assert_eq!(msgs[1]["buttons"], board());
    // Its own messages are not delivered back (unless echo_bot_messages is on).
    assert_eq!(env.app.events().len(), 1);

    // A fourth row is refused, and nothing is stored.
    let mut big = board();
    big["rows"].as_array_mut().unwrap().push(board()["rows"][0].clone());
    let (s, v) = bot_reply(&env, &cid, &json!({"text_message": "x", "buttons": big})).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(3)), "{v}");
    assert_eq!(messages(&env, &cid).await.len(), 2);
    // A bearer is not needed, but the key is.
    let (s, _, _) = env
        .api_post(
            &format!("/v1/open-platform/chat/bot/conversations/{cid}/messages"),
            None,
            None,
            &json!({"text_message": "x"}),
        )
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn tapping_a_bot_button_calls_the_dynamic_action_url_without_post_or_side() {
    let env = Env::new().await;
    let u = user(&env).await;
    let (_, r) = env
        .ctl("POST", "/_sim/bot/messages", json!({"user_id": u, "text": "/start"}))
        .await;
    let cid = r["conversation_id"].as_str().unwrap().to_string();
    let mut grid = board();
    grid["rows"][2]["buttons"][0] = json!({"caption": "صفحه", "action": {"open_server_link": {"data": {"page": "1"}}}});
    grid["rows"][2]["buttons"][1] =
        json!({"caption": "لینک", "action": {"open_direct_link": "https://example.invalid/d"}});
    assert_eq!(
        bot_reply(&env, &cid, &json!({"text_message": "صفحه", "buttons": grid}))
            .await
            .0,
        200
    );
    let mid = messages(&env, &cid).await[1]["id"].as_str().unwrap().to_string();
    let press = |row: usize, button: usize| {
        let env = &env;
        let mid = mid.clone();
        async move {
            env.ctl(
                "POST",
                &format!("/_sim/messages/{mid}/press"),
                json!({"row": row, "button": button}),
            )
            .await
        }
    };

    let (s, v) = press(1, 2).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["kind"], "get_dynamic_action");
    assert_eq!(v["status"], 200);
    assert_eq!(v["text_message"], "ثبت شد", "the toast the app answered");
    assert_eq!(
        v["follow_up"],
        json!({"kind": "open_direct_link", "url": "https://example.invalid/x"})
    );
    let da = &env.app.seen("/divar/dynamic-action")[0];
    assert_eq!(da.headers.get("authorization").unwrap(), IDENT_KEY);
    assert_eq!(
        da.body,
        json!({"touchpoint": "CHAT", "conversation_id": cid, "extra_data": {"svc": "xo", "cell": "5"}, "user_id": u})
    );

    let (_, v) = press(2, 0).await;
    assert_eq!(v["kind"], "open_server_link");
    assert_eq!(v["url"], format!("{}/s/abc123", env.app.base).as_str());
    assert_eq!(
        env.app.seen("/divar/session-init")[0].body,
        json!({"source": "CHAT_MESSAGE_ACTION", "conversation_id": cid, "extra_data": {"page": "1"}, "user_id": u})
    );

    let (_, v) = press(2, 1).await;
    assert_eq!(
        v,
        json!({"kind": "open_direct_link", "url": "https://example.invalid/d"})
    );
    assert_eq!(press(3, 0).await.0, 404);
}

#[tokio::test]
async fn start_payloads_arrive_as_the_users_first_message() {
    let env = Env::new().await;
    let c = env.chat().await;
    let seller = c["seller_user_id"].as_str().unwrap();
    let post = c["post_token"].as_str().unwrap();
    let cases = [
        (
            json!({"touchpoint": "MY_POST", "resource_id": post}),
            format!("/start MY_POST {post}"),
        ),
        (json!({"touchpoint": "MY_DIVAR"}), "/start MY_DIVAR".to_string()),
        (
            json!({"touchpoint": "CHAT", "resource_id": c["conversation_id"]}),
            format!("/start CHAT {}", c["conversation_id"].as_str().unwrap()),
        ),
        (
            json!({"touchpoint": "DEMAND_POST", "resource_id": ""}),
            "/start DEMAND_POST".to_string(),
        ),
        (json!({"payload": "CUSTOM x y"}), "/start CUSTOM x y".to_string()),
        (json!({}), "/start".to_string()),
    ];
    for (i, (mut req, text)) in cases.into_iter().enumerate() {
        req["user_id"] = json!(seller);
        let (s, v) = env.ctl("POST", "/_sim/bot/start", req).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["message"]["text"], text.as_str());
        let ev = &env.app.events()[i];
        assert_eq!(ev["type"], "NEW_CHATBOT_MESSAGE");
        assert_eq!(ev["new_chatbot_message"]["text"], text.as_str());
        assert_eq!(ev["new_chatbot_message"]["sender"], json!({"type": "HUMAN"}));
    }
    let (s, v) = env
        .ctl(
            "POST",
            "/_sim/bot/start",
            json!({"user_id": seller, "touchpoint": "POST"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("MY_POST"));
    let (s, _) = env
        .ctl(
            "POST",
            "/_sim/bot/start",
            json!({"user_id": seller, "touchpoint": "MY_DIVAR", "payload": "x"}),
        )
        .await;
    assert_eq!(s, 400, "payload and touchpoint are exclusive");
}

#[tokio::test]
async fn echo_bot_messages_delivers_the_bots_own_messages() {
    let env = Env::with_config(|c| c.echo_bot_messages = true).await;
    let u = user(&env).await;
    let (_, r) = env
        .ctl("POST", "/_sim/bot/messages", json!({"user_id": u, "text": "hi"}))
        .await;
    let cid = r["conversation_id"].as_str().unwrap().to_string();
    assert_eq!(bot_reply(&env, &cid, &json!({"text_message": "پاسخ"})).await.0, 200);
    let evs = env.app.wait_events(2).await;
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1]["new_chatbot_message"]["sender"], json!({"type": "BOT"}));
    assert_eq!(evs[1]["new_chatbot_message"]["text"], "پاسخ");
    // Switched off for the rest of the run.
    let (_, v) = env
        .ctl("POST", "/_sim/settings", json!({"echo_bot_messages": false}))
        .await;
    assert_eq!(v["settings"]["echo_bot_messages"], false);
    assert_eq!(bot_reply(&env, &cid, &json!({"text_message": "دوباره"})).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(env.app.events().len(), 2);
}

/// What KenarBot and the docs' example bot send: `type` beside the text, under the experimental
/// prefix the SDKs still use. Divar takes it; the request log keeps a warning for `type`.
#[tokio::test]
async fn a_docs_style_bot_reply_with_type_under_the_experimental_prefix_is_delivered() {
    let env = Env::new().await;
    let u = user(&env).await;
    let (s, opened) = env.ctl("POST", "/_sim/bot/conversations", json!({"user_id": u})).await;
    assert_eq!(s, 200, "{opened}");
    let cid = opened["conversation_id"].as_str().unwrap().to_string();
    let (s, v, _) = env
        .api_post(
            &format!("/experimental/open-platform/chat/bot/conversations/{cid}/messages"),
            Some(API_KEY),
            None,
            &json!({"type": "TEXT", "text_message": "سلام"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(messages(&env, &cid).await.len(), 1);
    let (_, reqs) = env.ctl("GET", "/_sim/requests?endpoint=bot_send", json!({})).await;
    let last = reqs["requests"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["valid"], true);
    assert_eq!(last["violations"], json!(["warning: type: unknown field, ignored"]));
}

#[tokio::test]
async fn a_media_message_carries_its_data_instead_of_text_and_a_bad_one_is_refused() {
    let env = Env::new().await;
    let u = user(&env).await;
    let location = json!({"latitude": 35.7, "longitude": 51.4});
    let (s, r) = env
        .ctl(
            "POST",
            "/_sim/bot/messages",
            json!({"user_id": u, "type": "LOCATION", "data": location}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let m = &env.app.seen("/divar/events")[0].body["new_chatbot_message"];
    assert_eq!(m["type"], "LOCATION");
    assert_eq!(m["location_data"], location);
    assert!(m.get("text").is_none(), "{m}");

    for (body, why) in [
        (json!({"user_id": u, "type": "STICKER", "data": {}}), "type must be"),
        (
            json!({"user_id": u, "type": "IMAGE"}),
            "needs data: the image_data object",
        ),
        (json!({"user_id": u, "type": "TEXT"}), "text is required"),
    ] {
        let (s, v) = env.ctl("POST", "/_sim/bot/messages", body).await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{v}");
    }
    assert_eq!(
        env.app.seen("/divar/events").len(),
        1,
        "nothing delivered for a refused one"
    );
}
