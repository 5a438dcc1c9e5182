//! Every service as a state machine driven by outside input: one-tap button data
//! (`ServiceId::of_button`, each service's `tap_key` and `plan_tap`, the tic-tac-toe and visit
//! tap readers among them), the page's operations and bodies (`PageService::plan`, `view`,
//! `resource`), and people's messages (`on_message`), in any order, from either side, as time
//! passes. Each step's state becomes the next step's (as the conversation's object keeps it),
//! and every state reads back from its stored JSON.
#![no_main]

use arbitrary::Arbitrary;
use kenar_edge::config::Config;
use kenar_edge::delivery::outbox::DeliveryState;
use kenar_edge::delivery::PersonKey;
use kenar_edge::kenar::side::UserSide;
use kenar_edge::services::assistant::{Assistant, Settings};
use kenar_edge::services::chatbot::Chatbot;
use kenar_edge::services::tictactoe::TicTacToe;
use kenar_edge::services::visit::Visit;
use kenar_edge::services::{Actor, Ctx, Incoming, PageService, Poster, Service, ServiceId, Step};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
    Buyer,
    Seller,
    NoSide,
}

#[derive(Arbitrary, Debug)]
enum Act<'a> {
    /// Button data: a JSON object, or else `{"svc": <service>, "v": <text>}`.
    Tap {
        who: Who,
        data: &'a str,
        extra: Option<(&'a str, &'a str)>,
    },
    Op {
        who: Who,
        op: &'a str,
        body: &'a str,
    },
    Message {
        who: Who,
        text: Option<&'a str>,
        in_flight: bool,
        seller_joined: bool,
    },
    View {
        who: Who,
        in_flight: bool,
    },
    Resource(&'a str),
    Advance(u32),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    service: u8,
    acts: Vec<Act<'a>>,
}

const DELIVERY: [DeliveryState; 6] = [
    DeliveryState::Pending,
    DeliveryState::Sending,
    DeliveryState::Sent,
    DeliveryState::Waiting,
    DeliveryState::NeedsConsent,
    DeliveryState::Failed,
];

fn actor(who: Who) -> Actor {
    let (user, side) = match who {
        Who::Buyer => ("u-1", Some(UserSide::Demand)),
        Who::Seller => ("u-2", Some(UserSide::Supply)),
        Who::NoSide => ("u-3", None),
    };
    Actor {
        person: PersonKey::of_user(user),
        side,
        session: Some("0123456789abcdef0123456789abcdef".into()),
        post_token: Some("wZC44q5D".into()),
        location: None,
    }
}

fn button(service: ServiceId, raw: &str, extra: Option<(&str, &str)>) -> Map<String, Value> {
    let mut data = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => m,
        _ => {
            let mut m = Map::new();
            m.insert("svc".into(), service.name().into());
            m.insert("v".into(), raw.into());
            m
        }
    };
    if let Some((k, v)) = extra {
        data.insert(k.into(), v.into());
    }
    data
}

/// The page operations of the services that have a page.
trait Page: Service {
    fn plan_op(_: &Ctx, _: &Self::State, _: &Actor, _: &str, _: &str) -> Option<Step<Self::State>> {
        None
    }
    fn show(_: &Ctx, _: &Self::State, _: &Actor, _: bool) {}
    fn file(_: &Ctx, _: &Self::State, _: &str) {}
}

impl Page for Visit {
    fn plan_op(ctx: &Ctx, s: &Self::State, a: &Actor, op: &str, body: &str) -> Option<Step<Self::State>> {
        <Visit as PageService>::plan(ctx, s, a, op, body).ok()
    }
    fn show(ctx: &Ctx, s: &Self::State, a: &Actor, in_flight: bool) {
        let _ = <Visit as PageService>::view(ctx, s, a, in_flight);
        for d in DELIVERY {
            let _ = <Visit as PageService>::answered(ctx, s, d, in_flight);
        }
    }
    fn file(ctx: &Ctx, s: &Self::State, name: &str) {
        if let Ok(r) = <Visit as PageService>::resource(ctx, s, name) {
            // The calendar file, or the Persian page saying the visit changed.
            let html = r.header("content-type").is_some_and(|t| t.starts_with("text/html"));
            assert!(r.status == 200 || (r.status == 404 && html), "{}", r.status);
        }
    }
}
impl Page for TicTacToe {}
impl Page for Chatbot {}
impl Page for Assistant {}

fn keep<S: Service>(state: &mut S::State, step: Option<Step<S::State>>) {
    if let Some(next) = step.and_then(|s| s.state) {
        let stored = serde_json::to_string(&next).expect("a state serialises");
        let back: S::State = serde_json::from_str(&stored).expect("a stored state reads back");
        assert_eq!(
            serde_json::to_string(&back).expect("json"),
            stored,
            "state changed in storage"
        );
        *state = next;
    }
}

fn drive<S: Page>(cfg: &Config, acts: &[Act<'_>]) {
    let mut now = 1_700_000_000_000u64;
    let mut state = S::State::default();
    let poster = Poster {
        person: PersonKey::of_user("u-2"),
        post_token: "wZC44q5D".into(),
        assistant: Settings {
            enabled: true,
            ..Settings::default()
        },
    };
    for (i, act) in acts.iter().take(16).enumerate() {
        let ctx = Ctx::new(cfg, now, "conv-1");
        match act {
            Act::Tap { who, data, extra } => {
                let data = button(S::ID, data, *extra);
                if ServiceId::of_button(&data) != Some(S::ID) {
                    continue;
                }
                let _ = S::tap_key(&ctx, &data);
                match S::plan_tap(&ctx, &state, &actor(*who), &data) {
                    Ok(plan) => keep::<S>(&mut state, Some(plan.step)),
                    Err(toast) => assert!(toast.text_message.is_some() || toast.action.is_some()),
                }
            }
            Act::Op { who, op, body } => {
                let step = S::plan_op(&ctx, &state, &actor(*who), op, body);
                keep::<S>(&mut state, step);
            }
            Act::Message {
                who,
                text,
                in_flight,
                seller_joined,
            } => {
                let a = actor(*who);
                let message = Incoming {
                    id: format!("m-{i}"),
                    text: text.map(kenar_edge::web::clean_text),
                    sender_user_id: Some("u".into()),
                    post_token: a.post_token.clone(),
                    side: a.side,
                    poster: (S::ID == ServiceId::Assistant).then(|| poster.clone()),
                    seller_joined: *seller_joined,
                };
                let step = S::on_message(&ctx, &state, &message, *in_flight);
                if *in_flight {
                    assert!(step.as_ref().is_none_or(|s| s.state.is_none() || S::STATE_AT_ONCE));
                }
                keep::<S>(&mut state, step);
            }
            Act::View { who, in_flight } => {
                S::show(&ctx, &state, &actor(*who), *in_flight);
                let _ = S::glance(&ctx, &state);
                for d in DELIVERY {
                    let _ = S::tapped(&ctx, &state, d);
                }
            }
            Act::Resource(name) => S::file(&ctx, &state, name),
            Act::Advance(ms) => now = now.saturating_add(u64::from(*ms) * 1000),
        }
    }
}

thread_local! {
    static CONFIG: Config = kenar_edge_fuzz::dev_config();
}

fuzz_target!(|input: Input<'_>| {
    CONFIG.with(
        |cfg| match ServiceId::ALL[usize::from(input.service) % ServiceId::ALL.len()] {
            ServiceId::Visit => drive::<Visit>(cfg, &input.acts),
            ServiceId::TicTacToe => drive::<TicTacToe>(cfg, &input.acts),
            ServiceId::Chatbot => drive::<Chatbot>(cfg, &input.acts),
            ServiceId::Assistant => drive::<Assistant>(cfg, &input.acts),
        },
    );
});
