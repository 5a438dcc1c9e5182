//! A deliberately small validator for the subset of OpenAPI 3 / JSON Schema that Divar's spec
//! uses on the endpoints we simulate. A full jsonschema crate would be heavier than the whole
//! simulator and still would not know grpc-gateway's quirks (int64 as strings, unknown fields
//! rejected, null meaning "unset").

use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;

const SPEC_TEXT: &str = include_str!("../spec/openapi-v3.json");

pub struct OpenApi {
    doc: Value,
}

pub fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| OpenApi {
        // The spec is vendored and compiled in; a parse failure is a build-time mistake.
        doc: serde_json::from_str(SPEC_TEXT).unwrap_or(Value::Null),
    })
}

impl OpenApi {
    /// The JSON schema of an operation's request body, following `$ref`s into
    /// `components/requestBodies`.
    pub fn request_schema(&self, path: &str, method: &str) -> Option<&Value> {
        let op = self.doc.get("paths")?.get(path)?.get(method)?;
        let mut body = op.get("requestBody")?;
        if let Some(r) = body.get("$ref").and_then(Value::as_str) {
            body = self.resolve(r)?;
        }
        body.get("content")?.get("application/json")?.get("schema")
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        let mut cur = &self.doc;
        for part in reference.strip_prefix("#/")?.split('/') {
            cur = cur.get(part)?;
        }
        Some(cur)
    }

    /// OAuth scope names declared by the spec, split into those that need a `.resource_id`
    /// suffix and those that must be bare.
    pub fn oauth_scopes(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut with_id = BTreeSet::new();
        let mut bare = BTreeSet::new();
        let flows = self
            .doc
            .pointer("/components/securitySchemes/OAuth/flows")
            .and_then(Value::as_object);
        for flow in flows.into_iter().flat_map(|f| f.values()) {
            for name in flow
                .get("scopes")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|s| s.keys())
            {
                match name.split_once('.') {
                    Some((base, _)) => with_id.insert(base.to_string()),
                    None => bare.insert(name.clone()),
                };
            }
        }
        (with_id, bare)
    }

    /// Validate `value` against `schema`; returns human-readable violations, each starting with
    /// the JSON path of the offending field.
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.check(schema, value, "", &mut out, 0);
        out
    }

    fn check(&self, schema: &Value, value: &Value, path: &str, out: &mut Vec<String>, depth: u32) {
        if depth > 64 {
            out.push(format!("{}: nesting too deep", show(path)));
            return;
        }
        let mut schema = schema;
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match self.resolve(r) {
                Some(s) => schema = s,
                None => {
                    out.push(format!("{}: unresolvable schema {r}", show(path)));
                    return;
                }
            }
        }
        if value.is_null() {
            // grpc-gateway (protojson) treats an explicit null as "field not set".
            return;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let format = schema.get("format").and_then(Value::as_str);
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            // What grpc-gateway's protojson (DiscardUnknown, its default) does with an enum: a
            // known name or number is taken; an unknown name is read as "not set" and an unknown
            // int32 is kept (proto3 enums are open), so Divar takes the call either way: a
            // warning. Anything else (true, an object, a fraction) fails to parse: an error.
            match value {
                Value::String(_) if allowed.contains(value) => {}
                Value::String(_) => out.push(format!(
                    "warning: {}: unknown enum value {value}, read as not set",
                    show(path)
                )),
                Value::Number(n) => match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
                    Some(i) if usize::try_from(i).is_ok_and(|i| i < allowed.len()) => {}
                    Some(_) => out.push(format!("warning: {}: unknown enum number {value}, kept", show(path))),
                    None => out.push(format!("{}: invalid enum value {value}", show(path))),
                },
                _ => out.push(format!("{}: invalid enum value {value}", show(path))),
            }
            return;
        }
        match ty {
            Some("object") | None if schema.get("properties").is_some() || ty.is_some() => {
                self.check_object(schema, value, path, out, depth)
            }
            Some("array") => {
                let Some(items) = value.as_array() else {
                    out.push(format!("{}: expected an array", show(path)));
                    return;
                };
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"), out, depth + 1);
                    }
                }
            }
            Some("string") => match format {
                Some("int64") | Some("uint64") => {
                    if !is_integer_like(value, format == Some("uint64")) {
                        out.push(format!("{}: expected an integer (as string)", show(path)));
                    }
                }
                _ => {
                    if !value.is_string() {
                        out.push(format!("{}: expected a string", show(path)));
                    }
                }
            },
            Some("integer") => {
                let ok = match format {
                    Some("int32") => {
                        as_i64(value).is_some_and(|i| i >= i64::from(i32::MIN) && i <= i64::from(i32::MAX))
                    }
                    _ => as_i64(value).is_some(),
                };
                if !ok {
                    out.push(format!("{}: expected an integer", show(path)));
                }
            }
            Some("number") => {
                let ok = value.is_number() || value.as_str().is_some_and(|s| s.parse::<f64>().is_ok());
                if !ok {
                    out.push(format!("{}: expected a number", show(path)));
                }
            }
            Some("boolean") if !value.is_boolean() => {
                out.push(format!("{}: expected a boolean", show(path)));
            }
            _ => {}
        }
    }

    fn check_object(&self, schema: &Value, value: &Value, path: &str, out: &mut Vec<String>, depth: u32) {
        let Some(obj) = value.as_object() else {
            out.push(format!("{}: expected an object", show(path)));
            return;
        };
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if obj.get(req).is_none_or(Value::is_null) {
                out.push(format!("{}: missing required field", show(&join(path, req))));
            }
        }
        let Some(props) = props else {
            // A bare `type: object` is a free-form map (e.g. button `data`, `metadata`).
            if let Some(add) = additional.filter(|a| a.is_object()) {
                for (k, v) in obj {
                    self.check(add, v, &join(path, k), out, depth + 1);
                }
            }
            return;
        };
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => self.check(s, v, &join(path, k), out, depth + 1),
                None => match additional {
                    Some(add) if add.is_object() => self.check(add, v, &join(path, k), out, depth + 1),
                    Some(Value::Bool(true)) => {}
                    // grpc-gateway discards unknown fields (and the OpenAPI never forbids
                    // them): Divar takes the call, so this is a warning, not an error.
                    _ => out.push(format!("warning: {}: unknown field, ignored", show(&join(path, k)))),
                },
            }
        }
    }
}

fn is_integer_like(v: &Value, unsigned: bool) -> bool {
    match v {
        Value::Number(n) => {
            if unsigned {
                n.as_u64().is_some()
            } else {
                n.as_i64().is_some()
            }
        }
        Value::String(s) => {
            if unsigned {
                s.parse::<u64>().is_ok()
            } else {
                s.parse::<i64>().is_ok()
            }
        }
        _ => false,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        // protojson accepts quoted integers for every integer type.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn show(path: &str) -> &str {
    if path.is_empty() {
        "(body)"
    } else {
        path
    }
}

/// Divar's rules that the OpenAPI cannot express: a button grid holds at most 3 rows of at
/// most 3 buttons, and every action sets exactly one kind.
pub fn check_button_grid(grid: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(rows) = grid.get("rows").and_then(Value::as_array) else {
        return out;
    };
    if rows.len() > 3 {
        out.push(format!("{path}.rows: at most 3 rows allowed, got {}", rows.len()));
    }
    for (r, row) in rows.iter().enumerate() {
        let Some(buttons) = row.get("buttons").and_then(Value::as_array) else {
            continue;
        };
        if buttons.len() > 3 {
            out.push(format!(
                "{path}.rows[{r}].buttons: at most 3 buttons per row allowed, got {}",
                buttons.len()
            ));
        }
        for (b, button) in buttons.iter().enumerate() {
            let bpath = format!("{path}.rows[{r}].buttons[{b}].action");
            match button.get("action").and_then(Value::as_object) {
                None => out.push(format!("{bpath}: missing action")),
                Some(a) => {
                    let set = a.values().filter(|v| !v.is_null()).count();
                    if set != 1 {
                        out.push(format!("{bpath}: exactly one action kind must be set, got {set}"));
                    }
                }
            }
        }
    }
    out
}

/// Validate a request body for `(path template, method)`: JSON-parse, OpenAPI schema, then the
/// button-grid rules on the given grid fields.
/// The body when Divar would take it, with the warnings about what it would ignore; or every
/// problem (errors and warnings) when it would refuse it.
pub fn validate_body(
    path: &str,
    method: &str,
    body: &[u8],
    grid_fields: &[&str],
) -> Result<(Value, Vec<String>), Vec<String>> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("(body): invalid JSON: {e}")]),
    };
    let api = spec();
    let mut violations = match api.request_schema(path, method) {
        Some(schema) => api.validate(schema, &value),
        None => vec![format!("(spec): no request schema for {method} {path}")],
    };
    for field in grid_fields {
        if let Some(grid) = value.get(*field).filter(|g| g.is_object()) {
            violations.extend(check_button_grid(grid, field));
        }
    }
    if violations.iter().all(|v| v.starts_with("warning: ")) {
        Ok((value, violations))
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEND: &str = "/v2/open-platform/conversations/{conversation_id}/messages";

    fn check(body: serde_json::Value) -> Vec<String> {
        match validate_body(SEND, "post", body.to_string().as_bytes(), &["sender_buttons"]) {
            Ok((_, warnings)) => warnings,
            Err(v) => v,
        }
    }

    #[test]
    fn spec_resolves_request_bodies_including_component_refs() {
        assert!(spec().request_schema(SEND, "post").is_some());
        let bot = "/v1/open-platform/chat/bot/conversations/{conversation_id}/messages";
        assert!(spec().request_schema(bot, "post").is_some());
    }

    #[test]
    fn reports_paths_of_violations() {
        assert!(check(json!({"message": "x"})).is_empty());
        // Divar's own examples send `type`: taken, with a warning the request log keeps.
        let v = check(json!({"message": "x", "type": "TEXT"}));
        assert_eq!(v, vec!["warning: type: unknown field, ignored".to_string()]);
        let taken = validate_body(SEND, "post", br#"{"message":"x","type":"TEXT"}"#, &[]);
        assert!(taken.is_ok(), "an unknown field alone does not refuse the call");
        let refused = validate_body(SEND, "post", br#"{"type":"TEXT"}"#, &[]);
        assert!(refused.is_err(), "a missing required field still does");
        let v = check(
            json!({"message": "x", "sender_buttons": {"rows": [{"buttons": [{"action": {"open_direct_link": 1}}]}]}}),
        );
        assert_eq!(
            v,
            vec!["sender_buttons.rows[0].buttons[0].action.open_direct_link: expected a string".to_string()]
        );
        assert_eq!(check(json!([])), vec!["(body): expected an object".to_string()]);
        assert!(check(json!({"message": null}))[0].contains("message: missing required field"));
    }

    #[test]
    fn unknown_enum_values_are_taken_as_protojson_takes_them() {
        let with_icon = |icon: serde_json::Value| {
            check(json!({"message": "x", "sender_buttons": {"rows": [{"buttons": [
                {"action": {"open_direct_link": "https://example.invalid/"}, "caption": "c", "icon": icon}
            ]}]}}))
        };
        let path = "sender_buttons.rows[0].buttons[0].icon";
        assert!(
            with_icon(json!("REAL_ESTATE")).is_empty(),
            "{:?}",
            with_icon(json!("REAL_ESTATE"))
        );
        assert!(with_icon(json!(1)).is_empty(), "a known number");
        // KenarBot sends "None" (Python's None, stringified): read as not set, the call taken.
        assert_eq!(
            with_icon(json!("None")),
            vec![format!("warning: {path}: unknown enum value \"None\", read as not set")]
        );
        assert_eq!(
            with_icon(json!(4000)),
            vec![format!("warning: {path}: unknown enum number 4000, kept")]
        );
        assert_eq!(with_icon(json!(true)), vec![format!("{path}: invalid enum value true")]);
        assert_eq!(with_icon(json!(1.5)), vec![format!("{path}: invalid enum value 1.5")]);
        assert_eq!(
            with_icon(json!(1i64 << 40)),
            vec![format!("{path}: invalid enum value {}", 1i64 << 40)]
        );
    }

    #[test]
    fn scopes_come_from_the_spec() {
        let (with_id, bare) = spec().oauth_scopes();
        assert!(with_id.contains("CONVERSATION_SEND_MESSAGE"));
        assert!(bare.contains("offline_access") && bare.contains("USER_ID"));
        assert!(!bare.contains("CONVERSATION_SEND_MESSAGE"));
    }
}
