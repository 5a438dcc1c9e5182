//! `POST /divar/events`, the panel's «آدرس ارسال رویدادها»: every event Divar sends. The
//! identification key is checked (the same 401 for a missing and a wrong one); after that,
//! nothing about the content is ever answered with a 4xx, because Divar would redeliver a
//! refused event forever: what cannot be read or is not for us is acknowledged and ignored.
//! A chat message goes to its conversation's object, which handles each message id once and
//! queues any reply; a revocation goes to the person's object.

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::delivery::subscriptions::SellerSubscription;
use crate::delivery::{conversation_key, PersonKey};
use crate::error::{AppError, AppResult};
use crate::kenar::events::{parse_event, ChatMessage, Content, Event, SenderKind};
use crate::kenar::side::UserSide;
use crate::objects::conversation::{self, ConversationCommand};
use crate::objects::person;
use crate::objects::seller::Writer;
use crate::platform::Platform;
use crate::services::{Incoming, Poster};
use crate::web::{clean_text, Body, Request, Response};

/// Divar's events are small; a larger body is not one of them.
const EVENT_MAX_BYTES: usize = 64 * 1024;

fn ignored(why: &str) -> Response {
    Response::json(200, &json!({ "ignored": why }))
}

pub async fn handle<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    if !cfg.identification_key.verify(req.header("authorization")) {
        return Err(AppError::Unauthorized);
    }
    let body = match &req.body {
        Body::Bytes(bytes) if bytes.len() <= EVENT_MAX_BYTES => bytes,
        _ => return Ok(ignored("too_large")),
    };
    let event = match parse_event(body) {
        Ok(event) => event,
        Err(e) => {
            // The reason is ours (a fixed phrase), never the body's text.
            p.log(&format!("events: ignored an event that does not parse: {e}"));
            return Ok(ignored("unreadable"));
        }
    };
    match event {
        Event::NewChatbotMessage(message) => to_conversation(p, message, true, None).await,
        Event::NewMessage { message, metadata } => on_post(p, message, metadata.as_ref()).await,
        Event::UserAccessRevocation { user_id, .. } => {
            let person = PersonKey::of_user(&user_id);
            person::revoke(p.objects(), &person).await.map_err(AppError::Internal)?;
            p.log("events: a person revoked the app's access; their grants are gone");
            Ok(Response::json(200, &json!({ "revoked": true })))
        }
        Event::PostUpdate { .. } | Event::PaymentTransaction { .. } | Event::Unknown { .. } => {
            Ok(ignored("not_handled"))
        }
    }
}

/// A message on a post's chat, through a seller's subscription: noted in the seller's list of
/// the post's conversations, then handed to the conversation with the seller's assistant when
/// it is on.
async fn on_post<P: Platform>(
    p: &P,
    message: ChatMessage,
    metadata: Option<&Map<String, Value>>,
) -> AppResult<Response> {
    let Some(sub) = SellerSubscription::from_metadata(metadata) else {
        return Ok(ignored("not_our_subscription"));
    };
    // A message of another post under this subscription's metadata is not the seller's to
    // answer (Divar names the post; the metadata is ours).
    if message.post_token.as_deref().is_some_and(|post| post != sub.post_token) {
        return Ok(ignored("another_post"));
    }
    let from = match (message.sender.kind, message.sender.side) {
        (SenderKind::Bot, _) => Writer::App,
        (_, Some(UserSide::Supply)) => Writer::Seller,
        (_, Some(UserSide::Demand)) => Writer::Buyer,
        (_, None) => Writer::Unknown,
    };
    let text = match &message.content {
        Content::Text(text) => clean_text(text),
        _ => "📎".to_string(),
    };
    let at_ms = message
        .sent_at_micros
        .and_then(|us| u64::try_from(us / 1000).ok())
        .unwrap_or_else(|| p.now_ms());
    let key = conversation_key(&message.conversation_id);
    let settings = person::post_message(p.objects(), &sub.person, (&sub.post_token, &key), (from, &text, at_ms))
        .await
        .map_err(AppError::Internal)?;
    let poster = settings.map(|assistant| Poster {
        person: sub.person.clone(),
        post_token: sub.post_token.clone(),
        assistant,
    });
    to_conversation(p, message, false, poster).await
}

async fn to_conversation<P: Platform>(
    p: &P,
    message: ChatMessage,
    bot: bool,
    poster: Option<Poster>,
) -> AppResult<Response> {
    let text = match &message.content {
        Content::Text(text) => Some(clean_text(text)),
        _ => None,
    };
    let command = ConversationCommand::Incoming {
        bot,
        from_bot: message.sender.kind == SenderKind::Bot,
        message: Incoming {
            id: message.id,
            text,
            sender_user_id: message.sender.user_id,
            post_token: message.post_token.map(String::from),
            side: message.sender.side,
            poster,
            seller_joined: false,
        },
        conversation_id: message.conversation_id.to_string(),
    };
    conversation::call(p.objects(), &conversation_key(&message.conversation_id), &command).await
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::delivery::tokens::TokenStatus;
    use crate::testkit::{Chat, IDENTIFICATION_KEY};
    use crate::web::{Method, Request, Response};

    const BOT_SEND: &str = "/v1/open-platform/chat/bot/conversations/";
    const BOT_CHAT: &str = "bot-conv-1";

    fn deliver(chat: &Chat, key: Option<&str>, body: &str) -> Response {
        let mut req = Request::new(Method::Post, "/divar/events")
            .with_header("content-type", "application/json")
            .with_body(body.to_string());
        if let Some(key) = key {
            req = req.with_header("authorization", key);
        }
        chat.request(req)
    }

    fn bot_message(id: &str, text: &str, sender: &str) -> String {
        json!({"type": "NEW_CHATBOT_MESSAGE", "new_chatbot_message": {
            "id": id, "conversation": {"id": BOT_CHAT, "type": "BOT"}, "sender": {"type": sender},
            "type": "TEXT", "sent_at": 1_729_429_926_140_000i64, "text": text}})
        .to_string()
    }

    fn bot_sends(chat: &Chat) -> Vec<Value> {
        chat.http()
            .sent_to(BOT_SEND)
            .iter()
            .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or("")).expect("json"))
            .collect()
    }

    /// Divar answers every bot send.
    fn bot_ok(chat: &Chat, times: usize) {
        for _ in 0..times {
            chat.http().route(BOT_SEND, 200, r#"{"conversation_id":"bot-conv-1"}"#);
        }
    }

    fn tap(chat: &Chat, data: Value) -> Value {
        let body = json!({"conversation_id": BOT_CHAT, "user_id": "u-9", "extra_data": data});
        let r = chat.request(
            Request::new(Method::Post, "/divar/dynamic-action")
                .with_header("authorization", IDENTIFICATION_KEY)
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
        );
        assert_eq!(r.status, 200, "{:?}", r.json_body());
        r.json_body()
    }

    #[test]
    fn the_key_is_checked_and_content_never_gets_a_4xx() {
        let chat = Chat::default();
        let body = bot_message("m-1", "سلام", "HUMAN");
        let missing = deliver(&chat, None, &body);
        let wrong = deliver(&chat, Some("not-the-key-at-all"), &body);
        assert_eq!((missing.status, wrong.status), (401, 401));
        assert_eq!(missing.body, wrong.body, "the same answer for missing and wrong");
        for junk in ["not json", "[]", r#"{"type":"NEW_CHATBOT_MESSAGE"}"#] {
            let r = deliver(&chat, Some(IDENTIFICATION_KEY), junk);
            assert_eq!(
                (r.status, r.json_body()["ignored"].as_str()),
                (200, Some("unreadable")),
                "{junk}"
            );
        }
        for unknown in [r#"{"type":"SOMETHING_NEW","x":1}"#, r#"{"type": 5}"#] {
            let r = deliver(&chat, Some(IDENTIFICATION_KEY), unknown);
            assert_eq!(
                (r.status, r.json_body()["ignored"].as_str()),
                (200, Some("not_handled")),
                "{unknown}"
            );
        }
        assert!(chat.http().sent().is_empty());
    }

    #[test]
    fn a_start_message_is_answered_once_right_to_left_with_a_menu() {
        let chat = Chat::default();
        bot_ok(&chat, 2);
        let body = bot_message("m-1", "/start MY_POST wZC44q5D", "HUMAN");
        for _ in 0..3 {
            let r = deliver(&chat, Some(IDENTIFICATION_KEY), &body);
            assert_eq!(r.status, 200);
        }
        assert!(bot_sends(&chat).is_empty(), "acknowledged before the reply goes out");
        chat.p.fire_alarms();
        let sends = bot_sends(&chat);
        assert_eq!(sends.len(), 1, "three deliveries of one message, one reply");
        let text = sends[0]["text_message"].as_str().expect("text");
        assert!(text.lines().all(|l| l.starts_with('\u{200F}')), "{text}");
        assert!(text.contains("آگهی"), "a hint from MY_POST: {text}");
        assert_eq!(sends[0]["buttons"]["rows"].as_array().map(Vec::len), Some(2));
        let request = &chat.http().sent_to(BOT_SEND)[0];
        assert!(request
            .url
            .ends_with("/v1/open-platform/chat/bot/conversations/bot-conv-1/messages"));
        assert!(
            crate::web::find_header(&request.headers, "authorization").is_none(),
            "the bot sends with the API key alone"
        );
        chat.p.fire_alarms();
        assert_eq!(bot_sends(&chat).len(), 1);
    }

    #[test]
    fn the_apps_own_messages_are_never_answered() {
        let chat = Chat::default();
        let r = deliver(&chat, Some(IDENTIFICATION_KEY), &bot_message("m-own", "منو", "BOT"));
        assert_eq!(r.json_body()["outcome"], "own");
        chat.p.fire_alarms();
        assert!(bot_sends(&chat).is_empty());
    }

    #[test]
    fn a_game_is_played_one_move_per_tap_on_the_current_board_only() {
        let chat = Chat::default();
        bot_ok(&chat, 1);
        deliver(
            &chat,
            Some(IDENTIFICATION_KEY),
            &bot_message("m-1", "بازی دوز بی‌نقص", "HUMAN"),
        );
        chat.p.fire_alarms();
        let board = &bot_sends(&chat)[0];
        let cells = board["buttons"]["rows"].as_array().map(|rows| {
            rows.iter()
                .map(|r| r["buttons"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
        });
        assert_eq!(cells, Some(9), "nine cells to tap");
        let centre = board["buttons"]["rows"][1]["buttons"][1]["action"]["get_dynamic_action"]["data"].clone();
        assert_eq!(centre["c"], "4");
        assert_eq!(centre["sv"], "1", "the board names the state it was drawn from");

        bot_ok(&chat, 1);
        let first = tap(&chat, centre.clone());
        assert!(first["text_message"].as_str().unwrap_or("").contains("نوبت"), "{first}");
        let again = tap(&chat, centre.clone());
        assert_eq!(again, first, "the same tap twice is one move");
        assert_eq!(bot_sends(&chat).len(), 2);
        let stale = tap(&chat, centre);
        assert_eq!(stale, first, "a third delivery too");
        let board = bot_sends(&chat)[1].clone();
        let marks: Vec<String> = board["buttons"]["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["buttons"].as_array().cloned().unwrap_or_default())
            .map(|b| b["caption"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(marks.iter().filter(|m| *m == "❌").count(), 1, "{marks:?}");
        assert_eq!(
            marks.iter().filter(|m| *m == "⭕").count(),
            1,
            "the bot answered: {marks:?}"
        );
        let old = tap(&chat, json!({"svc": "ttt", "v": "move", "c": "0", "sv": "1"}));
        assert!(old["text_message"].as_str().unwrap_or("").contains("قدیمی"), "{old}");
        let taken = board["buttons"]["rows"][1]["buttons"][1]["action"]["get_dynamic_action"]["data"].clone();
        let full = tap(&chat, taken);
        assert!(full["text_message"].as_str().unwrap_or("").contains("پر است"), "{full}");
        let junk = tap(&chat, json!({"svc": "ttt", "v": "move", "c": "99", "sv": "2"}));
        assert!(junk["text_message"].is_string());
        assert_eq!(bot_sends(&chat).len(), 2, "no move from a stale, taken or bad tap");
    }

    #[test]
    fn a_revocation_removes_the_persons_grants() {
        let chat = Chat::default();
        chat.grant("u-1");
        assert!(matches!(chat.token_of("u-1"), TokenStatus::Ready(_)));
        let body = json!({"type": "USER_ACCESS_REVOCATION", "user_access_revocation": {"user_id": "u-1"}}).to_string();
        let r = deliver(&chat, Some(IDENTIFICATION_KEY), &body);
        assert_eq!((r.status, r.json_body()["revoked"].as_bool()), (200, Some(true)));
        assert_eq!(chat.token_of("u-1"), TokenStatus::ConsentNeeded);
    }

    #[test]
    fn a_delivery_is_remembered_for_a_week_then_forgotten() {
        let chat = Chat::default();
        bot_ok(&chat, 2);
        let body = bot_message("m-old", "منو", "HUMAN");
        assert_eq!(
            deliver(&chat, Some(IDENTIFICATION_KEY), &body).json_body()["outcome"],
            "answered"
        );
        chat.p.fire_alarms();
        chat.p.advance_secs(6 * 24 * 3600);
        assert_eq!(
            deliver(&chat, Some(IDENTIFICATION_KEY), &body).json_body()["outcome"],
            "duplicate"
        );
        chat.p.advance_secs(2 * 24 * 3600);
        // Another message prunes what is past the window.
        deliver(&chat, Some(IDENTIFICATION_KEY), &bot_message("m-new", "منو", "HUMAN"));
        let key = crate::delivery::conversation_key(BOT_CHAT);
        let sql = chat.p.objects.sql_of(crate::platform::ObjectClass::Conversation, &key);
        let ids = crate::objects::sql::Sql::exec(&sql, "SELECT id FROM handled ORDER BY id", &[]).expect("ids");
        assert_eq!(ids, vec![vec![crate::objects::sql::SqlValue::Text("m-new".into())]]);
    }
}
