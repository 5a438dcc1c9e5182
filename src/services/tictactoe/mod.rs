//! Tic-tac-toe in the app's bot chat, as the Kenar docs' example bot plays it but correct: the
//! board is a 3×3 grid of one-tap buttons, each tap answered with a toast; a move is applied
//! once however often or however concurrently its tap arrives (the conversation's object and
//! the tap's key see to that); every board drawn carries its state version (stamped by the
//! delivery layer), so a tap on an old board, a taken cell or a finished game gets a Persian
//! toast, never a move on the wrong board; and the game is the conversation's own — the object
//! is found by Divar's conversation id, whatever the button data says. Rules and the computer
//! player are in `rules`; the perfect level never loses (its test plays every position).

pub mod rules;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chatbot::menu;
use super::{Actor, ConversationKind, Ctx, Incoming, Service, ServiceId, Step, TapPlan};
use crate::delivery::outbox::DeliveryState;
use crate::delivery::Payload;
use crate::error::AppError;
use crate::kenar::dynamic_action::DynamicActionAnswer;
use crate::kenar::message::rtl;
use crate::kenar::message::{Action, BotMessage, Button, ButtonGrid};
use rules::{choose, Board, Cell, Level, Mark, MoveError, Outcome};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub won: u32,
    pub lost: u32,
    pub drawn: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    pub board: Board,
    /// The person's mark; the bot plays the other. X moves first, and who is X alternates.
    pub human: Mark,
    pub level: Level,
    #[serde(default)]
    pub resigned: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameState {
    pub game: Option<Game>,
    #[serde(default)]
    pub score: Score,
    /// Games started in this chat, for who starts next.
    #[serde(default)]
    pub games: u32,
}

pub struct TicTacToe;

const LEVEL_NAMES: [(Level, &str); 3] = [
    (Level::Easy, "آسان"),
    (Level::Medium, "متوسط"),
    (Level::Perfect, "بی‌نقص"),
];

fn level_name(level: Level) -> &'static str {
    LEVEL_NAMES.iter().find(|(l, _)| *l == level).map_or("", |(_, n)| n)
}

fn mark_glyph(mark: Option<Mark>) -> &'static str {
    match mark {
        Some(Mark::X) => "❌",
        Some(Mark::O) => "⭕",
        None => "⬜",
    }
}

/// Randomness for the computer's choice among equal moves: varied between games, fixed for a
/// given moment (the caller passes the time), so a plan made twice is the same plan.
fn picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut x = seed | 1;
    move |n| {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if n == 0 {
            0
        } else {
            (x % n as u64) as usize
        }
    }
}

impl Game {
    fn over(&self) -> bool {
        self.resigned || !matches!(self.board.outcome(), Outcome::Ongoing)
    }

    /// The bot's move when it is its turn.
    fn bot_moves(mut self, seed: u64) -> Self {
        let bot = self.human.other();
        if self.over() || self.board.to_move() != bot {
            return self;
        }
        if let Some(cell) = choose(&self.board, bot, self.level, &mut picker(seed)) {
            if let Ok(board) = self.board.play(cell, bot) {
                self.board = board;
            }
        }
        self
    }

    fn headline(&self) -> String {
        if self.resigned {
            return "شما تسلیم شدید. یک بازی دیگر؟".into();
        }
        match self.board.outcome() {
            Outcome::Won { by, .. } if by == self.human => "🎉 بردید! یک بازی دیگر؟".into(),
            Outcome::Won { .. } => "ربات برد. یک بازی دیگر؟".into(),
            Outcome::Draw => "مساوی شد. یک بازی دیگر؟".into(),
            Outcome::Ongoing => format!(
                "نوبت شماست ({}) — سطح {}. یک خانه را بزنید.",
                mark_glyph(Some(self.human)),
                level_name(self.level)
            ),
        }
    }

    /// The board as the chat shows it: while playing, nine one-tap cells; once over, the final
    /// board as text and the menu to play again.
    fn message(&self, score: &Score) -> Payload {
        let mut text = self.headline();
        if self.over() {
            for row in 0..3u8 {
                text.push('\n');
                for col in 0..3u8 {
                    let cell = Cell::new(row * 3 + col);
                    text.push_str(mark_glyph(cell.and_then(|c| self.board.get(c))));
                }
            }
            text.push_str(&format!(
                "\nامتیاز: برد {} — باخت {} — مساوی {}",
                crate::services::visit::jalali::persian_digits(&score.won.to_string()),
                crate::services::visit::jalali::persian_digits(&score.lost.to_string()),
                crate::services::visit::jalali::persian_digits(&score.drawn.to_string())
            ));
            return Payload::Bot(BotMessage {
                text_message: rtl(&text),
                buttons: menu(),
            });
        }
        let grid = (0..3u8).try_fold(ButtonGrid::default(), |grid, row| {
            let buttons = (0..3u8)
                .filter_map(|col| Cell::new(row * 3 + col))
                .map(|cell| {
                    let index = cell.index().to_string();
                    Button::new(
                        mark_glyph(self.board.get(cell)),
                        Action::dynamic(&[("svc", "ttt"), ("v", "move"), ("c", &index)]),
                    )
                })
                .collect();
            grid.row(buttons)
        });
        Payload::Bot(BotMessage {
            text_message: rtl(&text),
            buttons: grid.unwrap_or_default(),
        })
    }
}

/// Counts a finished game once, when it finishes.
fn tally(mut state: GameState, game: Game) -> GameState {
    if game.over() {
        match game.board.outcome() {
            _ if game.resigned => state.score.lost += 1,
            Outcome::Won { by, .. } if by == game.human => state.score.won += 1,
            Outcome::Won { .. } => state.score.lost += 1,
            _ => state.score.drawn += 1,
        }
    }
    state.game = Some(game);
    state
}

fn new_game(state: &GameState, level: Level, seed: u64) -> Step<GameState> {
    // The person starts every other game.
    let human = if state.games.is_multiple_of(2) {
        Mark::X
    } else {
        Mark::O
    };
    let game = Game {
        board: Board::empty(),
        human,
        level,
        resigned: false,
    }
    .bot_moves(seed);
    let message = game.message(&state.score);
    Step {
        state: Some(GameState {
            game: Some(game),
            score: state.score.clone(),
            games: state.games + 1,
        }),
        label: format!("بازی جدید ({})", level_name(level)),
        message,
    }
}

fn text_level(text: &str) -> Option<Level> {
    LEVEL_NAMES
        .iter()
        .find(|(_, name)| text.contains(name))
        .map(|(l, _)| *l)
}

fn say(text: &str) -> Step<GameState> {
    Step {
        state: None,
        label: text.into(),
        message: Payload::Bot(BotMessage {
            text_message: rtl(text),
            buttons: ButtonGrid::default(),
        }),
    }
}

const WAIT: &str = "حرکت قبلی هنوز در راه است؛ یک لحظه صبر کنید.";

impl Service for TicTacToe {
    const ID: ServiceId = ServiceId::TicTacToe;
    const KIND: ConversationKind = ConversationKind::Bot;
    type State = GameState;

    fn on_message(ctx: &Ctx, state: &GameState, message: &Incoming, in_flight: bool) -> Option<Step<GameState>> {
        let text = message.text.as_deref()?.trim();
        let new = matches!(text, "/game" | "/restart" | "بازی" | "دوز" | "بازی جدید") || text.starts_with("بازی دوز");
        let resign = matches!(text, "تسلیم" | "/resign");
        if !new && !resign && text_level(text).is_none() {
            return None;
        }
        if in_flight {
            return Some(say(WAIT));
        }
        if resign {
            return Some(match state.game.clone().filter(|g| !g.over()) {
                Some(mut game) => {
                    game.resigned = true;
                    let next = tally(state.clone(), game.clone());
                    Step {
                        message: game.message(&next.score),
                        state: Some(next),
                        label: "تسلیم".into(),
                    }
                }
                None => say("بازی‌ای در جریان نیست. «بازی جدید» بنویسید."),
            });
        }
        let level = text_level(text).unwrap_or(Level::Perfect);
        Some(new_game(state, level, ctx.now_ms))
    }

    fn busy() -> AppError {
        AppError::Conflict(WAIT.into())
    }

    fn plan_tap(
        ctx: &Ctx,
        state: &GameState,
        _actor: &Actor,
        data: &Map<String, Value>,
    ) -> Result<TapPlan<GameState>, DynamicActionAnswer> {
        let text = |key: &str| data.get(key).and_then(Value::as_str);
        match text("v") {
            Some("new") => {
                let level = text("l").and_then(Level::parse).unwrap_or(Level::Perfect);
                Ok(TapPlan {
                    step: new_game(state, level, ctx.now_ms),
                    open_page: Self::stale_tap(),
                })
            }
            Some("move") => {
                let cell = text("c")
                    .and_then(|c| c.parse::<u8>().ok())
                    .and_then(Cell::new)
                    .ok_or_else(Self::stale_tap)?;
                let game = state
                    .game
                    .clone()
                    .ok_or_else(|| DynamicActionAnswer::toast("بازی‌ای در جریان نیست؛ «بازی جدید» را بزنید."))?;
                if game.over() {
                    return Err(DynamicActionAnswer::toast("این بازی تمام شده؛ «بازی جدید» را بزنید."));
                }
                let board = game.board.play(cell, game.human).map_err(|e| match e {
                    MoveError::Taken => DynamicActionAnswer::toast("این خانه پر است؛ خانهٔ دیگری را بزنید."),
                    MoveError::NotYourTurn => DynamicActionAnswer::toast(WAIT),
                    MoveError::GameOver => DynamicActionAnswer::toast("این بازی تمام شده؛ «بازی جدید» را بزنید."),
                })?;
                let game = Game { board, ..game }.bot_moves(ctx.now_ms);
                let next = tally(state.clone(), game.clone());
                Ok(TapPlan {
                    step: Step {
                        message: game.message(&next.score),
                        state: Some(next),
                        label: format!("حرکت در خانهٔ {}", cell.index() + 1),
                    },
                    open_page: Self::stale_tap(),
                })
            }
            _ => Err(Self::stale_tap()),
        }
    }

    fn tap_key(ctx: &Ctx, data: &Map<String, Value>) -> Option<String> {
        let text = |key: &str| data.get(key).and_then(Value::as_str);
        // The board a tap was drawn from: one move per cell per board.
        let drawn_from: String = text(crate::delivery::outbox::STATE_VERSION_KEY)
            .unwrap_or("-")
            .chars()
            .take(12)
            .collect();
        match text("v")? {
            "move" => Some(format!(
                "ttt:move:{drawn_from}:{}",
                text("c")?.chars().take(2).collect::<String>()
            )),
            // A new game per tap of a level, but a repeated delivery within ten seconds is the same.
            "new" => Some(format!(
                "ttt:new:{drawn_from}:{}:{}",
                text("l").unwrap_or("-").chars().take(8).collect::<String>(),
                ctx.now_ms / 10_000
            )),
            _ => None,
        }
    }

    fn stale_tap() -> DynamicActionAnswer {
        DynamicActionAnswer::toast("این صفحهٔ بازی قدیمی است؛ آخرین پیام را ببینید.")
    }

    fn tapped(_ctx: &Ctx, state: &GameState, delivery: DeliveryState) -> DynamicActionAnswer {
        match delivery {
            DeliveryState::Sent => DynamicActionAnswer::toast(
                &state
                    .game
                    .as_ref()
                    .map(Game::headline)
                    .unwrap_or_else(|| "ثبت شد.".into()),
            ),
            DeliveryState::Pending | DeliveryState::Sending | DeliveryState::Waiting => {
                DynamicActionAnswer::toast("حرکت شما ثبت شد و به‌زودی صفحهٔ بازی می‌آید.")
            }
            DeliveryState::NeedsConsent | DeliveryState::Failed => {
                DynamicActionAnswer::toast("ارسال نشد؛ کمی بعد دوباره بزنید.")
            }
        }
    }
}
