//! The page's free message: posted into the chat on the person's behalf, through the
//! conversation's object, so nothing they submit is lost and one idempotency key is one message
//! however often and however concurrently it arrives.

use serde::Deserialize;

use crate::config::Config;
use crate::delivery::conversation_key;
use crate::error::{AppError, AppResult};
use crate::flows::divar_auth::json_body;
use crate::flows::session::authenticate;
use crate::ids::IdempotencyKey;
use crate::kenar::launch::LaunchContext;
use crate::kenar::message::{Action, Button, ButtonGrid, ConversationMessage, MAX_MESSAGE_CHARS};
use crate::objects::conversation::{self, ConversationCommand};
use crate::platform::Platform;
use crate::web::{clean_text, Request, Response};

const SUBMIT_MAX_BYTES: usize = 8 * 1024;

#[derive(Deserialize)]
struct Submission {
    text: String,
    idempotency_key: String,
}

/// The chat message for what the person wrote: the text for both sides, a button for the
/// receiver to answer through the add-on, and one for the sender to come back to it.
pub fn compose(context: &LaunchContext, text: &str) -> ConversationMessage {
    let open = |purpose: &str| Action::server_link(&[("purpose", purpose)]);
    let receiver = ButtonGrid::default().row(vec![Button::new("پاسخ در افزونه", open("reply")).icon("CHAT_BUBBLE")]);
    let mut sender_row = vec![Button::new("مشاهده در افزونه", open("view"))];
    if let Some(post) = &context.post_token {
        sender_row.push(Button::new(
            "آگهی",
            Action::OpenPostPage {
                post_token: post.to_string(),
            },
        ));
    }
    let sender = ButtonGrid::default().row(sender_row);
    ConversationMessage {
        message: text.to_string(),
        // Both grids are one row of at most two buttons: within 3x3 by construction.
        sender_buttons: sender.unwrap_or_default(),
        receiver_buttons: receiver.unwrap_or_default(),
    }
}

/// `POST /api/messages` `{text, idempotency_key}`.
pub async fn submit<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let body = json_body(req, SUBMIT_MAX_BYTES)?;
    let sub: Submission = serde_json::from_slice(body).map_err(|_| {
        AppError::BadRequest("the body must be JSON with string fields text and idempotency_key".into())
    })?;
    let text = clean_text(&sub.text);
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_MESSAGE_CHARS {
        return Err(AppError::InvalidField {
            field: "text".into(),
            why: format!("must be 1 to {MAX_MESSAGE_CHARS} characters"),
        });
    }
    let key = IdempotencyKey::parse(&sub.idempotency_key)?;
    let conversation_id = session.conversation_id()?;
    let command = ConversationCommand::Message {
        conversation_id: conversation_id.to_string(),
        actor: session.actor(),
        idempotency_key: key.as_str().to_string(),
        message: compose(&session.context, &text),
        text,
    };
    conversation::call(p.objects(), &conversation_key(conversation_id), &command).await
}

/// `GET /api/messages`: this session's submissions and where each one stands.
pub async fn list<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let command = ConversationCommand::Items {
        session: session.handle.session_id.to_string(),
    };
    conversation::call(p.objects(), &conversation_key(session.conversation_id()?), &command).await
}
