//! The page's view of its session: verify the handle it carries and hand back the launch
//! context, from the handle itself or, for large contexts, from KV.

use serde::Serialize;

use crate::config::Config;
use crate::delivery::PersonKey;
use crate::error::{AppError, AppResult};
use crate::handle::{HandleSigner, SessionHandle};
use crate::kenar::launch::LaunchContext;
use crate::kenar::side::UserSide;
use crate::platform::Platform;
use crate::services::Actor;
use crate::store::session::SessionStore;
use crate::web::{Request, Response};

/// Why a launch cannot run the seller's assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SellerOnly {
    NoPost,
    NotSeller,
    /// Divar did not say who the person is, so there is no one to keep settings for.
    NoUser,
}

impl SellerOnly {
    pub fn word(self) -> &'static str {
        match self {
            SellerOnly::NoPost => "no_post",
            SellerOnly::NotSeller => "not_seller",
            SellerOnly::NoUser => "no_user",
        }
    }
}

impl From<SellerOnly> for AppError {
    fn from(e: SellerOnly) -> Self {
        AppError::Forbidden(format!(
            "only the seller of a post, opening the add-on from it, can set up its assistant ({})",
            e.word()
        ))
    }
}

/// A verified session with its launch context, whichever place the context came from.
pub struct ActiveSession {
    pub handle: SessionHandle,
    pub context: LaunchContext,
}

impl ActiveSession {
    /// Whose grants and messages these are. Without a user id (Divar's v2 field is nullable)
    /// the launch session stands in for the person.
    pub fn person(&self) -> PersonKey {
        match &self.context.user_id {
            Some(user) => PersonKey::of_user(user),
            None => PersonKey::of_session(&self.handle.session_id.to_string()),
        }
    }

    /// The person acting from the page, as services see them.
    pub fn actor(&self) -> Actor {
        Actor {
            person: self.person(),
            side: self.context.user_side,
            session: Some(self.handle.session_id.to_string()),
            post_token: self.context.post_token.as_deref().map(str::to_string),
            location: self.context.location.as_ref().map(|(lat, lon)| format!("{lat},{lon}")),
        }
    }

    /// The post this launch's person sells, when they opened the add-on as its seller: what
    /// the seller's assistant works on.
    pub fn seller_post(&self) -> Result<&str, SellerOnly> {
        let post = self.context.post_token.as_deref().ok_or(SellerOnly::NoPost)?;
        if self.context.user_side != Some(UserSide::Supply) {
            return Err(SellerOnly::NotSeller);
        }
        if self.context.user_id.is_none() {
            return Err(SellerOnly::NoUser);
        }
        Ok(post)
    }

    /// The chat this launch came from; every chat feature needs one.
    pub fn conversation_id(&self) -> AppResult<&str> {
        self.context
            .conversation_id
            .as_deref()
            .ok_or_else(|| AppError::InvalidField {
                field: "conversation_id".into(),
                why: "this launch did not come from a chat".into(),
            })
    }
}

/// Every page API call starts here: a missing, forged or expired handle is a 401.
pub async fn authenticate<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<ActiveSession> {
    let token = req.bearer().ok_or(AppError::Session("invalid_session"))?;
    let handle = HandleSigner::new(&cfg.session_signing_key)
        .verify(token, p.now_ms() / 1000)
        .map_err(|_| AppError::Session("invalid_session"))?;
    let context = match &handle.context {
        Some(ctx) => ctx.clone(),
        None => {
            SessionStore::new(p.kv(), &cfg.token_encryption_key)
                .get(handle.session_id)
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .ok_or(AppError::Session("session_expired"))?
                .context
        }
    };
    Ok(ActiveSession { handle, context })
}

#[derive(Serialize)]
struct SessionView<'a> {
    context: &'a LaunchContext,
    expires_at: u64,
}

pub async fn get_session<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let session = authenticate(p, cfg, req).await?;
    Ok(Response::json(
        200,
        &SessionView {
            context: &session.context,
            expires_at: session.handle.expires_at_secs,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::flows::launch::session_init;
    use crate::testkit::TestPlatform;
    use crate::web::Method;
    use serde_json::json;

    fn launch(p: &TestPlatform, cfg: &Config, body: &str) -> String {
        let req = Request::new(Method::Post, "/divar/session-init")
            .with_header("authorization", "dev-divar-identification-key-0123456789")
            .with_header("content-type", "application/json")
            .with_body(body);
        let resp = pollster::block_on(session_init(p, cfg, &req)).expect("launch");
        p.run_deferred();
        let url = resp.json_body()["url"].as_str().expect("url").to_string();
        url.split_once("#h=").expect("fragment").1.to_string()
    }

    fn get(p: &TestPlatform, cfg: &Config, auth: Option<&str>) -> Response {
        let mut req = Request::new(Method::Get, "/api/session");
        if let Some(auth) = auth {
            req = req.with_header("authorization", auth);
        }
        pollster::block_on(get_session(p, cfg, &req)).unwrap_or_else(|e| e.to_response())
    }

    #[test]
    fn shows_the_launch_context() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let h = launch(
            &p,
            &cfg,
            r#"{"source":"CHAT","conversation_id":"c-9","user_side":"demand"}"#,
        );
        let resp = get(&p, &cfg, Some(&format!("Bearer {h}")));
        assert_eq!(resp.status, 200);
        let body = resp.json_body();
        assert_eq!(body["context"]["conversation_id"], "c-9");
        assert_eq!(body["context"]["user_side"], "DEMAND");
        assert_eq!(body["context"]["version"], "v2");
    }

    #[test]
    fn large_context_is_read_from_kv_and_expires_with_it() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let body = json!({"source": "CHAT", "conversation_id": "c", "extra_data": {"n": "y".repeat(1500)}}).to_string();
        let h = launch(&p, &cfg, &body);
        let resp = get(&p, &cfg, Some(&format!("Bearer {h}")));
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.json_body()["context"]["extra_data"]["n"].as_str().map(str::len),
            Some(1500)
        );
        p.kv.fail_all(true);
        assert_eq!(get(&p, &cfg, Some(&format!("Bearer {h}"))).status, 500);
        p.kv.fail_all(false);
        p.advance_secs(cfg.session_ttl.secs() + 10);
        assert_eq!(get(&p, &cfg, Some(&format!("Bearer {h}"))).status, 401);
    }

    #[test]
    fn missing_forged_and_expired_handles_are_401() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        let h = launch(&p, &cfg, r#"{"source":"CHAT","conversation_id":"c"}"#);
        assert_eq!(get(&p, &cfg, None).status, 401);
        assert_eq!(get(&p, &cfg, Some(&h)).status, 401, "needs the Bearer scheme");
        assert_eq!(get(&p, &cfg, Some("Bearer forged.handle.value")).status, 401);
        let mut flipped = h.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert_eq!(get(&p, &cfg, Some(&format!("Bearer {flipped}"))).status, 401);
        p.advance_secs(cfg.session_ttl.secs() + 10);
        let resp = get(&p, &cfg, Some(&format!("Bearer {h}")));
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json_body()["error"], "invalid_session");
    }
}
