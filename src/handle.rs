//! The signed session handle the page carries in its URL fragment (never a cookie: webviews
//! drop them). An HS256 JWT naming the session and, when small, carrying the launch context
//! itself, so the page's first call needs no KV read and works before the KV write has landed.

use std::collections::HashSet;

use jwt_simple::prelude::{Duration, HS256Key, JWTClaims, MACLike, VerificationOptions};
use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::kenar::launch::LaunchContext;
use crate::secret::Secret;

const ISSUER: &str = "kenar-edge";
const AUDIENCE: &str = "kenar-edge/page";
/// Allowed clock skew between the edge locations that sign and verify.
const LEEWAY_SECS: u64 = 5;
/// A context larger than this stays in KV only, keeping the page URL short.
pub const MAX_INLINE_CONTEXT_BYTES: usize = 1024;

#[derive(Serialize, Deserialize)]
struct HandleClaims {
    sid: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    ctx: Option<LaunchContext>,
}

/// What a verified handle says.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionHandle {
    pub session_id: SessionId,
    /// None when the context was too large to inline; read it from the session store then.
    pub context: Option<LaunchContext>,
    pub expires_at_secs: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("the handle could not be signed")]
    Sign,
    #[error("the handle is invalid or expired")]
    Invalid,
}

pub struct HandleSigner {
    key: HS256Key,
}

impl HandleSigner {
    pub fn new(key: &Secret) -> Self {
        HandleSigner {
            key: HS256Key::from_bytes(key.expose().as_bytes()),
        }
    }

    pub fn sign(
        &self,
        session_id: SessionId,
        context: Option<&LaunchContext>,
        now_secs: u64,
        ttl_secs: u64,
    ) -> Result<String, HandleError> {
        let claims = JWTClaims {
            issued_at: Some(Duration::from_secs(now_secs)),
            expires_at: Some(Duration::from_secs(now_secs + ttl_secs)),
            invalid_before: None,
            issuer: Some(ISSUER.into()),
            subject: None,
            audiences: Some(jwt_simple::claims::Audiences::AsString(AUDIENCE.into())),
            jwt_id: None,
            nonce: None,
            custom: HandleClaims {
                sid: session_id.to_string(),
                ctx: context.cloned(),
            },
        };
        self.key.authenticate(claims).map_err(|_| HandleError::Sign)
    }

    /// Whether a context is small enough to ride in the handle (and so in the page URL).
    pub fn fits_inline(context: &LaunchContext) -> bool {
        serde_json::to_vec(context)
            .map(|v| v.len() <= MAX_INLINE_CONTEXT_BYTES)
            .unwrap_or(false)
    }

    /// A handle carrying the context when it fits, only the session id when it does not.
    pub fn sign_session(
        &self,
        session_id: SessionId,
        context: &LaunchContext,
        now_secs: u64,
        ttl_secs: u64,
    ) -> Result<String, HandleError> {
        let inline = Self::fits_inline(context).then_some(context);
        self.sign(session_id, inline, now_secs, ttl_secs)
    }

    pub fn verify(&self, token: &str, now_secs: u64) -> Result<SessionHandle, HandleError> {
        // A bound on what we hand to the JWT parser; real handles are far below it.
        if token.len() > 8 * 1024 {
            return Err(HandleError::Invalid);
        }
        let options = VerificationOptions {
            artificial_time: Some(Duration::from_secs(now_secs)),
            time_tolerance: Some(Duration::from_secs(LEEWAY_SECS)),
            allowed_issuers: Some(HashSet::from([ISSUER.to_string()])),
            allowed_audiences: Some(HashSet::from([AUDIENCE.to_string()])),
            ..Default::default()
        };
        let claims = self
            .key
            .verify_token::<HandleClaims>(token, Some(options))
            .map_err(|_| HandleError::Invalid)?;
        // Tokens without an expiry are never valid here, whatever the library allows.
        let expires_at_secs = claims.expires_at.ok_or(HandleError::Invalid)?.as_secs();
        let session_id = SessionId::parse(&claims.custom.sid).ok_or(HandleError::Invalid)?;
        Ok(SessionHandle {
            session_id,
            context: claims.custom.ctx,
            expires_at_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kenar::launch::parse_launch;

    fn signer() -> HandleSigner {
        HandleSigner::new(&Secret::new("a-signing-key-that-is-long-enough-000000"))
    }

    fn ctx() -> LaunchContext {
        parse_launch(br#"{"source":"CHAT","conversation_id":"c1","user_side":"SUPPLY"}"#).expect("ctx")
    }

    #[test]
    fn round_trip_with_and_without_context() {
        let sid = SessionId::random().expect("rng");
        let token = signer().sign(sid, Some(&ctx()), 1_000, 600).expect("sign");
        let h = signer().verify(&token, 1_100).expect("verify");
        assert_eq!(h.session_id, sid);
        assert_eq!(h.context, Some(ctx()));
        assert_eq!(h.expires_at_secs, 1_600);
        let token = signer().sign(sid, None, 1_000, 600).expect("sign");
        assert_eq!(signer().verify(&token, 1_100).expect("verify").context, None);
    }

    #[test]
    fn expired_handles_are_refused() {
        let token = signer()
            .sign(SessionId::random().expect("rng"), None, 1_000, 600)
            .expect("sign");
        assert!(signer().verify(&token, 1_600 + LEEWAY_SECS + 1).is_err());
        assert!(signer().verify(&token, 1_600).is_ok());
    }

    #[test]
    fn forged_handles_are_refused() {
        let sid = SessionId::random().expect("rng");
        let other = HandleSigner::new(&Secret::new("another-signing-key-that-is-long-000000"));
        let forged = other.sign(sid, Some(&ctx()), 1_000, 600).expect("sign");
        assert_eq!(signer().verify(&forged, 1_100), Err(HandleError::Invalid));

        let token = signer().sign(sid, Some(&ctx()), 1_000, 600).expect("sign");
        let mut parts: Vec<&str> = token.split('.').collect();
        let tampered_payload = parts[1].replace('A', "B");
        parts[1] = &tampered_payload;
        assert!(signer().verify(&parts.join("."), 1_100).is_err());
        for junk in ["", "a.b.c", "not a jwt", &"x".repeat(9000)] {
            assert!(signer().verify(junk, 1_100).is_err());
        }
    }

    #[test]
    fn unsigned_alg_none_is_refused() {
        // {"alg":"none"} header with a valid-looking payload and no signature.
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let token = signer()
            .sign(SessionId::random().expect("rng"), None, 1_000, 600)
            .expect("sign");
        let payload = token.split('.').nth(1).expect("payload");
        assert!(signer().verify(&format!("{header}.{payload}."), 1_100).is_err());
    }
}
