//! `POST /divar/dynamic-action`: Divar asks what a one-tap button does. One dynamic-action URL
//! serves every service: the button's data names its service (`svc`), and the tap goes to
//! that conversation's object, where the service answers it.

use crate::config::Config;
use crate::delivery::{conversation_key, PersonKey};
use crate::dispatch;
use crate::error::AppResult;
use crate::flows::divar_auth::authenticated_json_body;
use crate::kenar::dynamic_action::{parse_dynamic_action, DynamicActionAnswer};
use crate::objects::conversation::{self, ConversationCommand};
use crate::platform::Platform;
use crate::services::{Actor, ConversationKind, Service, ServiceId};
use crate::web::{Request, Response};

const BODY_LIMIT: usize = 16 * 1024;
const UNKNOWN_TOAST: &str = "این دکمه دیگر کار نمی‌کند؛ آخرین پیام گفتگو را ببینید.";
const OPEN_PAGE_TOAST: &str = "برای پاسخ، افزونه را باز کنید.";

pub async fn handle<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let body = authenticated_json_body(cfg, req, BODY_LIMIT)?;
    let tap = parse_dynamic_action(body)?;
    let (Some(service), Some(conversation_id)) = (ServiceId::of_button(&tap.data), tap.conversation_id.as_deref())
    else {
        return Ok(Response::json(200, &DynamicActionAnswer::toast(UNKNOWN_TOAST)));
    };
    let person = match (tap.user_id.as_deref(), dispatch!(service, S => S::KIND)) {
        (Some(user_id), _) => PersonKey::of_user(user_id),
        // The bot posts with the app's key, on nobody's behalf: its chat stands in.
        (None, ConversationKind::Bot) => PersonKey::of_session(&format!("bot:{conversation_id}")),
        // Without a user id we cannot know whose permission to post with: the page asks.
        (None, ConversationKind::Post) => return Ok(Response::json(200, &DynamicActionAnswer::toast(OPEN_PAGE_TOAST))),
    };
    let command = ConversationCommand::Tap {
        conversation_id: conversation_id.to_string(),
        service,
        actor: Actor {
            person,
            side: tap.user_side,
            session: None,
            post_token: tap.post_token.as_deref().map(str::to_string),
            location: None,
        },
        data: tap.data.clone(),
    };
    conversation::call(p.objects(), &conversation_key(conversation_id), &command).await
}
