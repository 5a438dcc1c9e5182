//! A usable access token for a grant: the stored one while it lives, a refreshed one after.
//!
//! Two requests may refresh the same grant at once. Divar rotates both tokens on refresh but
//! honours the old pair for two minutes, so the loser of the race still gets a working pair;
//! and if its refresh is refused, it re-reads the store, where the winner's pair now is.

use crate::config::Config;
use crate::crypto::Sealer;
use crate::kenar::client::token_request;
use crate::kenar::oauth::{refresh_form, ClientCredentials, TokenAnswer, TokenError};
use crate::platform::{KvError, Platform};
use crate::store::grants::{self, Grant};

/// Divar's access tokens live an hour; an answer without `expires_in` is taken to mean that.
const DEFAULT_ACCESS_SECS: u64 = 3600;

#[derive(Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Ready(String),
    /// No grant, or one Divar no longer honours: the person must consent (again).
    ConsentNeeded,
    /// Divar's token endpoint is failing; try later.
    Unavailable(String),
}

pub fn credentials(cfg: &Config) -> (String, String, String) {
    (
        cfg.app_slug.clone(),
        cfg.oauth_client_secret.expose().to_string(),
        cfg.oauth_redirect_uri(),
    )
}

pub fn grant_from_answer(answer: TokenAnswer, previous_refresh: Option<String>, now_ms: u64) -> Grant {
    Grant {
        access_token: answer.access_token,
        // Hydra rotates refresh tokens; keep the old one only if none came back.
        refresh_token: answer.refresh_token.or(previous_refresh),
        expires_at_ms: now_ms + answer.expires_in.unwrap_or(DEFAULT_ACCESS_SECS) * 1000,
        scope: answer.scope,
    }
}

pub async fn usable_token<P: Platform>(p: &P, cfg: &Config, grant_key: &str) -> Result<TokenStatus, KvError> {
    token(p, cfg, grant_key, None).await
}

/// After Divar refused `rejected` (401) although our clock said it was alive: refresh now,
/// unless another request already replaced it.
pub async fn refresh_after_rejection<P: Platform>(
    p: &P,
    cfg: &Config,
    grant_key: &str,
    rejected: &str,
) -> Result<TokenStatus, KvError> {
    token(p, cfg, grant_key, Some(rejected)).await
}

async fn token<P: Platform>(
    p: &P,
    cfg: &Config,
    grant_key: &str,
    rejected: Option<&str>,
) -> Result<TokenStatus, KvError> {
    let sealer = Sealer::new(&cfg.token_encryption_key);
    let Some(grant) = grants::load(p.kv(), &sealer, grant_key).await? else {
        return Ok(TokenStatus::ConsentNeeded);
    };
    let now = p.now_ms();
    if grant.access_usable(now) && rejected != Some(grant.access_token.as_str()) {
        return Ok(TokenStatus::Ready(grant.access_token));
    }
    let Some(refresh_token) = grant.refresh_token.clone() else {
        grants::forget(p.kv(), grant_key).await?;
        return Ok(TokenStatus::ConsentNeeded);
    };
    let (client_id, client_secret, redirect_uri) = credentials(cfg);
    let creds = ClientCredentials {
        client_id: &client_id,
        client_secret: &client_secret,
        redirect_uri: &redirect_uri,
    };
    match token_request(
        p.http(),
        cfg.kenar_oauth_base.as_str(),
        refresh_form(&creds, &refresh_token),
        cfg.api_timeout_ms,
    )
    .await
    {
        Ok(answer) => {
            let fresh = grant_from_answer(answer, Some(refresh_token), now);
            grants::save(p.kv(), &sealer, grant_key, &fresh, now).await?;
            p.log("oauth: refreshed a grant");
            Ok(TokenStatus::Ready(fresh.access_token))
        }
        Err(TokenError::Refused(_)) => {
            // Someone else may have refreshed first and stored the new pair.
            match grants::load(p.kv(), &sealer, grant_key).await? {
                Some(latest) if latest.access_token != grant.access_token && latest.access_usable(now) => {
                    Ok(TokenStatus::Ready(latest.access_token))
                }
                _ => {
                    grants::forget(p.kv(), grant_key).await?;
                    Ok(TokenStatus::ConsentNeeded)
                }
            }
        }
        Err(TokenError::Misconfigured(code)) => {
            p.log(&format!(
                "oauth: Divar refused our client credentials on refresh ({code}); check KENAR_OAUTH_CLIENT_SECRET"
            ));
            Ok(TokenStatus::Unavailable("the token endpoint refused our client".into()))
        }
        Err(TokenError::Unavailable(why)) => Ok(TokenStatus::Unavailable(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::testkit::TestPlatform;

    fn sealer(cfg: &Config) -> Sealer {
        Sealer::new(&cfg.token_encryption_key)
    }

    fn store(p: &TestPlatform, cfg: &Config, grant: &Grant) {
        pollster::block_on(grants::save(p.kv(), &sealer(cfg), "g", grant, p.now_ms())).expect("save");
    }

    fn grant(p: &TestPlatform, expires_in_s: i64, refresh: Option<&str>) -> Grant {
        Grant {
            access_token: "ory_at_old".into(),
            refresh_token: refresh.map(str::to_string),
            expires_at_ms: (p.now_ms() as i64 + expires_in_s * 1000) as u64,
            scope: None,
        }
    }

    fn status(p: &TestPlatform, cfg: &Config) -> TokenStatus {
        pollster::block_on(usable_token(p, cfg, "g")).expect("kv")
    }

    #[test]
    fn live_tokens_are_used_as_they_are() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        store(&p, &cfg, &grant(&p, 3000, Some("ory_rt_1")));
        assert_eq!(status(&p, &cfg), TokenStatus::Ready("ory_at_old".into()));
        assert!(p.http.sent().is_empty());
    }

    #[test]
    fn no_grant_means_consent() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        assert_eq!(status(&p, &cfg), TokenStatus::ConsentNeeded);
    }

    #[test]
    fn expired_tokens_are_refreshed_and_both_rotated() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        store(&p, &cfg, &grant(&p, -10, Some("ory_rt_1")));
        p.http.route(
            "/oauth2/token",
            200,
            r#"{"access_token":"ory_at_new","refresh_token":"ory_rt_2","expires_in":3600}"#,
        );
        assert_eq!(status(&p, &cfg), TokenStatus::Ready("ory_at_new".into()));
        let sent = p.http.sent_to("/oauth2/token");
        assert_eq!(sent.len(), 1);
        let body = sent[0].body.clone().unwrap_or_default();
        assert!(body.contains("grant_type=refresh_token") && body.contains("refresh_token=ory_rt_1"));
        assert!(body.contains("client_secret=dev-oauth-client-secret-0123456789"));
        let saved = pollster::block_on(grants::load(p.kv(), &sealer(&cfg), "g"))
            .expect("kv")
            .expect("grant");
        assert_eq!(saved.refresh_token.as_deref(), Some("ory_rt_2"));
        assert_eq!(
            status(&p, &cfg),
            TokenStatus::Ready("ory_at_new".into()),
            "no second refresh"
        );
        assert_eq!(p.http.sent_to("/oauth2/token").len(), 1);
    }

    #[test]
    fn a_refused_refresh_means_consent_and_forgets_the_grant() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        store(&p, &cfg, &grant(&p, -10, Some("ory_rt_1")));
        p.http.route("/oauth2/token", 400, r#"{"error":"invalid_grant"}"#);
        assert_eq!(status(&p, &cfg), TokenStatus::ConsentNeeded);
        assert_eq!(
            pollster::block_on(grants::load(p.kv(), &sealer(&cfg), "g")).expect("kv"),
            None
        );
    }

    #[test]
    fn expired_without_refresh_means_consent() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        store(&p, &cfg, &grant(&p, 30, None));
        assert_eq!(status(&p, &cfg), TokenStatus::ConsentNeeded);
        assert!(p.http.sent().is_empty());
    }

    #[test]
    fn a_rejected_live_token_is_refreshed_once() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        store(&p, &cfg, &grant(&p, 3000, Some("ory_rt_1")));
        p.http.route(
            "/oauth2/token",
            200,
            r#"{"access_token":"ory_at_new","refresh_token":"ory_rt_2","expires_in":3600}"#,
        );
        let forced = pollster::block_on(refresh_after_rejection(&p, &cfg, "g", "ory_at_old")).expect("kv");
        assert_eq!(forced, TokenStatus::Ready("ory_at_new".into()));
        let again = pollster::block_on(refresh_after_rejection(&p, &cfg, "g", "ory_at_old")).expect("kv");
        assert_eq!(
            again,
            TokenStatus::Ready("ory_at_new".into()),
            "already replaced: no second refresh"
        );
        assert_eq!(p.http.sent_to("/oauth2/token").len(), 1);
    }

    #[test]
    fn an_unavailable_token_endpoint_keeps_the_grant() {
        let (p, cfg) = (TestPlatform::default(), dev_config());
        store(&p, &cfg, &grant(&p, -10, Some("ory_rt_1")));
        p.http.route("/oauth2/token", 503, "down");
        assert!(matches!(status(&p, &cfg), TokenStatus::Unavailable(_)));
        assert!(pollster::block_on(grants::load(p.kv(), &sealer(&cfg), "g"))
            .expect("kv")
            .is_some());
    }
}
