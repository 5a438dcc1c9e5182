//! Chat messages for the v2 conversation send (`ChatAPIConversationSendMessageBody` in Divar's
//! OpenAPI). The button grid cannot hold more than 3 rows of 3, by construction: rows are only
//! added through `ButtonGrid::row`, which refuses a fourth row or a fourth button.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MAX_ROWS: usize = 3;
pub const MAX_BUTTONS_PER_ROW: usize = 3;

/// What a button does. `data` values are strings: every public example uses strings, and
/// Divar hands them back verbatim in the session-init or dynamic-action body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    OpenDirectLink(String),
    OpenServerLink { data: BTreeMap<String, String> },
    GetDynamicAction { data: BTreeMap<String, String> },
    OpenPostPage { post_token: String },
    OpenPostManagePage { post_token: String },
}

impl Action {
    pub fn server_link(data: &[(&str, &str)]) -> Self {
        Action::OpenServerLink { data: to_map(data) }
    }
    pub fn dynamic(data: &[(&str, &str)]) -> Self {
        Action::GetDynamicAction { data: to_map(data) }
    }
}

fn to_map(data: &[(&str, &str)]) -> BTreeMap<String, String> {
    data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub action: Action,
    pub caption: String,
    /// A `DivarIconsIconName`; optional (buttons without icons work).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub icon: Option<String>,
}

impl Button {
    pub fn new(caption: &str, action: Action) -> Self {
        Button {
            action,
            caption: caption.to_string(),
            icon: None,
        }
    }
    pub fn icon(mut self, icon: &str) -> Self {
        self.icon = Some(icon.to_string());
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Row {
    buttons: Vec<Button>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonGrid {
    rows: Vec<Row>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("a chat message takes at most {MAX_ROWS} rows of buttons")]
    TooManyRows,
    #[error("a row takes between 1 and {MAX_BUTTONS_PER_ROW} buttons")]
    BadRowLength,
}

impl ButtonGrid {
    pub fn row(mut self, buttons: Vec<Button>) -> Result<Self, GridError> {
        if self.rows.len() == MAX_ROWS {
            return Err(GridError::TooManyRows);
        }
        if buttons.is_empty() || buttons.len() > MAX_BUTTONS_PER_ROW {
            return Err(GridError::BadRowLength);
        }
        self.rows.push(Row { buttons });
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds `key = value` to the data of every one-tap (dynamic action) button of `service`
    /// (its data's `svc`), which Divar hands back verbatim when it is tapped.
    pub fn stamp_dynamic(&mut self, service: &str, key: &str, value: &str) {
        for button in self.rows.iter_mut().flat_map(|r| r.buttons.iter_mut()) {
            if let Action::GetDynamicAction { data } = &mut button.action {
                if data.get("svc").map(String::as_str) == Some(service) {
                    data.insert(key.to_string(), value.to_string());
                }
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// One message into a post's conversation: the same text for both people, with separate
/// buttons for the sender and for the receiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationMessage {
    pub message: String,
    #[serde(skip_serializing_if = "ButtonGrid::is_empty", default)]
    pub sender_buttons: ButtonGrid,
    #[serde(skip_serializing_if = "ButtonGrid::is_empty", default)]
    pub receiver_buttons: ButtonGrid,
}

/// One message from the app's bot into a bot conversation (API.md §7.3): the API key alone
/// sends it, and one grid of buttons serves the one person on the other side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotMessage {
    pub text_message: String,
    #[serde(skip_serializing_if = "ButtonGrid::is_empty", default)]
    pub buttons: ButtonGrid,
}

/// Longer texts are refused before they reach Divar, whose limit is undocumented.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Each line starts with a right-to-left mark: what keeps Persian lines right to left in
/// Divar's Android app and on the web alike.
pub fn rtl(text: &str) -> String {
    text.lines()
        .map(|line| format!("\u{200F}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_starts_right_to_left() {
        let text = rtl("یک\nدو");
        assert!(text.lines().all(|l| l.starts_with('\u{200F}')));
        assert_eq!(text.lines().count(), 2);
    }
    use serde_json::json;

    fn b(n: usize) -> Vec<Button> {
        (0..n)
            .map(|i| Button::new(&format!("b{i}"), Action::OpenDirectLink("https://x".into())))
            .collect()
    }

    #[test]
    fn grid_is_at_most_three_by_three() {
        let grid = ButtonGrid::default()
            .row(b(3))
            .and_then(|g| g.row(b(3)))
            .and_then(|g| g.row(b(3)))
            .expect("3x3");
        assert_eq!(grid.rows(), 3);
        assert_eq!(grid.clone().row(b(1)), Err(GridError::TooManyRows));
        assert_eq!(ButtonGrid::default().row(b(4)), Err(GridError::BadRowLength));
        assert_eq!(ButtonGrid::default().row(b(0)), Err(GridError::BadRowLength));
    }

    #[test]
    fn serialises_to_the_openapi_shape() {
        let msg = ConversationMessage {
            message: "سلام".into(),
            sender_buttons: ButtonGrid::default()
                .row(vec![
                    Button::new("ویرایش", Action::server_link(&[("a", "edit")])).icon("EDIT")
                ])
                .expect("row"),
            receiver_buttons: ButtonGrid::default()
                .row(vec![
                    Button::new("بله", Action::dynamic(&[("answer", "yes")])),
                    Button::new(
                        "آگهی",
                        Action::OpenPostPage {
                            post_token: "gZd7omnS".into(),
                        },
                    ),
                    Button::new("سایت", Action::OpenDirectLink("https://a.example/x".into())),
                ])
                .expect("row"),
        };
        assert_eq!(
            serde_json::to_value(&msg).expect("json"),
            json!({
                "message": "سلام",
                "sender_buttons": {"rows": [{"buttons": [
                    {"action": {"open_server_link": {"data": {"a": "edit"}}}, "caption": "ویرایش", "icon": "EDIT"}
                ]}]},
                "receiver_buttons": {"rows": [{"buttons": [
                    {"action": {"get_dynamic_action": {"data": {"answer": "yes"}}}, "caption": "بله"},
                    {"action": {"open_post_page": {"post_token": "gZd7omnS"}}, "caption": "آگهی"},
                    {"action": {"open_direct_link": "https://a.example/x"}, "caption": "سایت"}
                ]}]}
            })
        );
    }

    #[test]
    fn no_buttons_means_no_grid_fields() {
        let msg = ConversationMessage {
            message: "x".into(),
            sender_buttons: ButtonGrid::default(),
            receiver_buttons: ButtonGrid::default(),
        };
        assert_eq!(serde_json::to_value(&msg).expect("json"), json!({"message": "x"}));
    }
}
