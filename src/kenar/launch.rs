//! The session-init ("server link") body Divar POSTs before opening our page, in both versions,
//! normalised into one `LaunchContext`. The version is read from the body's shape, never from
//! the `API-Version` header, which proxies drop when it is spelt `API_VERSION` (API.md §12.3).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{ConversationId, PostToken, UserId};
use super::side::UserSide;

/// Upper bounds on each field. Divar documents tighter ones (post token 10, conversation id 64);
/// these leave headroom for a format change while bounding what we store and sign.
const MAX_SOURCE: usize = 32;
/// What our own buttons put in `data` comes back here; kept small because it rides in the handle.
pub const MAX_EXTRA_DATA_BYTES: usize = 4 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadVersion {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
}

/// Where the person came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// The chat's add-ons menu.
    Chat,
    /// A button (`open_server_link`) on a message we posted.
    ChatMessageAction,
    PostAddon,
    /// The v1 body carried no source; it was always a chat launch.
    Legacy,
    /// A source Divar added after this was written; kept, not refused.
    #[serde(untagged)]
    Other(String),
}

impl Source {
    fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "CHAT" => Source::Chat,
            "CHAT_MESSAGE_ACTION" => Source::ChatMessageAction,
            // The doc's own table spells it POST_ADODN.
            "POST_ADDON" | "POST_ADODN" => Source::PostAddon,
            // Our own name for v1 launches: a v2 body saying it is read as what the handle
            // would read it back as (an `Other("LEGACY")` would come back as `Legacy`).
            "LEGACY" => Source::Legacy,
            other => Source::Other(other.to_string()),
        }
    }
}

/// A launch, as every later step sees it, whichever body version Divar sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchContext {
    pub version: PayloadVersion,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub post_token: Option<PostToken>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub conversation_id: Option<ConversationId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_side: Option<UserSide>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<UserId>,
    /// v1 only: the other person in the chat.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peer_id: Option<UserId>,
    /// The `data` of the button that opened us (`extra_data`, `provider_data` or v1's
    /// `extra_data.provider_data`), as Divar passed it back.
    #[serde(skip_serializing_if = "Map::is_empty", default)]
    pub extra_data: Map<String, Value>,
    /// v1 location-message launches: latitude and longitude as Divar sent them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<Location>,
}

impl LaunchContext {
    /// Issue divar-ir/kenar-docs#190: for a buyer, `conversation_id` has been seen equal to the
    /// post token, which cannot tell two buyers apart. Flows that key state on the conversation
    /// check this first.
    pub fn conversation_is_post_token(&self) -> bool {
        matches!((&self.conversation_id, &self.post_token), (Some(c), Some(p)) if c.as_str() == p.as_str())
    }
}

pub use super::BodyError as LaunchError;

fn field(field: &'static str, why: &'static str) -> LaunchError {
    LaunchError::Field { field, why }
}

fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a Map<String, Value>>, LaunchError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(field(name, "must be an object")),
    }
}

fn detect_version(obj: &Map<String, Value>) -> PayloadVersion {
    let has = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    if has("source") || has("user_side") {
        PayloadVersion::V2
    } else if ["callback_url", "peer_id", "supplier", "Supplier", "demand"]
        .iter()
        .any(|k| has(k))
    {
        PayloadVersion::V1
    } else {
        PayloadVersion::V2
    }
}

/// Latitude and longitude, as the text Divar sent.
pub type Location = (String, String);

/// Our button data and, for v1 location launches, the location, from wherever Divar put them.
pub(crate) fn extra_data(obj: &Map<String, Value>) -> Result<(Map<String, Value>, Option<Location>), LaunchError> {
    let mut data = Map::new();
    let mut location = None;
    if let Some(extra) = opt_object(obj, "extra_data")? {
        for (k, v) in extra {
            match (k.as_str(), v) {
                ("provider_data", Value::Object(inner)) => data.extend(inner.clone()),
                ("provider_data", Value::Null) => {}
                ("location", Value::Object(loc)) => {
                    let coord = |name| match loc.get(name) {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    };
                    location = coord("latitude").zip(coord("longitude"));
                }
                _ => {
                    data.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if let Some(provider) = opt_object(obj, "provider_data")? {
        data.extend(provider.clone());
    }
    let size = serde_json::to_string(&data).map(|s| s.len()).unwrap_or(usize::MAX);
    if size > MAX_EXTRA_DATA_BYTES {
        return Err(field("extra_data", "is larger than 4 KiB"));
    }
    Ok((data, location))
}

/// An identifier Divar sent, or `None` when it is absent, empty or not an identifier of that
/// kind (numeric user ids are read as their digits). A launch is never refused for one: the
/// page tells the person what it cannot do without it.
fn id<T>(obj: &Map<String, Value>, name: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    match obj.get(name)? {
        Value::String(s) => parse(s),
        Value::Number(n) => parse(&n.to_string()),
        _ => None,
    }
}

/// `{"id": "…"}` in v1's `supplier` / `demand` (the Oct-2023 doc capitalised `Supplier`).
fn party(obj: &Map<String, Value>, names: [&str; 2]) -> Option<UserId> {
    names
        .iter()
        .find_map(|name| obj.get(*name).and_then(Value::as_object))
        .and_then(|party| id(party, "id", UserId::parse))
}

/// Parses a session-init body of either version. Only a body that is not a JSON object is
/// refused: Divar shows the person whatever we answer, and an error there is one they cannot
/// act on. Anything missing or malformed inside is left out, and the page says what that
/// means for them; unknown fields are ignored.
pub fn parse_launch(body: &[u8]) -> Result<LaunchContext, LaunchError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| LaunchError::NotJson)?;
    let obj = value.as_object().ok_or(LaunchError::NotObject)?;
    let version = detect_version(obj);
    let post_token = id(obj, "post_token", PostToken::parse);
    let conversation_id = id(obj, "conversation_id", ConversationId::parse);
    let user_id = id(obj, "user_id", UserId::parse);
    // Our own button data: without it the page opens at its start.
    let (extra_data, location) = extra_data(obj).unwrap_or_default();
    Ok(match version {
        PayloadVersion::V2 => LaunchContext {
            version,
            source: match obj.get("source").and_then(Value::as_str) {
                Some(raw) if !raw.trim().is_empty() && raw.len() <= MAX_SOURCE => Source::parse(raw),
                _ => Source::Other(String::new()),
            },
            post_token,
            conversation_id,
            user_side: obj.get("user_side").and_then(Value::as_str).and_then(UserSide::parse),
            user_id,
            peer_id: None,
            extra_data,
            location,
        },
        PayloadVersion::V1 => {
            let supplier = party(obj, ["supplier", "Supplier"]);
            let demand = party(obj, ["demand", "Demand"]);
            let user_side = match &user_id {
                Some(u) if supplier.as_ref() == Some(u) => Some(UserSide::Supply),
                Some(u) if demand.as_ref() == Some(u) => Some(UserSide::Demand),
                _ => None,
            };
            LaunchContext {
                version,
                source: Source::Legacy,
                post_token,
                conversation_id,
                user_side,
                user_id,
                peer_id: id(obj, "peer_id", UserId::parse),
                extra_data,
                location,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<LaunchContext, LaunchError> {
        parse_launch(v.to_string().as_bytes())
    }

    #[test]
    fn v2_documented_example() {
        let ctx = parse(json!({
            "source": "CHAT",
            "post_token": "wZC44q5D",
            "conversation_id": "6b3d5cf7-9291-4fa9-892a-9d07e300daea",
            "user_side": "Supply",
            "extra_data": {"your_key_1": "your value"},
            "user_id": "6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI="
        }))
        .expect("valid");
        assert_eq!(ctx.version, PayloadVersion::V2);
        assert_eq!(ctx.source, Source::Chat);
        assert_eq!(ctx.post_token.as_deref(), Some("wZC44q5D"));
        assert_eq!(
            ctx.conversation_id.as_deref(),
            Some("6b3d5cf7-9291-4fa9-892a-9d07e300daea")
        );
        assert_eq!(ctx.user_side, Some(UserSide::Supply));
        assert_eq!(ctx.extra_data.get("your_key_1"), Some(&json!("your value")));
        assert!(!ctx.conversation_is_post_token());
    }

    #[test]
    fn v2_tolerates_casing_provider_data_nulls_and_unknown_fields() {
        let ctx = parse(json!({
            "source": "chat_message_action",
            "post_token": null,
            "conversation_id": "c-1",
            "user_side": "DEMAND",
            "provider_data": {"proposal": "p1"},
            "user_id": null,
            "brand_new_field": {"nested": true},
            "completion_url": "https://evil.example/"
        }))
        .expect("valid");
        assert_eq!(ctx.source, Source::ChatMessageAction);
        assert_eq!(ctx.user_side, Some(UserSide::Demand));
        assert_eq!(ctx.post_token, None);
        assert_eq!(ctx.user_id, None);
        assert_eq!(ctx.extra_data.get("proposal"), Some(&json!("p1")));
        let stored = serde_json::to_string(&ctx).expect("ser");
        assert!(
            !stored.contains("evil.example"),
            "a return URL in the body is never kept"
        );
    }

    #[test]
    fn v2_missing_user_side_and_extra_data_are_fine() {
        let ctx = parse(json!({"source": "CHAT", "conversation_id": "c"})).expect("valid");
        assert_eq!(ctx.user_side, None);
        assert!(ctx.extra_data.is_empty());
    }

    #[test]
    fn v2_post_addon_typo_and_future_sources() {
        let ctx = parse(json!({"source": "POST_ADODN", "post_token": "AZTH74V2"})).expect("valid");
        assert_eq!(ctx.source, Source::PostAddon);
        let ctx = parse(json!({"source": "MY_DIVAR"})).expect("valid");
        assert_eq!(ctx.source, Source::Other("MY_DIVAR".into()));
        assert_eq!(serde_json::to_value(&ctx.source).expect("ser"), json!("MY_DIVAR"));
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/launch.rs`): a launch must read back from the
    /// handle exactly as it was parsed, whatever source Divar names.
    #[test]
    fn every_source_reads_back_the_same_from_the_handle() {
        for source in [
            "CHAT",
            "chat_message_action",
            "POST_ADODN",
            "legacy",
            " Legacy ",
            "MY_DIVAR",
            "other",
        ] {
            let ctx = parse(json!({"source": source, "conversation_id": "c", "post_token": "p"})).expect("valid");
            let back: LaunchContext =
                serde_json::from_slice(&serde_json::to_vec(&ctx).expect("ser")).expect("reads back");
            assert_eq!(back, ctx, "{source}");
        }
    }

    #[test]
    fn v2_buyer_conversation_equal_to_post_token_is_flagged() {
        let ctx =
            parse(json!({"source": "CHAT", "post_token": "wZC44q5D", "conversation_id": "wZC44q5D"})).expect("ok");
        assert!(ctx.conversation_is_post_token());
    }

    #[test]
    fn version_comes_from_the_body_not_a_header() {
        let v1 = parse(json!({"post_token": "p", "user_id": "u", "peer_id": "q"})).expect("v1");
        assert_eq!(v1.version, PayloadVersion::V1);
        let v2 = parse(json!({"user_side": "supply", "source": "CHAT", "conversation_id": "c"})).expect("v2");
        assert_eq!(v2.version, PayloadVersion::V2);
    }

    #[test]
    fn v1_documented_body() {
        let ctx = parse(json!({
            "extra_data": {"provider_data": {"k": "v"}},
            "callback_url": "https://open-platform-redirect.divar.ir/completion",
            "post_token": "post-token",
            "conversation_id": "813d3106-dcb8-4283-b2a3-29e8edcc4dbc",
            "user_id": "demand_id",
            "peer_id": "supplier_id",
            "supplier": {"id": "supplier_id"},
            "demand": {"id": "demand_id"}
        }))
        .expect("valid");
        assert_eq!(ctx.version, PayloadVersion::V1);
        assert_eq!(ctx.source, Source::Legacy);
        assert_eq!(ctx.user_side, Some(UserSide::Demand));
        assert_eq!(ctx.peer_id.as_deref(), Some("supplier_id"));
        assert_eq!(ctx.extra_data.get("k"), Some(&json!("v")));
        assert_eq!(
            ctx.conversation_id.as_deref(),
            Some("813d3106-dcb8-4283-b2a3-29e8edcc4dbc")
        );
    }

    #[test]
    fn v1_capital_supplier_location_and_no_conversation() {
        let ctx = parse(json!({
            "extra_data": {"location": {"latitude": "35.7", "longitude": 51.348}},
            "callback_url": "x",
            "post_token": "p",
            "user_id": "s1",
            "Supplier": {"id": "s1"},
            "demand": {"id": "d1"}
        }))
        .expect("valid");
        assert_eq!(ctx.user_side, Some(UserSide::Supply));
        assert_eq!(ctx.location, Some(("35.7".into(), "51.348".into())));
        assert_eq!(ctx.conversation_id, None);
        assert!(ctx.extra_data.is_empty());
    }

    #[test]
    fn malformed_bodies_name_the_problem() {
        assert_eq!(parse_launch(b"not json"), Err(LaunchError::NotJson));
        assert_eq!(parse_launch(b""), Err(LaunchError::NotJson));
        assert_eq!(parse(json!([1, 2])), Err(LaunchError::NotObject));
        assert_eq!(parse(json!("CHAT")), Err(LaunchError::NotObject));
        // A JSON object is always a launch; what it lacks or garbles is left out, never refused.
        let ok = |v: Value| parse(v.clone()).unwrap_or_else(|e| panic!("{v}: {e:?}"));
        assert_eq!(ok(json!({})).source, Source::Other(String::new()));
        assert_eq!(ok(json!({"source": "CHAT"})).conversation_id, None);
        assert_eq!(ok(json!({"source": "POST_ADDON", "post_token": null})).post_token, None);
        assert_eq!(
            ok(json!({"source": 5, "conversation_id": "c"})).source,
            Source::Other(String::new())
        );
        assert_eq!(
            ok(json!({"source": "CHAT", "conversation_id": "c", "user_side": "both"})).user_side,
            None
        );
        for bad in [
            json!(["c"]),
            json!("c".repeat(129)),
            json!("c1 USER_PHONE"),
            json!("c1.x"),
        ] {
            assert_eq!(
                ok(json!({"source": "CHAT", "conversation_id": bad})).conversation_id,
                None,
                "{bad}"
            );
        }
        assert!(ok(json!({"source": "CHAT", "conversation_id": "c", "extra_data": "x"}))
            .extra_data
            .is_empty());
        assert!(
            ok(json!({"source": "CHAT", "conversation_id": "c", "extra_data": {"k": "x".repeat(5000)}}))
                .extra_data
                .is_empty()
        );
        assert_eq!(ok(json!({"peer_id": "q", "user_id": "u"})).post_token, None);
        assert_eq!(ok(json!({"peer_id": "q", "post_token": "p"})).user_id, None);
        assert_eq!(
            ok(json!({"peer_id": "q", "post_token": "p", "user_id": "u", "supplier": "s"})).user_side,
            None
        );
    }

    #[test]
    fn numeric_ids_are_kept_as_text() {
        let ctx = parse(json!({"post_token": "p", "user_id": 42, "peer_id": 7})).expect("valid");
        assert_eq!(ctx.user_id.as_deref(), Some("42"));
    }

    #[test]
    fn context_round_trips_through_storage() {
        let ctx =
            parse(json!({"source": "CHAT", "conversation_id": "c", "user_side": "Supply", "extra_data": {"a": "b"}}))
                .expect("valid");
        let back: LaunchContext = serde_json::from_str(&serde_json::to_string(&ctx).expect("ser")).expect("de");
        assert_eq!(back, ctx);
    }
}
