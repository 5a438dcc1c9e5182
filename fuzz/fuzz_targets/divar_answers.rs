//! What Divar answers us: token endpoint answers and errors (`kenar::oauth::parse_token_answer`
//! with any status) and the Kenar API's answers to our sends, through the client itself
//! (`KenarClient` over the in-memory platform, so its private RPC-error parsing and
//! `Retry-After` handling are reached). A token answer is taken only from a 200 with a token;
//! a send is retried at most `MAX_ATTEMPTS` times, never waits longer than `MAX_INLINE_WAIT_MS`
//! within a request, and a 2xx is a success.
#![no_main]

use arbitrary::Arbitrary;
use kenar_edge::kenar::client::{token_request, KenarClient, MAX_ATTEMPTS, MAX_INLINE_WAIT_MS};
use kenar_edge::kenar::message::{BotMessage, ConversationMessage};
use kenar_edge::kenar::oauth::parse_token_answer;
use kenar_edge::platform::HttpError;
use kenar_edge::testkit::TestPlatform;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Answer {
    Http {
        status: u16,
        retry_after: Option<String>,
        body: String,
    },
    Timeout,
    Network,
}

#[derive(Arbitrary, Debug)]
enum Call {
    Conversation,
    Bot,
    Subscribe,
}

#[derive(Arbitrary, Debug)]
struct Input {
    token_status: u16,
    token_body: String,
    call: Call,
    answers: Vec<Answer>,
}

fuzz_target!(|input: Input| {
    match parse_token_answer(input.token_status, &input.token_body) {
        Ok(answer) => {
            assert_eq!(input.token_status, 200);
            assert!(!answer.access_token.is_empty());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let p = TestPlatform::default();
    for answer in input.answers.iter().take(4) {
        match answer {
            Answer::Http {
                status,
                retry_after,
                body,
            } => match retry_after {
                Some(v) => p.http.reply_with_header(*status, body, "retry-after", v),
                None => p.http.reply(*status, body),
            },
            Answer::Timeout => p.http.fail(HttpError::Timeout),
            Answer::Network => p.http.fail(HttpError::Network("reset".into())),
        }
    }
    let client = KenarClient {
        platform: &p,
        api_base: "http://127.0.0.1:8790",
        api_key: "k",
        timeout_ms: 5_000,
    };
    let message = ConversationMessage {
        message: "سلام".into(),
        sender_buttons: Default::default(),
        receiver_buttons: Default::default(),
    };
    let result = pollster::block_on(async {
        match input.call {
            Call::Conversation => client.send_conversation_message("c-1", "t", &message).await,
            Call::Bot => {
                let bot = BotMessage {
                    text_message: "سلام".into(),
                    buttons: Default::default(),
                };
                client.send_bot_message("c-1", &bot).await
            }
            Call::Subscribe => {
                client
                    .subscribe_post_messages("wZC44q5D", "t", &serde_json::json!({"post": "wZC44q5D"}))
                    .await
            }
        }
    });
    let sent = p.http.sent().len();
    assert!(sent >= 1 && sent <= MAX_ATTEMPTS as usize, "{sent} attempts");
    for wait in p.slept.borrow().iter() {
        assert!(*wait <= MAX_INLINE_WAIT_MS, "waited {wait} ms inside a request");
    }
    if let Some(Answer::Http { status: 200..=299, .. }) = input.answers.first() {
        assert_eq!(result, Ok(()), "a 2xx is a success");
    }
    if let Err(e) = result {
        let _ = e.to_string();
    }

    // The token endpoint, through the call the OAuth callback and the refresh make.
    let p = TestPlatform::default();
    p.http.reply(input.token_status, &input.token_body);
    let answer = pollster::block_on(token_request(&p.http, "http://127.0.0.1:8790", "a=b".into(), 5_000));
    assert_eq!(
        answer.is_ok(),
        parse_token_answer(input.token_status, &input.token_body).is_ok()
    );
});
