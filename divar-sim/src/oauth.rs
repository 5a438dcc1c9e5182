//! Divar's OAuth server (Ory Hydra behind oauth.divar.ir): the consent page, the decision that
//! issues a code, and the token endpoint with Hydra's rules and error shape.

use crate::faults;
use crate::http::{esc, header, html, html_status, json_response};
use crate::ids;
use crate::openapi;
use crate::state::{AuthCode, Authorization, SimState, CODE_TTL_MS, REFRESH_GRACE_MS};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/auth", get(authorize))
        .route("/oauth2/auth/decision", post(decision_form))
        .route("/oauth2/token", post(token))
}

fn parse_pairs(raw: &str) -> HashMap<String, String> {
    form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => base.to_string(),
    }
}

/// Check a space-separated scope list against the spec's scope names: `SCOPE` or
/// `SCOPE.RESOURCE_ID` depending on the scope, `offline_access`/`openid` only lowercase.
pub fn parse_scopes(raw: &str) -> Result<Vec<String>, String> {
    let (with_id, bare) = openapi::spec().oauth_scopes();
    let scopes: Vec<String> = raw.split_whitespace().map(str::to_string).collect();
    if scopes.is_empty() {
        return Err("The requested scope is empty.".into());
    }
    for s in &scopes {
        let ok = match s.split_once('.') {
            Some((base, id)) => with_id.contains(base) && !id.is_empty(),
            None => bare.contains(s.as_str()),
        };
        if !ok {
            return Err(format!("The requested scope {s:?} is invalid, unknown, or malformed."));
        }
    }
    Ok(scopes)
}

enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Page(String),
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
        state: String,
    },
}

fn check_authorize(shared: &AppState, q: &HashMap<String, String>) -> Result<Authorization, AuthorizeError> {
    let cfg = &shared.config;
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if client_id != cfg.app_slug {
        return Err(AuthorizeError::Page(format!(
            "client_id نامعتبر است (unknown client {client_id:?})"
        )));
    }
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !cfg.redirect_uris().contains(&redirect_uri) {
        return Err(AuthorizeError::Page(format!(
            "redirect_uri ثبت نشده است: {redirect_uri:?} (registered: {})",
            cfg.redirect_uris().join(", ")
        )));
    }
    let state = q.get("state").cloned().unwrap_or_default();
    let fail = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description,
        state: state.clone(),
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "The authorization server does not support obtaining a token using this method; only response_type=code is allowed.".into(),
        ));
    }
    if state.len() < 8 {
        return Err(fail(
            "invalid_state",
            "The state is missing or does not have enough characters and is therefore considered too weak (at least 8).".into(),
        ));
    }
    let scopes =
        parse_scopes(q.get("scope").map(String::as_str).unwrap_or("")).map_err(|d| fail("invalid_scope", d))?;
    let challenge = q.get("code_challenge").filter(|c| !c.is_empty()).cloned();
    if let Some(c) = &challenge {
        match q.get("code_challenge_method").map(String::as_str) {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(fail(
                    "invalid_request",
                    "Clients must use code_challenge_method=S256, plain is not allowed.".into(),
                ))
            }
            Some(other) => {
                return Err(fail(
                    "invalid_request",
                    format!("The code_challenge_method {other:?} is not supported."),
                ))
            }
        }
        if c.len() < 43 || c.len() > 128 {
            return Err(fail(
                "invalid_request",
                "The PKCE code challenge must be 43 to 128 characters.".into(),
            ));
        }
    }
    let st = shared.lock();
    Ok(Authorization {
        id: ids::alnum(16),
        status: "pending".into(),
        client_id,
        redirect_uri,
        scopes,
        state,
        code_challenge: challenge,
        user_id: st.current_user.clone(),
        redirect_url: None,
        created_at_ms: st.now_ms(),
    })
}

async fn authorize(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    if let Some(f) = apply_fault(&shared, "authorize").await {
        return html_status(f, page("خطا", "<p>خطای شبیه‌سازی شده (injected fault)</p>"));
    }
    let q = parse_pairs(raw.as_deref().unwrap_or(""));
    match check_authorize(&shared, &q) {
        Err(AuthorizeError::Page(msg)) => html_status(
            400,
            page("خطا در احراز هویت", &format!("<p class=\"err\">{}</p>", esc(&msg))),
        ),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        }) => Redirect::to(&with_query(
            &redirect_uri,
            &[("error", error), ("error_description", &description), ("state", &state)],
        ))
        .into_response(),
        Ok(auth) => {
            let mut st = shared.lock();
            let body = consent_page(&st, &auth, &shared.config.app_title);
            st.authorizations.push(auth);
            html(body)
        }
    }
}

fn scope_label(scope: &str) -> String {
    let (base, id) = scope.split_once('.').unwrap_or((scope, ""));
    let fa = match base {
        "CONVERSATION_SEND_MESSAGE" => "ارسال پیام در این گفتگو",
        "CHAT_POST_CONVERSATIONS_MESSAGE_SEND" => "ارسال پیام در همهٔ گفتگوهای آگهی",
        "CHAT_SUPPLIER_ALL_CONVERSATIONS_MESSAGE_SEND" => "ارسال پیام در همهٔ گفتگوهای آگهی‌های شما",
        "CHAT_POST_CONVERSATIONS_READ" => "خواندن پیام‌های گفتگوهای آگهی",
        "CHAT_SUPPLIER_ALL_CONVERSATIONS_READ" => "خواندن پیام‌های همهٔ گفتگوهای آگهی‌های شما",
        "CHAT_CONVERSATION_READ" => "خواندن این گفتگو",
        "CHAT_BOT_USER_MESSAGE_SEND" => "ارسال پیام از طرف بات به شما",
        "USER_ID" => "شناسهٔ کاربری شما",
        "USER_PHONE" => "شمارهٔ تلفن شما",
        "NOTIFICATION_ACCESS_REVOCATION" => "اطلاع از لغو دسترسی",
        "offline_access" => "دسترسی پس از بستن برنامه (توکن تازه‌سازی)",
        "openid" => "ورود با دیوار",
        _ => "دسترسی دیگر",
    };
    if id.is_empty() {
        format!("{fa} <code>{}</code>", esc(scope))
    } else {
        format!("{fa} <code>{}</code> ({})", esc(base), esc(id))
    }
}

/// Digits as Persian readers expect them on Divar's pages.
fn fa_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0x06F0 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

fn consent_page(st: &SimState, auth: &Authorization, title: &str) -> String {
    let scopes: String = auth
        .scopes
        .iter()
        .map(|s| format!("<li>{}</li>", scope_label(s)))
        .collect();
    let options: String = st
        .users
        .iter()
        .map(|u| {
            let sel = if auth.user_id.as_deref() == Some(&u.user_id) {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{}\"{sel}>{} — {}</option>",
                esc(&u.user_id),
                esc(&fa_digits(&u.name)),
                esc(&fa_digits(&u.phone))
            )
        })
        .collect();
    let user_field = if st.users.is_empty() {
        "<p class=\"err\">هیچ کاربری در شبیه‌ساز نیست؛ ابتدا یک گفتگو بسازید.</p>".to_string()
    } else {
        format!("<label>وارد شده به عنوان: <select name=\"user_id\">{options}</select></label>")
    };
    page(
        "اجازهٔ دسترسی",
        &format!(
            r#"<p class="warn">این یک برنامهٔ آزمایشی است.</p>
<p>برنامهٔ <b>{title}</b> درخواست این دسترسی‌ها را دارد:</p>
<ul>{scopes}</ul>
<form method="post" action="/oauth2/auth/decision">
<input type="hidden" name="auth_id" value="{id}">
{user_field}
<div class="row">
<button type="submit" name="decision" value="approve" class="primary">تأیید</button>
<button type="submit" name="decision" value="deny">رد</button>
</div>
</form>"#,
            title = esc(title),
            id = esc(&auth.id),
        ),
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{t} — دیوار (شبیه‌ساز)</title>
<style>body{{font-family:Tahoma,Vazirmatn,sans-serif;background:#f5f5f5;margin:0;padding:24px;color:#222}}
main{{max-width:420px;margin:auto;background:#fff;border-radius:12px;padding:20px;box-shadow:0 2px 8px #0002}}
h1{{color:#a62626;font-size:1.2em}} .warn{{background:#fff4d6;padding:8px;border-radius:6px}} .err{{color:#b00}}
.row{{display:flex;gap:8px;margin-top:16px}} button{{flex:1;padding:10px;border-radius:8px;border:1px solid #a62626;background:#fff;color:#a62626;font-size:1em;cursor:pointer}}
button.primary{{background:#a62626;color:#fff}} code{{direction:ltr;unicode-bidi:embed;font-size:.85em}} li{{margin:6px 0}}</style></head>
<body><main><h1>{t}</h1>{body}</main></body></html>"#,
        t = esc(title)
    )
}

/// Approve or deny a pending authorization; returns the URL the browser is sent to.
pub fn decide(
    st: &mut SimState,
    auth_id: &str,
    approve: bool,
    user_id: Option<&str>,
) -> Result<(String, Option<String>), (u16, String)> {
    let now = st.now_ms();
    let idx = st
        .authorizations
        .iter()
        .position(|a| a.id == auth_id)
        .ok_or((404, format!("no authorization {auth_id:?}")))?;
    let auth = st.authorizations[idx].clone();
    if auth.status != "pending" {
        return Err((409, format!("authorization already {}", auth.status)));
    }
    if !approve {
        let url = with_query(
            &auth.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The resource owner denied the request"),
                ("state", &auth.state),
            ],
        );
        let a = &mut st.authorizations[idx];
        a.status = "denied".into();
        a.redirect_url = Some(url.clone());
        return Ok((url, None));
    }
    let user = user_id.map(str::to_string).or(auth.user_id.clone()).ok_or((
        400,
        "no user to approve as: pass user_id or launch the add-on first".to_string(),
    ))?;
    if st.user(&user).is_none() {
        return Err((404, format!("no user {user:?}")));
    }
    let grant = st.new_grant(&user, auth.scopes.clone());
    let code = ids::token("ory_ac_");
    st.codes.insert(
        code.clone(),
        AuthCode {
            grant,
            redirect_uri: auth.redirect_uri.clone(),
            code_challenge: auth.code_challenge.clone(),
            expires_at_ms: now + CODE_TTL_MS,
            used: false,
        },
    );
    let scope = auth.scopes.join(" ");
    let url = with_query(
        &auth.redirect_uri,
        &[("code", &code), ("scope", &scope), ("state", &auth.state)],
    );
    let a = &mut st.authorizations[idx];
    a.status = "approved".into();
    a.user_id = Some(user);
    a.redirect_url = Some(url.clone());
    Ok((url, Some(code)))
}

async fn decision_form(State(shared): State<AppState>, body: Bytes) -> Response {
    let f: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let approve = f.get("decision").map(String::as_str) == Some("approve");
    let auth_id = f.get("auth_id").cloned().unwrap_or_default();
    let result = decide(
        &mut shared.lock(),
        &auth_id,
        approve,
        f.get("user_id").map(String::as_str),
    );
    match result {
        Ok((url, _)) => Redirect::to(&url).into_response(),
        Err((status, msg)) => html_status(status, page("خطا", &format!("<p class=\"err\">{}</p>", esc(&msg)))),
    }
}

/// Sleep for the fault's latency (or forever); returns the status to answer with, if any.
pub async fn apply_fault(shared: &AppState, endpoint: &str) -> Option<u16> {
    let action = faults::take(&mut shared.lock().faults, endpoint)?;
    if action.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if action.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(action.latency_ms)).await;
    }
    action.status
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    json_response(status, json!({"error": error, "error_description": description}), None)
}

async fn token(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = faults::take(&mut shared.lock().faults, "token");
    if let Some(action) = fault {
        if action.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        // A zero-latency rule (tests use one to count calls) must not cost a timer tick.
        if action.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(action.latency_ms)).await;
        }
        if let Some(status) = action.status {
            return json_response(
                status,
                json!({"error": "temporarily_unavailable", "error_description": "injected fault"}),
                action.retry_after,
            );
        }
    }
    let ctype = header(&headers, "content-type").unwrap_or("");
    if !ctype
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return oauth_error(
            400,
            "invalid_request",
            "The request is missing a required parameter, includes an invalid parameter value, or is otherwise malformed. The POST body must be application/x-www-form-urlencoded.",
        );
    }
    let f: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let (client_id, secret) = match basic_auth(&headers) {
        Some(pair) => pair,
        None => (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    let cfg = &shared.config;
    if client_id != cfg.app_slug || secret != cfg.oauth_client_secret {
        return oauth_error(
            401,
            "invalid_client",
            "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).",
        );
    }
    let mut st = shared.lock();
    let result = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&mut st, &f),
        Some("refresh_token") => refresh(&mut st, &f),
        Some(_) => Err((
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.".into(),
        )),
        None => Err(("invalid_request", "The grant_type parameter is missing.".into())),
    };
    match result {
        Ok(v) => json_response(200, v, None),
        Err((err, desc)) => oauth_error(400, err, &desc),
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let raw = header(headers, "authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

type GrantResult = Result<Value, (&'static str, String)>;

const BAD_GRANT: &str = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";

fn exchange_code(st: &mut SimState, f: &HashMap<String, String>) -> GrantResult {
    let code = f
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or(("invalid_request", "The code parameter is missing.".to_string()))?;
    let now = st.now_ms();
    let Some(ac) = st.codes.get(code).cloned() else {
        return Err(("invalid_grant", BAD_GRANT.into()));
    };
    if ac.used {
        // Hydra treats a replayed code as a leak and revokes everything it produced.
        if let Some(g) = st.grants.get_mut(&ac.grant) {
            g.revoked = true;
        }
        return Err((
            "invalid_grant",
            format!("{BAD_GRANT} The authorization code has already been used; tokens issued from it were revoked."),
        ));
    }
    if ac.expires_at_ms <= now {
        return Err((
            "invalid_grant",
            format!("{BAD_GRANT} The authorization code has expired."),
        ));
    }
    if f.get("redirect_uri") != Some(&ac.redirect_uri) {
        return Err((
            "invalid_grant",
            format!(
                "{BAD_GRANT} The \"redirect_uri\" from this request does not match the one from the authorize request."
            ),
        ));
    }
    if let Some(challenge) = &ac.code_challenge {
        match f.get("code_verifier").filter(|v| !v.is_empty()) {
            None => {
                return Err((
                    "invalid_grant",
                    format!("{BAD_GRANT} The PKCE code verifier must be set because a code challenge was used."),
                ))
            }
            Some(v) if ids::pkce_s256(v) != *challenge => {
                return Err((
                    "invalid_grant",
                    format!("{BAD_GRANT} The PKCE code challenge did not match the code verifier."),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(c) = st.codes.get_mut(code) {
        c.used = true;
    }
    let (at, rt) = st.issue_tokens(ac.grant);
    Ok(st.token_response(&at, rt.as_deref()))
}

fn refresh(st: &mut SimState, f: &HashMap<String, String>) -> GrantResult {
    let rt = f
        .get("refresh_token")
        .filter(|c| !c.is_empty())
        .ok_or(("invalid_request", "The refresh_token parameter is missing.".to_string()))?;
    let now = st.now_ms();
    let Some(record) = st.refresh_tokens.get(rt).cloned() else {
        return Err(("invalid_grant", BAD_GRANT.into()));
    };
    if record.expires_at_ms <= now || st.grants.get(&record.grant).is_none_or(|g| g.revoked) {
        return Err((
            "invalid_grant",
            format!("{BAD_GRANT} The refresh token expired or was revoked."),
        ));
    }
    if let Some((new_at, new_rt, used_at)) = record.rotated {
        if now.saturating_sub(used_at) <= REFRESH_GRACE_MS {
            // Inside the grace period a retry gets the pair the first use produced.
            return Ok(st.token_response(&new_at, Some(&new_rt)));
        }
        return Err((
            "invalid_grant",
            format!("{BAD_GRANT} The refresh token has already been used."),
        ));
    }
    let (at, new_rt) = st.issue_tokens(record.grant);
    let Some(new_rt) = new_rt else {
        return Err(("invalid_grant", "offline_access was not granted".into()));
    };
    if let Some(old) = st.access_tokens.get_mut(&record.paired_access) {
        old.expires_at_ms = old.expires_at_ms.min(now + REFRESH_GRACE_MS);
    }
    if let Some(r) = st.refresh_tokens.get_mut(rt) {
        r.rotated = Some((at.clone(), new_rt.clone(), now));
    }
    Ok(st.token_response(&at, Some(&new_rt)))
}
