//! Calls to the Kenar API and Divar's token endpoint over the platform's `Http`. Every call has
//! a timeout; transient failures (429, 5xx, timeouts) are retried a bounded number of times with
//! backoff, honouring `Retry-After`; the answer is mapped to what the flow must do next.

use crate::kenar::message::{BotMessage, ConversationMessage};
use crate::kenar::oauth::{parse_token_answer, TokenAnswer, TokenError};
use crate::platform::{Http, HttpError, OutRequest, OutResponse, Platform};
use crate::web::percent_encode;

/// Per call, unless `KENAR_API_TIMEOUT_MS` says otherwise. Divar's p99 is far below; a hang
/// must not eat the person's patience.
pub const CALL_TIMEOUT_MS: u32 = 5_000;
/// Attempts within one request, the first included. What still fails waits in the outbox.
pub const MAX_ATTEMPTS: u32 = 3;
/// Longer waits than this are not spent inside a request; the outbox retries later instead.
pub const MAX_INLINE_WAIT_MS: u64 = 2_000;
const BACKOFF_MS: [u64; 2] = [250, 1_000];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 412 code 9: blocked by the other side, or either person is restricted. Permanent.
    #[error("the recipient cannot receive messages")]
    RecipientRestricted,
    /// 401: Divar no longer takes this access token (expired early, or revoked). A refresh
    /// may still work; if it does not, ask again.
    #[error("the access token was not accepted")]
    TokenRejected,
    /// 403: the grant does not cover this conversation. Ask again.
    #[error("the permission does not cover this")]
    PermissionRejected,
    /// Divar refused the message itself (400, 404): retrying the same bytes cannot help.
    #[error("Divar refused the message: {0}")]
    Rejected(String),
    /// Worth retrying later.
    #[error("Divar is unavailable: {reason}")]
    Transient {
        reason: String,
        retry_after_secs: Option<u64>,
    },
}

fn retry_after_secs(resp: &OutResponse) -> Option<u64> {
    resp.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok())
}

/// Divar's gRPC-gateway error body `{code, message}`.
fn rpc_error(body: &str) -> (Option<i64>, String) {
    let v: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap_or_default();
    let code = v.get("code").and_then(|c| c.as_i64());
    let message = v
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    (code, message)
}

fn classify(result: Result<OutResponse, HttpError>) -> Result<(), SendError> {
    let resp = match result {
        Ok(resp) => resp,
        Err(HttpError::Timeout) => {
            return Err(SendError::Transient {
                reason: "timed out".into(),
                retry_after_secs: None,
            })
        }
        Err(HttpError::Network(_)) => {
            return Err(SendError::Transient {
                reason: "network error".into(),
                retry_after_secs: None,
            })
        }
    };
    let (code, message) = rpc_error(&resp.body);
    match resp.status {
        200..=299 => Ok(()),
        412 if code == Some(9) || code.is_none() => Err(SendError::RecipientRestricted),
        401 => Err(SendError::TokenRejected),
        403 => Err(SendError::PermissionRejected),
        429 => Err(SendError::Transient {
            reason: "rate limited".into(),
            retry_after_secs: retry_after_secs(&resp),
        }),
        500..=599 => Err(SendError::Transient {
            reason: format!("http {}", resp.status),
            retry_after_secs: retry_after_secs(&resp),
        }),
        status => Err(SendError::Rejected(format!("http {status}: {message}"))),
    }
}

pub struct KenarClient<'a, P: Platform> {
    pub platform: &'a P,
    pub api_base: &'a str,
    pub api_key: &'a str,
    pub timeout_ms: u32,
}

impl<P: Platform> KenarClient<'_, P> {
    /// `POST /v2/open-platform/conversations/{id}/messages` on behalf of the token's owner.
    pub async fn send_conversation_message(
        &self,
        conversation_id: &str,
        access_token: &str,
        message: &ConversationMessage,
    ) -> Result<(), SendError> {
        let url = format!(
            "{}/v2/open-platform/conversations/{}/messages",
            self.api_base,
            percent_encode(conversation_id)
        );
        self.post_json(url, Some(access_token), message).await
    }

    /// `POST /v1/open-platform/chat/bot/conversations/{id}/messages`: the app's bot, API key only.
    pub async fn send_bot_message(&self, conversation_id: &str, message: &BotMessage) -> Result<(), SendError> {
        let url = format!(
            "{}/v1/open-platform/chat/bot/conversations/{}/messages",
            self.api_base,
            percent_encode(conversation_id)
        );
        self.post_json(url, None, message).await
    }

    /// `POST /v1/open-platform/events/subscriptions` for `NEW_MESSAGE_ON_POST` on one post, with
    /// the seller's token (scope `CHAT_POST_CONVERSATIONS_READ.<post>`). Divar answers `{}` or
    /// nothing; it echoes `metadata` in every event. The subscription lives as long as the
    /// token does.
    pub async fn subscribe_post_messages(
        &self,
        post_token: &str,
        access_token: &str,
        metadata: &serde_json::Value,
    ) -> Result<(), SendError> {
        let url = format!("{}/v1/open-platform/events/subscriptions", self.api_base);
        let body = serde_json::json!({
            "event_type": "NEW_MESSAGE_ON_POST",
            "event_resource_id": post_token,
            "metadata": metadata,
        });
        self.post_json(url, Some(access_token), &body).await
    }

    /// `GET /v1/open-platform/users`: whose token this is (scope `USER_ID`). `None` when the
    /// answer names no user (the scope was not granted).
    pub async fn user_id(&self, access_token: &str) -> Result<Option<String>, SendError> {
        let request = OutRequest {
            method: "GET",
            url: format!("{}/v1/open-platform/users", self.api_base),
            headers: vec![
                ("x-api-key".into(), self.api_key.into()),
                ("authorization".into(), format!("Bearer {access_token}")),
            ],
            body: None,
            timeout_ms: self.timeout_ms,
        };
        let result = self.platform.http().send(request).await;
        let body = match &result {
            Ok(resp) if (200..300).contains(&resp.status) => resp.body.clone(),
            _ => return classify(result).map(|()| None),
        };
        #[derive(serde::Deserialize)]
        struct User {
            #[serde(default)]
            user_id: Option<String>,
        }
        let user: User = serde_json::from_slice(body.as_bytes())
            .map_err(|_| SendError::Rejected("the users answer is not the documented JSON".into()))?;
        Ok(user.user_id.filter(|id| !id.is_empty()))
    }

    async fn post_json<T: serde::Serialize>(
        &self,
        url: String,
        access_token: Option<&str>,
        body: &T,
    ) -> Result<(), SendError> {
        let body = serde_json::to_string(body).map_err(|e| SendError::Rejected(e.to_string()))?;
        let mut headers = vec![
            ("content-type".into(), "application/json".into()),
            ("x-api-key".into(), self.api_key.into()),
        ];
        if let Some(token) = access_token {
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        let request = OutRequest {
            method: "POST",
            url,
            headers,
            body: Some(body),
            timeout_ms: self.timeout_ms,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = classify(self.platform.http().send(request.clone()).await);
            let wait_ms = match &outcome {
                Err(SendError::Transient { retry_after_secs, .. }) if attempt < MAX_ATTEMPTS => {
                    let backoff = BACKOFF_MS[(attempt as usize - 1).min(BACKOFF_MS.len() - 1)];
                    // Divar's header, any number: saturating, never an overflow (found by fuzzing).
                    retry_after_secs.map(|s| s.saturating_mul(1000)).unwrap_or(backoff)
                }
                _ => return outcome,
            };
            if wait_ms > MAX_INLINE_WAIT_MS {
                return outcome;
            }
            self.platform.sleep_ms(wait_ms).await;
        }
    }
}

/// Posts a form to Divar's token endpoint and reads the answer. No retry here: codes and
/// refresh tokens are single-use, and a call that timed out may have used one; the caller
/// answers "unavailable" and tries again later with what the store then holds.
pub async fn token_request<H: Http>(
    http: &H,
    oauth_base: &str,
    form: String,
    timeout_ms: u32,
) -> Result<TokenAnswer, TokenError> {
    let request = OutRequest {
        method: "POST",
        url: format!("{oauth_base}/oauth2/token"),
        headers: vec![
            ("content-type".into(), "application/x-www-form-urlencoded".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(form),
        timeout_ms,
    };
    match http.send(request).await {
        Ok(resp) => parse_token_answer(resp.status, &resp.body),
        Err(e) => Err(TokenError::Unavailable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kenar::message::ButtonGrid;
    use crate::testkit::TestPlatform;

    fn msg() -> ConversationMessage {
        ConversationMessage {
            message: "hi".into(),
            sender_buttons: ButtonGrid::default(),
            receiver_buttons: ButtonGrid::default(),
        }
    }

    fn send(p: &TestPlatform) -> Result<(), SendError> {
        let client = KenarClient {
            platform: p,
            api_base: "http://kenar",
            api_key: "k",
            timeout_ms: CALL_TIMEOUT_MS,
        };
        pollster::block_on(client.send_conversation_message("c/1", "tok", &msg()))
    }

    #[test]
    fn sends_the_documented_request() {
        let p = TestPlatform::default();
        p.http.reply(200, r#"{"status":200,"message":"success"}"#);
        assert_eq!(send(&p), Ok(()));
        let sent = p.http.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].url,
            "http://kenar/v2/open-platform/conversations/c%2F1/messages"
        );
        assert!(sent[0].headers.contains(&("x-api-key".into(), "k".into())));
        assert!(sent[0].headers.contains(&("authorization".into(), "Bearer tok".into())));
        assert_eq!(sent[0].body.as_deref(), Some(r#"{"message":"hi"}"#));
        assert_eq!(sent[0].timeout_ms, CALL_TIMEOUT_MS);
    }

    #[test]
    fn retries_transient_failures_then_succeeds() {
        let p = TestPlatform::default();
        p.http.reply(500, "{}");
        p.http.fail(HttpError::Timeout);
        p.http.reply(200, "{}");
        assert_eq!(send(&p), Ok(()));
        assert_eq!(p.http.sent().len(), 3);
        assert_eq!(*p.slept.borrow(), vec![250, 1000]);
    }

    #[test]
    fn gives_up_after_the_attempt_budget() {
        let p = TestPlatform::default();
        for _ in 0..5 {
            p.http.reply(503, "{}");
        }
        assert!(matches!(send(&p), Err(SendError::Transient { .. })));
        assert_eq!(p.http.sent().len(), MAX_ATTEMPTS as usize);
    }

    #[test]
    fn honours_short_retry_after_and_defers_long_ones() {
        let p = TestPlatform::default();
        p.http.reply_with_header(429, "{}", "retry-after", "1");
        p.http.reply(200, "{}");
        assert_eq!(send(&p), Ok(()));
        assert_eq!(*p.slept.borrow(), vec![1000]);

        let p = TestPlatform::default();
        p.http.reply_with_header(429, r#"{"code":8}"#, "retry-after", "30");
        assert_eq!(
            send(&p),
            Err(SendError::Transient {
                reason: "rate limited".into(),
                retry_after_secs: Some(30)
            })
        );
        assert_eq!(p.http.sent().len(), 1, "a long wait is left to the outbox");
    }

    #[test]
    fn permanent_answers_are_not_retried() {
        for (status, body, expected) in [
            (
                412,
                r#"{"code":9,"message":"message delivery failed due to recipient's restriction"}"#,
                SendError::RecipientRestricted,
            ),
            (401, r#"{"code":16}"#, SendError::TokenRejected),
            (403, r#"{"code":7}"#, SendError::PermissionRejected),
            (
                400,
                r#"{"code":3,"message":"bad grid"}"#,
                SendError::Rejected("http 400: bad grid".into()),
            ),
        ] {
            let p = TestPlatform::default();
            p.http.reply(status, body);
            assert_eq!(send(&p), Err(expected));
            assert_eq!(p.http.sent().len(), 1);
        }
    }
}
