//! Asking the person for permission through Divar's OAuth, and the callback.
//!
//! The callback trusts nothing before it has found the `state` it was given among the ones we
//! issued: only then does it look at `error` or `code`. Every way out of it is either our own
//! page or the fixed way back to Divar; the redirect URI comes from configuration only.

use serde::Serialize;

use crate::config::Config;
use crate::crypto::{b64url, Pkce, Sealer};
use crate::delivery::tokens::Grant;
use crate::delivery::GrantFor;
use crate::error::{AppError, AppResult};
use crate::flows::session::{authenticate, ActiveSession};
use crate::handle::HandleSigner;
use crate::ids::SessionId;
use crate::kenar::client::{token_request, KenarClient};
use crate::kenar::launch::LaunchContext;
use crate::kenar::oauth::{code_exchange_form, AuthorizeRequest, ClientCredentials, Scope, TokenError};
use crate::objects::person;
use crate::platform::{random_bytes, Platform};
use crate::store::oauth_state::{self, PendingAuthorization, Purpose};
use crate::web::{escape_html, loggable, Body, Request, Response};

#[derive(Serialize)]
struct StartAnswer {
    authorize_url: String,
}

/// What the page's messaging needs: posting into this conversation, and a refresh token so a
/// message that waits in the outbox can still go after the hour an access token lives.
pub fn scopes_for(context: &LaunchContext) -> Option<Vec<Scope>> {
    let conversation = context.conversation_id.as_deref()?;
    Some(vec![
        Scope::conversation_send_message(conversation),
        Scope::offline_access(),
        // So that a revocation at Divar reaches us and we stop acting for them at once.
        Scope::notification_access_revocation(),
        Scope::user_id(),
    ])
}

/// What the seller's assistant needs: to read and answer every conversation of the post, for
/// longer than the hour a token lives, and to hear of a revocation.
pub fn assistant_scopes(post_token: &str) -> Vec<Scope> {
    vec![
        Scope::chat_post_conversations_read(post_token),
        Scope::chat_post_conversations_message_send(post_token),
        Scope::offline_access(),
        Scope::notification_access_revocation(),
        Scope::user_id(),
    ]
}

#[derive(serde::Deserialize)]
struct StartBody {
    #[serde(default)]
    purpose: Option<String>,
}

/// The purpose the page asks consent for: its optional JSON body `{"purpose": …}`; no body is
/// the conversation's permission, as it always was.
fn purpose_of(req: &Request, session: &ActiveSession) -> AppResult<Purpose> {
    let raw = match &req.body {
        Body::Bytes(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => return Ok(Purpose::Conversation),
        Body::Bytes(bytes) if bytes.len() <= START_BODY_LIMIT => bytes,
        _ => return Err(AppError::PayloadTooLarge(START_BODY_LIMIT)),
    };
    let body: StartBody = serde_json::from_slice(raw)
        .map_err(|_| AppError::BadRequest("the body must be a JSON object like {\"purpose\": \"assistant\"}".into()))?;
    match body.purpose.as_deref() {
        None | Some("conversation") => Ok(Purpose::Conversation),
        Some("assistant") => Ok(Purpose::Assistant {
            post_token: session.seller_post()?.to_string(),
        }),
        Some(_) => Err(AppError::InvalidField {
            field: "purpose".into(),
            why: "must be \"conversation\" or \"assistant\"".into(),
        }),
    }
}

const START_BODY_LIMIT: usize = 1024;

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

/// `POST /api/oauth/start`: a fresh state (256 random bits) and PKCE pair, remembered with the
/// session; answers the URL of Divar's consent page.
pub async fn start<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    let purpose = purpose_of(req, &session)?;
    let scopes = match &purpose {
        Purpose::Conversation => scopes_for(&session.context).ok_or_else(|| AppError::InvalidField {
            field: "conversation_id".into(),
            why: "this launch did not come from a chat, so there is no conversation to post into".into(),
        })?,
        Purpose::Assistant { post_token } => assistant_scopes(post_token),
    };
    let mut raw = [0u8; 32];
    random_bytes(&mut raw).map_err(internal)?;
    let state = b64url(&raw);
    let pkce = if cfg.pkce {
        Some(Pkce::generate().map_err(internal)?)
    } else {
        None
    };
    let pending = PendingAuthorization {
        session_id: session.handle.session_id.to_string(),
        person: session.person(),
        context: session.context,
        verifier: pkce.as_ref().map(|k| k.verifier.clone()),
        created_at_ms: p.now_ms(),
        purpose,
        session_expires_at_secs: session.handle.expires_at_secs,
    };
    let sealer = Sealer::new(&cfg.token_encryption_key);
    oauth_state::save(p.kv(), &sealer, &state, &pending)
        .await
        .map_err(internal)?;
    let redirect_uri = cfg.oauth_redirect_uri();
    let authorize_url = AuthorizeRequest {
        oauth_base: cfg.kenar_oauth_base.as_str(),
        client_id: &cfg.app_slug,
        redirect_uri: &redirect_uri,
        scopes: &scopes,
        state: &state,
        code_challenge: pkce.as_ref().map(|k| k.challenge.as_str()),
    }
    .url();
    Ok(Response::json(200, &StartAnswer { authorize_url }))
}

/// Back to our page with a handle for the same session, expiring when the session always
/// would, and an outcome for it to show.
fn back_to_page(cfg: &Config, pending: &PendingAuthorization, now_ms: u64, outcome: &str) -> AppResult<Response> {
    let session_id = SessionId::parse(&pending.session_id).ok_or_else(|| internal("bad session id in state"))?;
    let now_secs = now_ms / 1000;
    let Some(left_secs) = pending
        .session_expires_at_secs
        .checked_sub(now_secs)
        .filter(|left| *left > 0)
    else {
        // The session ran out while the person was on Divar's page: no new lifetime for it.
        return Ok(error_page(
            200,
            "زمان این نشست تمام شد",
            "اجازهٔ شما ثبت شد، اما این صفحه دیگر باز نمی‌شود. لطفاً به گفتگو برگردید و افزونه را دوباره باز کنید.",
        ));
    };
    let handle = HandleSigner::new(&cfg.session_signing_key)
        .sign_session(session_id, &pending.context, now_secs, left_secs)
        .map_err(internal)?;
    // The page shows the outcome where it was asked for.
    let asked_for = match pending.purpose {
        Purpose::Conversation => "",
        Purpose::Assistant { .. } => "&for=assistant",
    };
    Ok(Response::redirect(
        303,
        &format!(
            "{}/#h={handle}&oauth={outcome}{asked_for}",
            cfg.public_base_url.as_str()
        ),
    ))
}

/// A page of our own for a callback we cannot tie to a session: nowhere to go but back to Divar.
fn dead_end(status: u16, message: &str) -> Response {
    error_page(status, "این پیوند دیگر معتبر نیست", message)
}

/// A Persian error page whose only way on is back to Divar.
fn error_page(status: u16, heading: &str, message: &str) -> Response {
    Response::html(
        status,
        format!(
            "<!doctype html><html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>خطا</title><link rel=\"stylesheet\" href=\"/app.css\"></head>\
             <body><main class=\"card notice\" role=\"alert\"><h1>{}</h1><p>{}</p>\
             <p><a class=\"button\" href=\"/return\">بازگشت به دیوار</a></p></main></body></html>",
            escape_html(heading),
            escape_html(message)
        ),
    )
}

/// Whose grant came back, as far as it matters to us.
enum Owner {
    TheSessionsPerson,
    Someone,
    /// Divar could not say right now.
    Unknown,
}

/// Whether the token belongs to the person who opened the add-on: whoever approves the consent
/// page (another person on a shared phone, the other side of the chat) decides whose token
/// Divar issues. A session without a user id has no one to compare with; its grant stays bound
/// to that session alone (`PersonKey::of_session`).
async fn owned_by_session_person<P: Platform>(
    p: &P,
    cfg: &Config,
    pending: &PendingAuthorization,
    access_token: &str,
) -> Owner {
    let Some(expected) = pending.context.user_id.as_deref() else {
        return Owner::TheSessionsPerson;
    };
    let client = KenarClient {
        platform: p,
        api_base: cfg.kenar_api_base.as_str(),
        api_key: cfg.api_key.expose(),
        timeout_ms: cfg.api_timeout_ms,
    };
    match client.user_id(access_token).await {
        Ok(Some(actual)) if actual == expected => Owner::TheSessionsPerson,
        Ok(_) => Owner::Someone,
        Err(_) => Owner::Unknown,
    }
}

/// `GET /oauth/callback?state=…&code=…` (or `&error=…`).
pub async fn callback<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let Some(state) = req.query_param("state").filter(|s| !s.is_empty() && s.len() <= 256) else {
        return Ok(dead_end(
            400,
            "پاسخ دیوار ناقص بود. لطفاً افزونه را دوباره از گفتگو باز کنید.",
        ));
    };
    let sealer = Sealer::new(&cfg.token_encryption_key);
    let now = p.now_ms();
    let Some(pending) = oauth_state::take(p, &sealer, &state, now).await.map_err(internal)? else {
        return Ok(dead_end(
            400,
            "این درخواست اجازه منقضی شده یا قبلاً استفاده شده است. لطفاً افزونه را دوباره از گفتگو باز کنید.",
        ));
    };
    // Only now, with the state proven ours, do the other parameters mean anything.
    if req.query_param("error").is_some() {
        return back_to_page(cfg, &pending, now, "denied");
    }
    let Some(code) = req.query_param("code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return back_to_page(cfg, &pending, now, "denied");
    };
    let redirect_uri = cfg.oauth_redirect_uri();
    let creds = ClientCredentials {
        client_id: &cfg.app_slug,
        client_secret: cfg.oauth_client_secret.expose(),
        redirect_uri: &redirect_uri,
    };
    let form = code_exchange_form(&creds, &code, pending.verifier.as_deref());
    match token_request(p.http(), cfg.kenar_oauth_base.as_str(), form, cfg.api_timeout_ms).await {
        Ok(answer) => {
            let grant = Grant::from_answer(answer, None, now);
            match owned_by_session_person(p, cfg, &pending, &grant.access_token).await {
                Owner::TheSessionsPerson => {}
                Owner::Someone => {
                    p.log("oauth: the permission was granted from another Divar account; nothing was kept");
                    return Ok(error_page(
                        403,
                        "این اجازه از حساب دیگری داده شد",
                        "اجازه باید از همان حساب دیوار داده شود که افزونه را در گفتگو باز کرده است؛ چیزی ذخیره نشد. لطفاً به گفتگو برگردید، افزونه را دوباره باز کنید و با حساب خودتان اجازه دهید.",
                    ));
                }
                Owner::Unknown => return back_to_page(cfg, &pending, now, "unavailable"),
            }
            match &pending.purpose {
                Purpose::Conversation => {
                    // The scope was asked for this conversation only (`scopes_for`).
                    let conversation_id = pending
                        .context
                        .conversation_id
                        .as_deref()
                        .unwrap_or_default()
                        .to_string();
                    let scope = GrantFor::Conversation(conversation_id);
                    person::save_grant(p.objects(), &pending.person, &scope, grant)
                        .await
                        .map_err(internal)?;
                    p.log("oauth: permission granted");
                    back_to_page(cfg, &pending, now, "granted")
                }
                Purpose::Assistant { post_token } => {
                    let scope = GrantFor::Post(post_token.clone());
                    person::save_grant(p.objects(), &pending.person, &scope, grant)
                        .await
                        .map_err(internal)?;
                    // The grant stands even if subscribing fails: the page shows the failure and
                    // the person object's alarm tries again.
                    person::subscribe(p.objects(), &pending.person, post_token)
                        .await
                        .map_err(internal)?;
                    p.log("oauth: the seller granted their post's conversations");
                    back_to_page(cfg, &pending, now, "granted")
                }
            }
        }
        Err(TokenError::Misconfigured(code)) => {
            p.log(&format!(
                "oauth: Divar refused our client ({}); check KENAR_APP_SLUG, KENAR_OAUTH_CLIENT_SECRET and the redirect URI in the panel",
                loggable(&code, 64)
            ));
            back_to_page(cfg, &pending, now, "failed")
        }
        Err(TokenError::Refused(_)) => back_to_page(cfg, &pending, now, "failed"),
        Err(TokenError::Unavailable(_)) => back_to_page(cfg, &pending, now, "unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::delivery::tokens::TokenStatus;
    use crate::delivery::PersonKey;
    use crate::flows::launch::session_init;
    use crate::testkit::TestPlatform;
    use crate::web::Method;

    fn launch(p: &TestPlatform, cfg: &Config) -> String {
        let req = Request::new(Method::Post, "/divar/session-init")
            .with_header("authorization", "dev-divar-identification-key-0123456789")
            .with_header("content-type", "application/json")
            .with_body(r#"{"source":"CHAT","conversation_id":"conv-1","user_side":"DEMAND","user_id":"u-1"}"#);
        let resp = pollster::block_on(session_init(p, cfg, &req)).expect("launch");
        let url = resp.json_body()["url"].as_str().expect("url").to_string();
        url.split_once("#h=").expect("fragment").1.to_string()
    }

    fn start_auth(p: &TestPlatform, cfg: &Config, handle: &str) -> String {
        let req =
            Request::new(Method::Post, "/api/oauth/start").with_header("authorization", &format!("Bearer {handle}"));
        let resp = pollster::block_on(start(p, cfg, &req)).expect("start");
        resp.json_body()["authorize_url"].as_str().expect("url").to_string()
    }

    fn param(url: &str, name: &str) -> String {
        Request::new(Method::Get, url.split_once("oauth2/auth").expect("path").1)
            .query_param(name)
            .expect(name)
    }

    fn cb(p: &TestPlatform, cfg: &Config, query: &str) -> Response {
        // A person takes seconds on Divar's consent page (and KV takes one write a second).
        p.advance_secs(3);
        pollster::block_on(callback(
            p,
            cfg,
            &Request::new(Method::Get, &format!("/oauth/callback?{query}")),
        ))
        .expect("cb")
    }

    #[test]
    fn start_asks_for_the_conversation_with_pkce_and_config_redirect() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let url = start_auth(&p, &cfg, &launch(&p, &cfg));
        assert!(url.starts_with("http://127.0.0.1:8790/oauth2/auth?response_type=code&client_id=kenar-edge-dev&"));
        assert_eq!(param(&url, "redirect_uri"), "http://127.0.0.1:8787/oauth/callback");
        assert_eq!(
            param(&url, "scope"),
            "CONVERSATION_SEND_MESSAGE.conv-1 offline_access NOTIFICATION_ACCESS_REVOCATION USER_ID"
        );
        assert_eq!(param(&url, "code_challenge_method"), "S256");
        assert_eq!(param(&url, "state").len(), 43, "256 random bits");
        assert_ne!(
            param(&url, "state"),
            param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state")
        );
    }

    #[test]
    fn pkce_can_be_turned_off() {
        let (p, mut cfg) = (TestPlatform::default(), dev_config());
        cfg.pkce = false;
        assert!(!start_auth(&p, &cfg, &launch(&p, &cfg)).contains("code_challenge"));
    }

    #[test]
    fn start_needs_a_valid_handle() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let req = Request::new(Method::Post, "/api/oauth/start").with_header("authorization", "Bearer forged");
        assert_eq!(
            pollster::block_on(start(&p, &cfg, &req)).map_err(|e| e.status()).err(),
            Some(401)
        );
    }

    #[test]
    fn approval_exchanges_the_code_with_the_verifier_and_stores_the_grant() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let url = start_auth(&p, &cfg, &launch(&p, &cfg));
        let state = param(&url, "state");
        p.http.route(
            "/oauth2/token",
            200,
            r#"{"access_token":"ory_at_1","refresh_token":"ory_rt_1","expires_in":3600}"#,
        );
        p.http.route("/v1/open-platform/users", 200, r#"{"user_id":"u-1"}"#);
        let resp = cb(&p, &cfg, &format!("state={state}&code=the-code"));
        assert_eq!(resp.status, 303);
        let location = resp.header("location").expect("location");
        assert!(location.starts_with("http://127.0.0.1:8787/#h=") && location.ends_with("&oauth=granted"));
        let body = p.http.sent_to("/oauth2/token")[0].body.clone().unwrap_or_default();
        assert!(body.contains("grant_type=authorization_code") && body.contains("code=the-code"));
        assert!(body.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A8787%2Foauth%2Fcallback"));
        assert!(body.contains("code_verifier="));
        let handle = location
            .split_once("#h=")
            .expect("h")
            .1
            .split('&')
            .next()
            .expect("handle");
        let session = HandleSigner::new(&cfg.session_signing_key)
            .verify(handle, p.now_ms() / 1000)
            .expect("fresh handle");
        assert_eq!(session.context.as_ref().and_then(|c| c.user_id.as_deref()), Some("u-1"));
        assert_eq!(
            pollster::block_on(person::token(
                p.objects(),
                &PersonKey::of_user("u-1"),
                &GrantFor::Conversation("conv-1".into()),
                None
            )),
            TokenStatus::Ready("ory_at_1".into()),
            "kept for the person in their own object"
        );
        assert!(p
            .logs
            .borrow()
            .iter()
            .all(|l| !l.contains("ory_") && !l.contains("the-code")));
    }

    #[test]
    fn a_grant_from_another_account_is_not_kept() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        p.http
            .route("/oauth2/token", 200, r#"{"access_token":"ory_at_x","expires_in":3600}"#);
        p.http
            .route("/v1/open-platform/users", 200, r#"{"user_id":"someone-else"}"#);
        let r = cb(&p, &cfg, &format!("state={state}&code=c"));
        assert_eq!((r.status, r.header("location")), (403, None));
        let page = String::from_utf8_lossy(&r.body).to_string();
        assert!(page.contains("حساب دیگری") && page.contains("/return"), "{page}");
        assert_eq!(
            pollster::block_on(person::token(
                p.objects(),
                &PersonKey::of_user("u-1"),
                &GrantFor::Conversation("conv-1".into()),
                None
            )),
            TokenStatus::ConsentNeeded,
            "nothing kept for the session's person"
        );
        let users = p.http.sent_to("/v1/open-platform/users");
        assert_eq!(
            crate::web::find_header(&users[0].headers, "authorization"),
            Some("Bearer ory_at_x")
        );
        // Divar cannot say whose it is: nothing kept either, and the page says try again.
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        p.http
            .route("/oauth2/token", 200, r#"{"access_token":"ory_at_y","expires_in":3600}"#);
        p.http.route("/v1/open-platform/users", 503, "");
        let r = cb(&p, &cfg, &format!("state={state}&code=c"));
        assert!(r.header("location").expect("loc").ends_with("oauth=unavailable"));
    }

    #[test]
    fn the_callback_never_extends_the_session() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let handle = launch(&p, &cfg);
        let signer = HandleSigner::new(&cfg.session_signing_key);
        let original = signer
            .verify(&handle, p.now_ms() / 1000)
            .expect("valid")
            .expires_at_secs;
        p.advance_secs(cfg.session_ttl.secs() - 20);
        let state = param(&start_auth(&p, &cfg, &handle), "state");
        let r = cb(&p, &cfg, &format!("state={state}&error=access_denied"));
        let location = r.header("location").expect("location");
        let back = location
            .split_once("#h=")
            .expect("h")
            .1
            .split('&')
            .next()
            .expect("handle");
        let again = signer.verify(back, p.now_ms() / 1000).expect("still valid");
        assert_eq!(
            again.expires_at_secs, original,
            "the session's own expiry, not a new lifetime"
        );
        // Past it, the callback has no session to go back to.
        let state = param(&start_auth(&p, &cfg, back), "state");
        p.advance_secs(30);
        let r = cb(&p, &cfg, &format!("state={state}&error=access_denied"));
        assert_eq!((r.status, r.header("location")), (200, None));
        assert!(String::from_utf8_lossy(&r.body).contains("زمان این نشست تمام شد"));
    }

    /// Found by fuzzing the router: a callback in the same second as its start (Divar's page
    /// redirects at once when consent is remembered) was refused KV's delete of the state
    /// (one write a second per key) and answered 500 instead of granting.
    #[test]
    fn a_callback_in_the_same_second_as_its_start_still_grants() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        p.http.route(
            "/oauth2/token",
            200,
            r#"{"access_token":"ory_at_1","refresh_token":"ory_rt_1","expires_in":3600}"#,
        );
        p.http.route("/v1/open-platform/users", 200, r#"{"user_id":"u-1"}"#);
        let resp = pollster::block_on(callback(
            &p,
            &cfg,
            &Request::new(Method::Get, &format!("/oauth/callback?state={state}&code=the-code")),
        ))
        .expect("no error");
        assert_eq!(resp.status, 303);
        assert!(resp.header("location").expect("loc").ends_with("oauth=granted"));
        // Still single use: the state was deleted once the second had passed.
        p.advance_secs(2);
        let replay = pollster::block_on(callback(
            &p,
            &cfg,
            &Request::new(Method::Get, &format!("/oauth/callback?state={state}&code=the-code")),
        ))
        .expect("no error");
        assert_eq!(replay.status, 400);
    }

    #[test]
    fn state_is_single_use_and_checked_before_error_or_code() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        let denied = cb(&p, &cfg, &format!("state={state}&error=access_denied"));
        assert_eq!(denied.status, 303);
        assert!(denied.header("location").expect("loc").ends_with("&oauth=denied"));
        let replay = cb(&p, &cfg, &format!("state={state}&code=x"));
        assert_eq!(replay.status, 400);
        assert!(replay.header("location").is_none());
        assert!(String::from_utf8_lossy(&replay.body).contains("/return"));
        for query in [
            "code=x",
            "state=forged&code=x",
            "state=&error=access_denied",
            "error=access_denied",
        ] {
            let r = cb(&p, &cfg, query);
            assert_eq!((r.status, r.header("location")), (400, None), "{query}");
        }
        assert!(p.http.sent().is_empty(), "no code was ever exchanged");
    }

    #[test]
    fn state_expires() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        p.advance_secs(oauth_state::STATE_TTL_SECS + 1);
        assert_eq!(cb(&p, &cfg, &format!("state={state}&code=x")).status, 400);
    }

    #[test]
    fn missing_code_is_a_refusal_and_a_failed_exchange_is_reported() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        assert!(cb(&p, &cfg, &format!("state={state}"))
            .header("location")
            .expect("loc")
            .ends_with("oauth=denied"));
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        p.http.route("/oauth2/token", 400, r#"{"error":"invalid_grant"}"#);
        assert!(cb(&p, &cfg, &format!("state={state}&code=x"))
            .header("location")
            .expect("loc")
            .ends_with("oauth=failed"));
        let state = param(&start_auth(&p, &cfg, &launch(&p, &cfg)), "state");
        p.http.route("/oauth2/token", 503, "");
        let r = cb(&p, &cfg, &format!("state={state}&code=x"));
        assert!(r.header("location").expect("loc").ends_with("oauth=unavailable"));
    }
}
