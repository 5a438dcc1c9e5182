//! The app's bot chat: a welcome that fits where the person came from, help, and a menu of
//! one-tap buttons. It answers whatever no other bot service took, so a person always gets a
//! way forward. Divar's `/start` payloads (API.md §7.1) say which touchpoint opened the chat:
//! a hint for what to offer, never a proof of who the person is or what they own.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Actor, ConversationKind, Ctx, Incoming, Service, ServiceId, Step, TapPlan};
use crate::delivery::outbox::DeliveryState;
use crate::delivery::Payload;
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::message::{rtl, Action, BotMessage, Button, ButtonGrid};

/// The bot keeps nothing of its own; the game keeps its board.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nothing {}

pub struct Chatbot;

/// Where the person opened the bot from (`/start …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// From one of their own posts.
    MyPost,
    MyDivar,
    DivarPro,
    /// From a conversation about a post.
    Chat,
    /// From a post they are looking at.
    DemandPost,
    /// A plain `/start`, or a touchpoint we do not know.
    Plain,
}

impl Start {
    /// Reads `/start <TOUCHPOINT> [id]`; `None` when the text is no start command at all.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        if words.next()? != "/start" {
            return None;
        }
        Some(match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("MY_POST") => Start::MyPost,
            Some("MY_DIVAR") => Start::MyDivar,
            Some("DIVAR_PRO") => Start::DivarPro,
            Some("CHAT") => Start::Chat,
            Some("DEMAND_POST") => Start::DemandPost,
            _ => Start::Plain,
        })
    }

    fn greeting(&self) -> &'static str {
        match self {
            Start::MyPost => "سلام! از آگهی‌تان به اینجا آمده‌اید. برای هماهنگی بازدید با خریداران، افزونه را از گفتگوی همان آگهی باز کنید.",
            Start::MyDivar | Start::DivarPro => "سلام! به دستیار کنار خوش آمدید.",
            Start::Chat => "سلام! از یک گفتگو به اینجا آمده‌اید. برای قرار بازدید، افزونه را از همان گفتگو باز کنید.",
            Start::DemandPost => "سلام! برای هماهنگی بازدید این آگهی، از گفتگو با آگهی‌دهنده افزونه را باز کنید.",
            Start::Plain => "سلام! به دستیار کنار خوش آمدید.",
        }
    }
}

const HELP: &str = "این ربات چه می‌کند:\n\
• «بازی دوز»: با ربات دوز (سه‌درخط) بازی کنید؛ سطح «بی‌نقص» هرگز نمی‌بازد.\n\
• هر وقت خواستید «بازی جدید» یا «تسلیم» بنویسید.\n\
• «راهنما» یا «منو»: همین پیام.";

/// The menu: one row of game levels, one of help. Within 3×3 by construction.
pub fn menu() -> ButtonGrid {
    let level = |caption: &str, level: &str| {
        Button::new(caption, Action::dynamic(&[("svc", "ttt"), ("v", "new"), ("l", level)]))
    };
    ButtonGrid::default()
        .row(vec![
            level("دوز آسان", "easy"),
            level("دوز متوسط", "medium"),
            level("دوز بی‌نقص", "perfect"),
        ])
        .and_then(|g| {
            g.row(vec![Button::new(
                "راهنما",
                Action::dynamic(&[("svc", "bot"), ("v", "help")]),
            )])
        })
        .unwrap_or_default()
}

fn reply(text: &str, label: &str) -> Step<Nothing> {
    Step {
        state: None,
        label: label.into(),
        message: Payload::Bot(BotMessage {
            text_message: rtl(text),
            buttons: menu(),
        }),
    }
}

impl Service for Chatbot {
    const ID: ServiceId = ServiceId::Chatbot;
    const KIND: ConversationKind = ConversationKind::Bot;
    type State = Nothing;

    fn on_message(_ctx: &Ctx, _state: &Nothing, message: &Incoming, _in_flight: bool) -> Option<Step<Nothing>> {
        let Some(text) = message.text.as_deref().map(str::trim) else {
            return Some(reply(
                "فعلاً فقط پیام‌های متنی را می‌فهمم. از دکمه‌های زیر استفاده کنید.",
                "پاسخ به پیام غیرمتنی",
            ));
        };
        if let Some(start) = Start::parse(text) {
            return Some(reply(&format!("{}\n{HELP}", start.greeting()), "خوشامد"));
        }
        let help = matches!(text, "/help" | "راهنما" | "منو" | "help" | "menu");
        Some(if help {
            reply(HELP, "راهنما")
        } else {
            reply("متوجه نشدم. یکی از گزینه‌های زیر را بزنید یا «راهنما» بنویسید.", "منو")
        })
    }

    fn busy() -> AppError {
        AppError::Conflict("the bot is still answering; try again in a moment".into())
    }

    fn plan_tap(
        _ctx: &Ctx,
        _state: &Nothing,
        _actor: &Actor,
        data: &Map<String, Value>,
    ) -> Result<TapPlan<Nothing>, DynamicActionAnswer> {
        match data.get("v").and_then(Value::as_str) {
            Some("help") => Ok(TapPlan {
                step: reply(HELP, "راهنما"),
                open_page: Self::stale_tap(),
            }),
            _ => Err(Self::stale_tap()),
        }
    }

    fn tap_key(ctx: &Ctx, data: &Map<String, Value>) -> Option<String> {
        // One help message per minute of taps: a second tap soon after is the same.
        (data.get("v").and_then(Value::as_str) == Some("help")).then(|| format!("bot:help:{}", ctx.now_ms / 60_000))
    }

    fn stale_tap() -> DynamicActionAnswer {
        DynamicActionAnswer::toast("این دکمه دیگر کار نمی‌کند؛ «منو» بنویسید.")
    }

    fn tapped(_ctx: &Ctx, _state: &Nothing, delivery: DeliveryState) -> DynamicActionAnswer {
        match delivery {
            DeliveryState::Failed | DeliveryState::NeedsConsent => {
                DynamicActionAnswer::toast("ارسال نشد؛ کمی بعد دوباره امتحان کنید.")
            }
            _ => DynamicActionAnswer::toast("راهنما فرستاده شد."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_payloads_are_hints() {
        assert_eq!(Start::parse("/start MY_POST wZC44q5D"), Some(Start::MyPost));
        assert_eq!(Start::parse("/start my_divar"), Some(Start::MyDivar));
        assert_eq!(Start::parse("/start DIVAR_PRO"), Some(Start::DivarPro));
        assert_eq!(Start::parse("/start CHAT 6b3d5cf7"), Some(Start::Chat));
        assert_eq!(Start::parse("/start DEMAND_POST gZd7omnS"), Some(Start::DemandPost));
        assert_eq!(Start::parse("/start"), Some(Start::Plain));
        assert_eq!(Start::parse("/start SOMETHING_NEW x"), Some(Start::Plain));
        assert_eq!(Start::parse("start"), None);
        assert_eq!(Start::parse("سلام /start"), None);
    }

    #[test]
    fn the_menu_fits_the_grid_and_names_its_services() {
        let json = serde_json::to_value(menu()).expect("json");
        let rows = json["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0]["buttons"][2]["action"]["get_dynamic_action"]["data"],
            serde_json::json!({"svc": "ttt", "v": "new", "l": "perfect"})
        );
        assert_eq!(
            rows[1]["buttons"][0]["action"]["get_dynamic_action"]["data"]["svc"],
            "bot"
        );
    }
}
