//! Divar's OAuth 2 (an Ory Hydra server): scopes, the authorize URL, the form-encoded token
//! requests, and the token answer. Pure: builds and parses, never sends.

use serde::Deserialize;

use crate::web::percent_encode;

/// One OAuth scope in Divar's `NAME.RESOURCE` form. Constructors exist only for the scopes
/// the add-on asks for, so a misspelt scope (issue kenar-docs#202) cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    /// Post into one conversation, on behalf of the person who grants it.
    pub fn conversation_send_message(conversation_id: &str) -> Self {
        Scope(format!("CONVERSATION_SEND_MESSAGE.{conversation_id}"))
    }
    /// Read every conversation of one post, as its seller: what a `NEW_MESSAGE_ON_POST`
    /// subscription for that post needs.
    pub fn chat_post_conversations_read(post_token: &str) -> Self {
        Scope(format!("CHAT_POST_CONVERSATIONS_READ.{post_token}"))
    }
    /// Post into every conversation of one post, on behalf of its seller.
    pub fn chat_post_conversations_message_send(post_token: &str) -> Self {
        Scope(format!("CHAT_POST_CONVERSATIONS_MESSAGE_SEND.{post_token}"))
    }
    /// A refresh token; lowercase, as Hydra requires (kenar-api#15).
    pub fn offline_access() -> Self {
        Scope("offline_access".into())
    }
    /// Divar tells the app (`USER_ACCESS_REVOCATION`) when the person revokes its access; it
    /// sends that only with `USER_ID` granted too (API.md §8.1).
    pub fn notification_access_revocation() -> Self {
        Scope("NOTIFICATION_ACCESS_REVOCATION".into())
    }
    pub fn user_id() -> Self {
        Scope("USER_ID".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Space-separated, as the authorize endpoint takes them.
pub fn join_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
}

pub struct AuthorizeRequest<'a> {
    pub oauth_base: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [Scope],
    pub state: &'a str,
    /// The S256 challenge, when PKCE is on.
    pub code_challenge: Option<&'a str>,
}

impl AuthorizeRequest<'_> {
    pub fn url(&self) -> String {
        let mut url = format!(
            "{}/oauth2/auth?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}",
            self.oauth_base,
            percent_encode(self.client_id),
            percent_encode(self.redirect_uri),
            percent_encode(&join_scopes(self.scopes)),
            percent_encode(self.state),
        );
        if let Some(challenge) = self.code_challenge {
            url.push_str(&format!(
                "&code_challenge={}&code_challenge_method=S256",
                percent_encode(challenge)
            ));
        }
        url
    }
}

/// The body of a token request, form-encoded as Hydra requires (a JSON body is refused).
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
}

pub fn code_exchange_form(creds: &ClientCredentials, code: &str, verifier: Option<&str>) -> String {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", creds.client_id),
        ("client_secret", creds.client_secret),
        ("redirect_uri", creds.redirect_uri),
    ];
    if let Some(verifier) = verifier {
        fields.push(("code_verifier", verifier));
    }
    form(&fields)
}

pub fn refresh_form(creds: &ClientCredentials, refresh_token: &str) -> String {
    form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", creds.client_id),
        ("client_secret", creds.client_secret),
        ("redirect_uri", creds.redirect_uri),
    ])
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Seconds; Divar issues one hour. Absent means we assume that hour.
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The grant is no good (used or expired code, revoked refresh token): ask again.
    #[error("the grant was refused ({0})")]
    Refused(String),
    /// Divar or the network failed; trying again later may work.
    #[error("the token endpoint is unavailable ({0})")]
    Unavailable(String),
    /// Our own configuration is wrong (client secret, redirect URI).
    #[error("the client was refused ({0})")]
    Misconfigured(String),
}

/// Reads a token endpoint answer. Hydra's errors are `{"error": "...", "error_description": "..."}`.
pub fn parse_token_answer(status: u16, body: &str) -> Result<TokenAnswer, TokenError> {
    if status == 200 {
        return serde_json::from_slice::<TokenAnswer>(body.as_bytes())
            .ok()
            .filter(|t| !t.access_token.is_empty())
            .ok_or_else(|| TokenError::Unavailable("unreadable token answer".into()));
    }
    let code = serde_json::from_slice::<serde_json::Value>(body.as_bytes())
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| format!("http {status}"));
    Err(match (status, code.as_str()) {
        (_, "invalid_grant" | "access_denied") => TokenError::Refused(code),
        (_, "invalid_client" | "unauthorized_client" | "invalid_request" | "invalid_scope") => {
            TokenError::Misconfigured(code)
        }
        (429 | 500..=599, _) => TokenError::Unavailable(code),
        (400..=499, _) => TokenError::Refused(code),
        _ => TokenError::Unavailable(code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_is_fully_encoded() {
        let scopes = [Scope::conversation_send_message("6b3d5cf7-92"), Scope::offline_access()];
        let url = AuthorizeRequest {
            oauth_base: "https://oauth.divar.ir",
            client_id: "my-app",
            redirect_uri: "https://app.example/oauth/callback",
            scopes: &scopes,
            state: "s+t/ate",
            code_challenge: Some("E9Mel"),
        }
        .url();
        assert_eq!(
            url,
            "https://oauth.divar.ir/oauth2/auth?response_type=code&client_id=my-app\
             &redirect_uri=https%3A%2F%2Fapp.example%2Foauth%2Fcallback\
             &scope=CONVERSATION_SEND_MESSAGE.6b3d5cf7-92%20offline_access&state=s%2Bt%2Fate\
             &code_challenge=E9Mel&code_challenge_method=S256"
        );
    }

    #[test]
    fn token_forms_are_form_encoded() {
        let creds = ClientCredentials {
            client_id: "app",
            client_secret: "s&cret",
            redirect_uri: "https://a/cb",
        };
        assert_eq!(
            code_exchange_form(&creds, "c=1", Some("v")),
            "grant_type=authorization_code&code=c%3D1&client_id=app&client_secret=s%26cret\
             &redirect_uri=https%3A%2F%2Fa%2Fcb&code_verifier=v"
        );
        assert!(refresh_form(&creds, "ory_rt_x").starts_with("grant_type=refresh_token&refresh_token=ory_rt_x&"));
    }

    #[test]
    fn token_answers_and_hydra_errors() {
        let ok = parse_token_answer(
            200,
            r#"{"access_token":"ory_at_1","expires_in":3600,"token_type":"bearer"}"#,
        );
        assert_eq!(ok.expect("ok").expires_in, Some(3600));
        assert!(matches!(parse_token_answer(200, "{}"), Err(TokenError::Unavailable(_))));
        assert!(matches!(
            parse_token_answer(400, r#"{"error":"invalid_grant","error_description":"used"}"#),
            Err(TokenError::Refused(_))
        ));
        assert!(matches!(
            parse_token_answer(401, r#"{"error":"invalid_client"}"#),
            Err(TokenError::Misconfigured(_))
        ));
        assert!(matches!(
            parse_token_answer(503, "down"),
            Err(TokenError::Unavailable(_))
        ));
        assert!(matches!(parse_token_answer(429, "{}"), Err(TokenError::Unavailable(_))));
    }
}
