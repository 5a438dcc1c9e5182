//! A post with several buyers' conversations, NEW_MESSAGE events for a live subscription
//! (API.md §8), subscriptions dying with their token, USER_ACCESS_REVOCATION, and the switches
//! for how events spell `sent_at` and `sender.type`.

mod common;

use common::*;
use serde_json::{json, Value};

const SUBS: &str = "/v1/open-platform/events/subscriptions";

struct Post {
    token: String,
    seller: String,
    /// (conversation id, buyer) per buyer.
    chats: Vec<(String, String)>,
}

/// A post with `buyers` conversations, all on the same post and seller.
async fn post_with_buyers(env: &Env, buyers: usize) -> Post {
    let first = env.chat().await;
    let token = first["post_token"].as_str().unwrap().to_string();
    let seller = first["seller_user_id"].as_str().unwrap().to_string();
    let mut chats = vec![(
        first["conversation_id"].as_str().unwrap().to_string(),
        first["buyer_user_id"].as_str().unwrap().to_string(),
    )];
    for _ in 1..buyers {
        let (s, c) = env.ctl("POST", "/_sim/chats", json!({"post_token": token})).await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["seller_user_id"], seller.as_str());
        chats.push((
            c["conversation_id"].as_str().unwrap().to_string(),
            c["buyer_user_id"].as_str().unwrap().to_string(),
        ));
    }
    Post { token, seller, chats }
}

async fn subscribe(env: &Env, tok: &str, post: Option<&str>, metadata: Value) -> u16 {
    let mut body = json!({"event_type": "NEW_MESSAGE_ON_POST", "metadata": metadata});
    if let Some(p) = post {
        body["event_resource_id"] = json!(p);
    }
    env.api_post(SUBS, Some(API_KEY), Some(tok), &body).await.0
}

async fn say(env: &Env, cid: &str, side: &str, text: &str) -> Value {
    let (s, v) = env
        .ctl(
            "POST",
            &format!("/_sim/chats/{cid}/messages"),
            json!({"side": side, "text": text}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test]
async fn one_post_holds_one_conversation_per_buyer() {
    let env = Env::new().await;
    let p = post_with_buyers(&env, 3).await;
    let cids: std::collections::HashSet<_> = p.chats.iter().map(|c| c.0.clone()).collect();
    let buyers: std::collections::HashSet<_> = p.chats.iter().map(|c| c.1.clone()).collect();
    assert_eq!((cids.len(), buyers.len()), (3, 3));

    // The same buyer on the same post gets their existing conversation back.
    let (s, again) = env
        .ctl(
            "POST",
            "/_sim/chats",
            json!({"post_token": p.token, "buyer_user_id": p.chats[1].1}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["conversation_id"], p.chats[1].0.as_str());
    // The post is the seller's; nobody else may sell it, and the seller cannot buy it.
    let other = env.chat().await;
    let (s, _) = env
        .ctl(
            "POST",
            "/_sim/chats",
            json!({"post_token": p.token, "seller_user_id": other["seller_user_id"]}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = env
        .ctl(
            "POST",
            "/_sim/chats",
            json!({"post_token": p.token, "buyer_user_id": p.seller}),
        )
        .await;
    assert_eq!(s, 400);

    let (_, list) = env
        .ctl("GET", &format!("/_sim/chats?post_token={}", p.token), json!({}))
        .await;
    assert_eq!(list["chats"].as_array().unwrap().len(), 3);
    let (_, mine) = env
        .ctl(
            "GET",
            &format!("/_sim/chats?user_id={}", urlencode(&p.chats[2].1)),
            json!({}),
        )
        .await;
    assert_eq!(mine["chats"].as_array().unwrap().len(), 1);

    say(&env, &p.chats[0].0, "buyer", "سلام").await;
    say(&env, &p.chats[0].0, "seller", "درود").await;
    let (_, posts) = env.ctl("GET", "/_sim/posts", json!({})).await;
    let posts = posts["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 2);
    let mine = &posts[0];
    assert_eq!(mine["post_token"], p.token.as_str());
    assert_eq!(mine["seller_user_id"], p.seller.as_str());
    let convs = mine["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 3);
    assert_eq!(convs[0]["message_count"], 2);
    assert_eq!(convs[0]["last_message"]["text"], "درود");
    assert_eq!(convs[1]["message_count"], 0);
    assert!(convs[1]["last_message"].is_null());
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn every_message_on_the_post_is_delivered_with_the_metadata() {
    let env = Env::new().await;
    let p = post_with_buyers(&env, 2).await;
    let elsewhere = env.chat().await;
    let read = env
        .token(&p.seller, &[&format!("CHAT_POST_CONVERSATIONS_READ.{}", p.token)])
        .await;
    assert_eq!(
        subscribe(&env, &read, Some(&p.token), json!({"sub": "post-1"})).await,
        200
    );
    let (_, subs) = env.ctl("GET", "/_sim/subscriptions", json!({})).await;
    assert_eq!(subs["subscriptions"][0]["metadata"], json!({"sub": "post-1"}));

    let r = say(&env, &p.chats[0].0, "buyer", "اولی").await;
    say(&env, &p.chats[1].0, "buyer", "دومی").await;
    say(&env, &p.chats[1].0, "seller", "پاسخ فروشنده").await;
    say(
        &env,
        elsewhere["conversation_id"].as_str().unwrap(),
        "buyer",
        "جای دیگر",
    )
    .await;
    // The app's own message in a conversation of the post (as the seller) is delivered too.
    let send = env
        .token(
            &p.seller,
            &[&format!("CHAT_POST_CONVERSATIONS_MESSAGE_SEND.{}", p.token)],
        )
        .await;
    assert_eq!(env.send(&p.chats[0].0, &send, text_body("از افزونه")).await.0, 200);

    let evs = env.app.wait_events(4).await;
    assert_eq!(evs.len(), 4, "{evs:?}");
    let texts: Vec<&str> = evs.iter().map(|e| e["new_message"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["اولی", "دومی", "پاسخ فروشنده", "از افزونه"]);
    for e in &evs {
        assert_eq!(e["type"], "NEW_MESSAGE");
        assert_eq!(e["metadata"], json!({"sub": "post-1"}));
    }
    let sent_at = evs[0]["new_message"]["sent_at"].as_i64().unwrap();
    assert_eq!(
        evs[0],
        json!({
            "type": "NEW_MESSAGE",
            "metadata": {"sub": "post-1"},
            "new_message": {
                "id": r["message"]["id"],
                "conversation": {"id": p.chats[0].0, "type": "POST", "post_token": p.token},
                "sender": {"side": "BUYER", "type": "HUMAN"},
                "type": "TEXT",
                "sent_at": sent_at,
                "text": "اولی",
            }
        })
    );
    assert_eq!(
        evs[2]["new_message"]["sender"],
        json!({"side": "SELLER", "type": "HUMAN"})
    );
    assert_eq!(
        evs[3]["new_message"]["sender"],
        json!({"side": "SELLER", "type": "BOT"})
    );

    let (_, d) = env
        .ctl("GET", "/_sim/deliveries?kind=event&event_type=NEW_MESSAGE", json!({}))
        .await;
    let d = d["deliveries"].as_array().unwrap();
    assert_eq!(d.len(), 4);
    assert!(d.iter().all(|x| x["outcome"] == "ok" && x["fault"].is_null()));
}

#[tokio::test]
async fn an_all_posts_subscription_covers_every_post_of_the_seller() {
    let env = Env::new().await;
    let p = post_with_buyers(&env, 1).await;
    let (_, second) = env
        .ctl("POST", "/_sim/chats", json!({"seller_user_id": p.seller}))
        .await;
    let narrow = env
        .token(&p.seller, &[&format!("CHAT_POST_CONVERSATIONS_READ.{}", p.token)])
        .await;
    assert_eq!(
        subscribe(&env, &narrow, None, json!({})).await,
        403,
        "all posts needs the ALL scope"
    );
    let all = env.token(&p.seller, &["CHAT_SUPPLIER_ALL_CONVERSATIONS_READ"]).await;
    assert_eq!(subscribe(&env, &all, None, json!({"all": "1"})).await, 200);
    say(&env, &p.chats[0].0, "buyer", "a").await;
    say(&env, second["conversation_id"].as_str().unwrap(), "buyer", "b").await;
    let evs = env.app.events();
    assert_eq!(evs.len(), 2);
    assert_eq!(
        evs[1]["new_message"]["conversation"]["post_token"],
        second["post_token"]
    );
    assert_eq!(evs[1]["metadata"], json!({"all": "1"}));
}

#[tokio::test]
async fn a_subscription_dies_when_its_token_expires_or_is_refreshed_away() {
    let env = Env::new().await;
    let p = post_with_buyers(&env, 1).await;
    let cid = p.chats[0].0.clone();
    let scope = format!("CHAT_POST_CONVERSATIONS_READ.{}", p.token);

    // Expiry: one hour after the token was minted, the subscription is gone.
    let tok = env.token(&p.seller, &[&scope]).await;
    assert_eq!(subscribe(&env, &tok, Some(&p.token), json!({})).await, 200);
    assert_eq!(
        say(&env, &cid, "buyer", "1").await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    env.ctl("POST", "/_sim/clock/advance", json!({"seconds": 3601})).await;
    assert_eq!(
        say(&env, &cid, "buyer", "2").await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (_, subs) = env.ctl("GET", "/_sim/subscriptions", json!({})).await;
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 0);

    // Refresh: the old access token lives two more minutes, and its subscription with it.
    let (_, pair) = env
        .ctl(
            "POST",
            "/_sim/tokens",
            json!({"user_id": p.seller, "scopes": [scope, "offline_access"]}),
        )
        .await;
    let at = pair["access_token"].as_str().unwrap();
    let rt = pair["refresh_token"].as_str().unwrap();
    assert_eq!(subscribe(&env, at, Some(&p.token), json!({})).await, 200);
    let (s, _) = env
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", SLUG),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        say(&env, &cid, "buyer", "3").await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    env.ctl("POST", "/_sim/clock/advance", json!({"seconds": 121})).await;
    assert_eq!(
        say(&env, &cid, "buyer", "4").await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "re-subscribe with the new token to keep the events"
    );
}

#[tokio::test]
async fn revocation_kills_subscriptions_and_notifies_only_with_both_scopes() {
    let env = Env::new().await;
    let p = post_with_buyers(&env, 1).await;
    let buyer = p.chats[0].1.clone();
    let read = env
        .token(&p.seller, &[&format!("CHAT_POST_CONVERSATIONS_READ.{}", p.token)])
        .await;
    assert_eq!(subscribe(&env, &read, Some(&p.token), json!({})).await, 200);
    env.token(&p.seller, &["NOTIFICATION_ACCESS_REVOCATION"]).await;
    let (s, r) = env
        .ctl("POST", "/_sim/users/revoke", json!({"user_id": p.seller}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (r["revoked_grants"].as_u64(), r["notified"].as_bool()),
        (Some(2), Some(false))
    );
    assert!(env.app.events().is_empty(), "USER_ID was never granted");
    assert_eq!(
        say(&env, &p.chats[0].0, "buyer", "x").await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    env.token(&buyer, &["NOTIFICATION_ACCESS_REVOCATION", "USER_ID"]).await;
    let (_, r) = env.ctl("POST", "/_sim/users/revoke", json!({"user_id": buyer})).await;
    assert_eq!(r["notified"], true);
    assert_eq!(r["deliveries"][0]["status"], 200);
    assert_eq!(
        env.app.events(),
        vec![json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": buyer}})]
    );
    let (_, d) = env
        .ctl("GET", "/_sim/deliveries?event_type=USER_ACCESS_REVOCATION", json!({}))
        .await;
    assert_eq!(d["deliveries"].as_array().unwrap().len(), 1);
    // Nothing left to revoke: no second notice.
    let (_, r) = env.ctl("POST", "/_sim/users/revoke", json!({"user_id": buyer})).await;
    assert_eq!(
        (r["revoked_grants"].as_u64(), r["notified"].as_bool()),
        (Some(0), Some(false))
    );
}

#[tokio::test]
async fn sent_at_and_sender_type_follow_the_run_switch_and_per_event_overrides() {
    let env = Env::new().await;
    let p = post_with_buyers(&env, 1).await;
    let cid = p.chats[0].0.clone();
    let read = env
        .token(&p.seller, &[&format!("CHAT_POST_CONVERSATIONS_READ.{}", p.token)])
        .await;
    assert_eq!(subscribe(&env, &read, Some(&p.token), json!({})).await, 200);
    let (_, v) = env.ctl("GET", "/_sim/settings", json!({})).await;
    assert_eq!(
        v["settings"],
        json!({"sent_at_format": "micros", "human_sender_type": "HUMAN", "echo_bot_messages": false})
    );

    let (s, v) = env
        .ctl(
            "POST",
            "/_sim/settings",
            json!({"sent_at_format": "rfc3339", "human_sender_type": "USER"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = say(&env, &cid, "buyer", "rfc").await;
    let ev = &env.app.events()[0]["new_message"];
    let text = ev["sent_at"].as_str().expect("an RFC 3339 string");
    assert_eq!(
        text,
        divar_sim::state::rfc3339_from_micros(r["message"]["sent_at"].as_i64().unwrap())
    );
    assert!(text.ends_with('Z') && text.len() == 27, "{text}");
    assert_eq!(ev["sender"], json!({"side": "BUYER", "type": "USER"}));

    // One event spelled differently from the run.
    let (_, _) = env
        .ctl(
            "POST",
            &format!("/_sim/chats/{cid}/messages"),
            json!({"side": "seller", "text": "µs", "sent_at_format": "micros", "sender_type": "HUMAN"}),
        )
        .await;
    let ev = &env.app.events()[1]["new_message"];
    assert!(ev["sent_at"].is_i64());
    assert_eq!(ev["sender"]["type"], "HUMAN");
    // The bot too.
    let (_, _) = env
        .ctl(
            "POST",
            "/_sim/bot/messages",
            json!({"user_id": p.seller, "text": "b", "sender_type": "HUMAN"}),
        )
        .await;
    let ev = &env.app.events()[2]["new_chatbot_message"];
    assert!(ev["sent_at"].is_string());
    assert_eq!(ev["sender"], json!({"type": "HUMAN"}));

    // The REST read keeps the OpenAPI spelling whatever the switches say.
    let conv_read = env.token(&p.seller, &[&format!("CHAT_CONVERSATION_READ.{cid}")]).await;
    let (s, v) = env
        .api_get(&format!("/v1/open-platform/chat/conversations/{cid}"), &conv_read)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["messages"][0]["sender"]["type"], "HUMAN");
    assert!(v["messages"][0]["sent_at"].is_string());

    let (s, v) = env
        .ctl("POST", "/_sim/settings", json!({"sent_at_format": "seconds"}))
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = env.ctl("POST", "/_sim/settings", json!({"sent_at": "micros"})).await;
    assert_eq!(s, 400, "unknown keys are refused");

    // Reset goes back to the flags.
    env.ctl("POST", "/_sim/reset", json!({})).await;
    let (_, v) = env.ctl("GET", "/_sim/settings", json!({})).await;
    assert_eq!(v["settings"]["sent_at_format"], "micros");
}

#[tokio::test]
async fn the_flags_set_the_runs_spelling() {
    let env = Env::with_config(|c| {
        c.sent_at_format = divar_sim::state::SentAtFormat::Rfc3339;
        c.human_sender_type = divar_sim::state::HumanSenderType::User;
    })
    .await;
    let u = env.chat().await["buyer_user_id"].as_str().unwrap().to_string();
    env.ctl("POST", "/_sim/bot/messages", json!({"user_id": u, "text": "x"}))
        .await;
    let m = &env.app.events()[0]["new_chatbot_message"];
    assert!(m["sent_at"].is_string());
    assert_eq!(m["sender"], json!({"type": "USER"}));
    env.ctl("POST", "/_sim/settings", json!({"human_sender_type": "HUMAN"}))
        .await;
    env.ctl("POST", "/_sim/reset", json!({})).await;
    let (_, v) = env.ctl("GET", "/_sim/settings", json!({})).await;
    assert_eq!(v["settings"]["human_sender_type"], "USER", "reset returns to the flags");
}
