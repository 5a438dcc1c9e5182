//! The `get_dynamic_action` call Divar makes when someone taps such a button, and our answer:
//! a toast text, an action, or both (API.md §4.3).

use serde::Serialize;
use serde_json::{Map, Value};

use super::ids::{ConversationId, PostToken, UserId};
use super::launch::{extra_data, LaunchError};
use super::message::Action;
use super::side::UserSide;

#[derive(Clone, Debug, PartialEq)]
pub struct DynamicActionRequest {
    pub conversation_id: Option<ConversationId>,
    pub post_token: Option<PostToken>,
    pub user_side: Option<UserSide>,
    pub user_id: Option<UserId>,
    /// The button's `data`.
    pub data: Map<String, Value>,
}

impl DynamicActionRequest {
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

/// An identifier field: absent, `null` or empty is `None`; anything else must be an identifier
/// of its kind (a number is read as its digits).
fn ident<T>(
    obj: &Map<String, Value>,
    name: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, LaunchError> {
    let invalid = LaunchError::Field {
        field: name,
        why: "is not a valid identifier",
    };
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse(s).map(Some).ok_or(invalid),
        Some(Value::Number(n)) => parse(&n.to_string()).map(Some).ok_or(invalid),
        Some(_) => Err(invalid),
    }
}

pub fn parse_dynamic_action(body: &[u8]) -> Result<DynamicActionRequest, LaunchError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| LaunchError::NotJson)?;
    let obj = value.as_object().ok_or(LaunchError::NotObject)?;
    let user_side = match obj.get("user_side") {
        None | Some(Value::Null) => None,
        Some(raw) => Some(raw.as_str().and_then(UserSide::parse).ok_or(LaunchError::Field {
            field: "user_side",
            why: "must be SUPPLY or DEMAND",
        })?),
    };
    Ok(DynamicActionRequest {
        conversation_id: ident(obj, "conversation_id", ConversationId::parse)?,
        post_token: ident(obj, "post_token", PostToken::parse)?,
        user_side,
        user_id: ident(obj, "user_id", UserId::parse)?,
        data: extra_data(obj)?.0,
    })
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DynamicActionAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_message: Option<String>,
}

impl DynamicActionAnswer {
    pub fn toast(text: &str) -> Self {
        DynamicActionAnswer {
            action: None,
            text_message: Some(text.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_body() {
        let body = json!({
            "touchpoint": "CHAT", "post_token": "wZC44q5D", "conversation_id": "6b3d5cf7",
            "user_side": "SUPPLY", "extra_data": {"v": "pick", "p": "p1", "s": "0"}, "user_id": "6GqmD76d="
        });
        let req = parse_dynamic_action(body.to_string().as_bytes()).expect("valid");
        assert_eq!(req.user_side, Some(UserSide::Supply));
        assert_eq!(req.data_str("v"), Some("pick"));
        assert_eq!(req.conversation_id.as_deref(), Some("6b3d5cf7"));
        assert_eq!(parse_dynamic_action(b"[]"), Err(LaunchError::NotObject));
    }

    #[test]
    fn answers_serialise_to_divars_shape() {
        let a = DynamicActionAnswer {
            action: Some(Action::server_link(&[("v", "answer")])),
            text_message: Some("t".into()),
        };
        assert_eq!(
            serde_json::to_value(a).expect("json"),
            json!({"action": {"open_server_link": {"data": {"v": "answer"}}}, "text_message": "t"})
        );
        assert_eq!(
            serde_json::to_value(DynamicActionAnswer::toast("ok")).expect("json"),
            json!({"text_message": "ok"})
        );
    }
}
