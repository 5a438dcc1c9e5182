//! One typed configuration, built from the worker's vars and secrets at the start of a request.
//! A missing or weak setting is an error that names the setting, so a deployer reading the
//! logs knows what to fix; it is never a panic.

use crate::secret::{IdentificationKey, Secret};
use crate::ttl::Ttl;

pub const DEFAULT_KENAR_API_BASE: &str = "https://open-api.divar.ir";
pub const DEFAULT_KENAR_OAUTH_BASE: &str = "https://oauth.divar.ir";
pub const DEFAULT_COMPLETION_URL: &str = "https://open-platform-redirect.divar.ir/completion";
pub const DEFAULT_SESSION_TTL_SECS: u64 = 3600;
/// The first retry of a message Divar did not take comes after 30 s, then 1, 2, 4 … minutes.
pub const DEFAULT_RETRY_BASE_MS: u64 = 30_000;
/// Path of the OAuth callback under the public base URL; the full URL is registered in the panel.
pub const OAUTH_CALLBACK_PATH: &str = "/oauth/callback";

const MIN_IDENTIFICATION_KEY_LEN: usize = 16;
const MIN_SIGNING_KEY_LEN: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {0} is missing")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

impl ConfigError {
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::Missing(name) | ConfigError::Invalid { name, .. } => name,
        }
    }
}

/// When the server-side copy of a launch is written (see the README's design notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionPersist {
    /// At launch, after the answer has gone to Divar (`wait_until`): one KV write per launch.
    Launch,
    /// Only when the flow first needs server-side state (OAuth): launches that go no further
    /// cost no KV write, which matters on Workers Free's 1,000 writes a day.
    OnDemand,
}

/// An absolute base URL without a trailing slash, query or fragment. Plain `http` is allowed
/// only for loopback hosts, where the local simulator lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(name: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| ConfigError::Invalid {
            name,
            why: why.to_string(),
        };
        let raw = raw.trim().trim_end_matches('/');
        let rest = if let Some(rest) = raw.strip_prefix("https://") {
            rest
        } else if let Some(rest) = raw.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            let host = if rest.starts_with("[::1]") { "[::1]" } else { host };
            if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
                return Err(invalid("must use https (plain http only for loopback)"));
            }
            rest
        } else {
            return Err(invalid("must start with https://"));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("has no host"));
        }
        if rest.contains(['?', '#', ' ', '@']) {
            return Err(invalid("must not carry a query, fragment, credentials or spaces"));
        }
        Ok(BaseUrl(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `path` must start with '/'.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub identification_key: IdentificationKey,
    pub app_slug: String,
    pub api_key: Secret,
    pub oauth_client_secret: Secret,
    pub session_signing_key: Secret,
    pub token_encryption_key: [u8; 32],
    pub public_base_url: BaseUrl,
    pub kenar_api_base: BaseUrl,
    pub kenar_oauth_base: BaseUrl,
    /// Divar's fixed "return to Divar" URL; the only place the page ever sends a person.
    pub completion_url: BaseUrl,
    pub session_ttl: Ttl,
    pub session_persist: SessionPersist,
    pub pkce: bool,
    /// Timeout of each call to Divar (Kenar API and token endpoint).
    pub api_timeout_ms: u32,
    /// The first wait before a failed message is tried again; each later wait doubles.
    pub retry_base_ms: u64,
    /// Lets the end-to-end harness run the storage contract inside a real object
    /// (`POST /_selftest/storage`). Never on in production.
    pub selftest: bool,
    /// `KENAR_RATE_LIMITS`: whether the rate-limiting bindings are asked (on unless "off";
    /// the local harness turns them off so tests and benchmarks can hammer one address).
    pub rate_limits: bool,
}

impl Config {
    /// Builds the configuration from a lookup of the worker's bindings by name. Empty values
    /// count as missing, because `wrangler` turns an unset var into an empty string.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let secret = |name: &'static str, min: usize| -> Result<Secret, ConfigError> {
            let value = require(name)?;
            if value.len() < min {
                return Err(ConfigError::Invalid {
                    name,
                    why: format!("is too weak: use at least {min} characters"),
                });
            }
            Ok(Secret::new(value))
        };
        let base =
            |name: &'static str, default: &str| BaseUrl::parse(name, &get(name).unwrap_or_else(|| default.to_string()));

        let identification_key = IdentificationKey::new(
            secret("DIVAR_IDENTIFICATION_KEY", MIN_IDENTIFICATION_KEY_LEN)?,
            match get("DIVAR_IDENTIFICATION_KEY_NEXT") {
                Some(_) => Some(secret("DIVAR_IDENTIFICATION_KEY_NEXT", MIN_IDENTIFICATION_KEY_LEN)?),
                None => None,
            },
        );
        let app_slug = require("KENAR_APP_SLUG")?.trim().to_string();
        let session_ttl = match get("SESSION_TTL_SECONDS") {
            None => Ttl::at_least_floor(DEFAULT_SESSION_TTL_SECS),
            Some(raw) => {
                let invalid = |why: String| ConfigError::Invalid {
                    name: "SESSION_TTL_SECONDS",
                    why,
                };
                let secs: u64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| invalid("must be a whole number of seconds".into()))?;
                if secs > 30 * 24 * 3600 {
                    return Err(invalid("must be at most 30 days".into()));
                }
                Ttl::from_secs(secs).map_err(|e| invalid(e.to_string()))?
            }
        };
        let session_persist = match get("SESSION_PERSIST").as_deref().map(str::trim) {
            Some("launch") => SessionPersist::Launch,
            None | Some("on-demand") => SessionPersist::OnDemand,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_PERSIST",
                    why: "must be \"launch\" or \"on-demand\"".into(),
                })
            }
        };
        let pkce = match get("OAUTH_PKCE").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "OAUTH_PKCE",
                    why: "must be \"on\" or \"off\"".into(),
                })
            }
        };

        // Milliseconds within bounds, or the default when unset.
        let millis = |name: &'static str, default: u64, (min, max): (u64, u64)| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (min..=max).contains(ms))
                    .ok_or_else(|| ConfigError::Invalid {
                        name,
                        why: format!("must be {min} to {max} milliseconds"),
                    }),
            }
        };
        let default_timeout = u64::from(crate::kenar::client::CALL_TIMEOUT_MS);
        // At most 30 000, so it fits a u32.
        let api_timeout_ms = millis("KENAR_API_TIMEOUT_MS", default_timeout, (100, 30_000))? as u32;
        let retry_base_ms = millis("KENAR_RETRY_BASE_MS", DEFAULT_RETRY_BASE_MS, (100, 600_000))?;
        let selftest = match get("KENAR_SELFTEST").as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "KENAR_SELFTEST",
                    why: "must be \"on\" or \"off\"".into(),
                })
            }
        };

        let rate_limits = match get("KENAR_RATE_LIMITS").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "KENAR_RATE_LIMITS",
                    why: "must be \"on\" or \"off\"".into(),
                })
            }
        };

        Ok(Config {
            identification_key,
            app_slug,
            api_key: secret("KENAR_API_KEY", 8)?,
            oauth_client_secret: secret("KENAR_OAUTH_CLIENT_SECRET", 8)?,
            session_signing_key: secret("SESSION_SIGNING_KEY", MIN_SIGNING_KEY_LEN)?,
            token_encryption_key: parse_aes_key(&require("TOKEN_ENCRYPTION_KEY")?)?,
            public_base_url: BaseUrl::parse("PUBLIC_BASE_URL", &require("PUBLIC_BASE_URL")?)?,
            kenar_api_base: base("KENAR_API_BASE", DEFAULT_KENAR_API_BASE)?,
            kenar_oauth_base: base("KENAR_OAUTH_BASE", DEFAULT_KENAR_OAUTH_BASE)?,
            completion_url: base("DIVAR_COMPLETION_URL", DEFAULT_COMPLETION_URL)?,
            session_ttl,
            session_persist,
            pkce,
            api_timeout_ms,
            retry_base_ms,
            selftest,
            rate_limits,
        })
    }

    /// The OAuth `redirect_uri`: always derived from configuration, never from a request's Host.
    pub fn oauth_redirect_uri(&self) -> String {
        self.public_base_url.join(OAUTH_CALLBACK_PATH)
    }
}

fn parse_aes_key(raw: &str) -> Result<[u8; 32], ConfigError> {
    let invalid = || ConfigError::Invalid {
        name: "TOKEN_ENCRYPTION_KEY",
        why: "must be exactly 64 hex digits (32 random bytes)".into(),
    };
    let raw = raw.trim().as_bytes();
    if raw.len() != 64 {
        return Err(invalid());
    }
    let mut key = [0u8; 32];
    for (i, pair) in raw.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).map_err(|_| invalid())?;
        key[i] = u8::from_str_radix(hex, 16).map_err(|_| invalid())?;
    }
    if key.iter().all(|b| *b == key[0]) {
        return Err(ConfigError::Invalid {
            name: "TOKEN_ENCRYPTION_KEY",
            why: "is too weak: generate it with `openssl rand -hex 32`".into(),
        });
    }
    Ok(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub use crate::testkit::{dev_config, dev_vars};

    fn with(changes: &[(&str, Option<&str>)]) -> Result<Config, ConfigError> {
        let mut vars = dev_vars();
        for (k, v) in changes {
            match v {
                Some(v) => vars.insert(k.to_string(), v.to_string()),
                None => vars.remove(*k),
            };
        }
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn example_config_is_valid_and_points_at_loopback() {
        let c = dev_config();
        assert_eq!(c.app_slug, "kenar-edge-dev");
        assert_eq!(c.oauth_redirect_uri(), "http://127.0.0.1:8787/oauth/callback");
        assert_eq!(c.session_ttl.secs(), DEFAULT_SESSION_TTL_SECS);
        assert_eq!(c.session_persist, SessionPersist::OnDemand);
        assert!(c.pkce);
    }

    #[test]
    fn divar_hosts_are_the_defaults() {
        let c = with(&[
            ("KENAR_API_BASE", None),
            ("KENAR_OAUTH_BASE", Some("")),
            ("DIVAR_COMPLETION_URL", None),
        ])
        .expect("valid");
        assert_eq!(c.kenar_api_base.as_str(), DEFAULT_KENAR_API_BASE);
        assert_eq!(c.kenar_oauth_base.as_str(), DEFAULT_KENAR_OAUTH_BASE);
        assert_eq!(c.completion_url.as_str(), DEFAULT_COMPLETION_URL);
    }

    #[test]
    fn every_required_setting_is_named_when_missing() {
        for name in [
            "DIVAR_IDENTIFICATION_KEY",
            "KENAR_APP_SLUG",
            "KENAR_API_KEY",
            "KENAR_OAUTH_CLIENT_SECRET",
            "SESSION_SIGNING_KEY",
            "TOKEN_ENCRYPTION_KEY",
            "PUBLIC_BASE_URL",
        ] {
            let err = with(&[(name, None)]).expect_err(name);
            assert_eq!(err, ConfigError::Missing(name));
            assert_eq!(with(&[(name, Some("  "))]).expect_err(name).setting(), name);
        }
    }

    #[test]
    fn weak_secrets_are_refused_by_name() {
        let cases = [
            ("DIVAR_IDENTIFICATION_KEY", "short"),
            ("DIVAR_IDENTIFICATION_KEY_NEXT", "short"),
            ("SESSION_SIGNING_KEY", "only-twenty-chars-xx"),
            ("TOKEN_ENCRYPTION_KEY", "abcd"),
            ("TOKEN_ENCRYPTION_KEY", &"0".repeat(64)),
            ("TOKEN_ENCRYPTION_KEY", &"zz".repeat(32)),
        ];
        for (name, value) in cases {
            let err = with(&[(name, Some(value))]).expect_err(name);
            assert_eq!(err.setting(), name, "{err}");
            assert!(
                !err.to_string().contains(value) || value.len() < 8,
                "{err} echoes the secret"
            );
        }
    }

    #[test]
    fn session_ttl_has_a_floor_and_a_ceiling() {
        assert_eq!(
            with(&[("SESSION_TTL_SECONDS", Some("59"))])
                .expect_err("floor")
                .setting(),
            "SESSION_TTL_SECONDS"
        );
        assert_eq!(
            with(&[("SESSION_TTL_SECONDS", Some("abc"))])
                .expect_err("nan")
                .setting(),
            "SESSION_TTL_SECONDS"
        );
        assert!(with(&[("SESSION_TTL_SECONDS", Some("9999999"))]).is_err());
        assert_eq!(
            with(&[("SESSION_TTL_SECONDS", Some("60"))])
                .expect("ok")
                .session_ttl
                .secs(),
            60
        );
    }

    #[test]
    fn modes_parse_strictly() {
        assert_eq!(
            with(&[("SESSION_PERSIST", Some("on-demand"))])
                .expect("ok")
                .session_persist,
            SessionPersist::OnDemand
        );
        assert!(with(&[("SESSION_PERSIST", Some("sometimes"))]).is_err());
        assert!(!with(&[("OAUTH_PKCE", Some("off"))]).expect("ok").pkce);
        assert!(with(&[("OAUTH_PKCE", Some("maybe"))]).is_err());
        assert_eq!(
            with(&[("KENAR_API_TIMEOUT_MS", Some("800"))])
                .expect("ok")
                .api_timeout_ms,
            800
        );
        assert!(with(&[("KENAR_API_TIMEOUT_MS", Some("0"))]).is_err());
        assert!(with(&[("KENAR_API_TIMEOUT_MS", Some("soon"))]).is_err());
    }

    #[test]
    fn base_urls_need_https_except_on_loopback() {
        let ok = [
            "https://x.example",
            "https://x.example/",
            "http://127.0.0.1:8790",
            "http://localhost",
            "http://[::1]:9",
        ];
        for raw in ok {
            assert!(BaseUrl::parse("X", raw).is_ok(), "{raw}");
        }
        let bad = [
            "http://evil.example",
            "ftp://x",
            "https://",
            "https:///path",
            "https://x/?a=1",
            "https://u@x",
            "x.example",
            "http://127.0.0.1.evil.example",
        ];
        for raw in bad {
            assert!(BaseUrl::parse("X", raw).is_err(), "{raw}");
        }
        assert_eq!(
            BaseUrl::parse("X", "https://x.example/").expect("ok").join("/a"),
            "https://x.example/a"
        );
    }
}
