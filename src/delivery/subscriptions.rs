//! Keeping a seller's events subscriptions alive, from their person object. Divar delivers a
//! post's messages only "until your token expires" and asks for a new subscription after each
//! refresh. So the object refreshes a post's token before it runs out and subscribes again
//! with the new one; it also subscribes again whenever any send refreshed the token, and once
//! a day in case Divar dropped the subscription silently. The metadata names the seller's
//! object and the post, which is how an event finds the seller's grant and settings.

use serde_json::{json, Map, Value};

use super::tokens::{self, TokenStatus};
use super::{GrantFor, PersonKey};
use crate::config::Config;
use crate::kenar::client::{KenarClient, SendError};
use crate::kenar::ids::PostToken;
use crate::objects::seller::{self, token_digest};
use crate::objects::sql::StoreError;
use crate::objects::ObjectHost;

/// A post's token is refreshed this long before it would die, so the subscription never lapses.
pub const RENEW_AHEAD_MS: u64 = 10 * 60 * 1000;
/// Subscribed again at least this often.
pub const RESUBSCRIBE_MS: u64 = 24 * 3600 * 1000;
/// A failed attempt is tried again after this long.
pub const RETRY_MS: u64 = 5 * 60 * 1000;

/// What every event of a seller's subscription carries back.
pub fn metadata(person: &PersonKey, post_token: &str) -> Value {
    json!({ "seller": person.as_str(), "post": post_token })
}

/// Whose subscription an event came through, read back from its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SellerSubscription {
    pub person: PersonKey,
    pub post_token: String,
}

impl SellerSubscription {
    pub fn from_metadata(metadata: Option<&Map<String, Value>>) -> Option<Self> {
        let m = metadata?;
        let person = PersonKey::parse(m.get("seller")?.as_str()?)?;
        let post_token = PostToken::parse(m.get("post")?.as_str()?)?;
        Some(SellerSubscription {
            person,
            post_token: post_token.to_string(),
        })
    }
}

/// What one look at a post's subscription did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Off, or no such assistant: nothing to keep.
    Idle,
    /// Running on a token that lives long enough.
    Fresh,
    Subscribed,
    NeedsConsent,
    Failed,
}

/// Makes sure the post's subscription runs on a token that lives at least `RENEW_AHEAD_MS`
/// more, and makes it again when the token changed, a day went by, the last try failed, or
/// `force` says so.
pub async fn keep<H: ObjectHost>(h: &H, cfg: &Config, post_token: &str, force: bool) -> Result<Kept, StoreError> {
    let Some(row) = seller::load(h.sql(), post_token)? else {
        return Ok(Kept::Idle);
    };
    if !row.settings.enabled {
        return Ok(Kept::Idle);
    }
    let grant = GrantFor::Post(post_token.to_string()).storage_name();
    let token = match tokens::token_lasting(h, cfg, (&row.person, &grant), None, RENEW_AHEAD_MS).await? {
        TokenStatus::Ready(token) => token,
        TokenStatus::ConsentNeeded => return Ok(Kept::NeedsConsent),
        TokenStatus::Unavailable(_) => {
            seller::record_subscription(h.sql(), post_token, Err("divar_unavailable"), h.now_ms())?;
            return Ok(Kept::Failed);
        }
    };
    let now = h.now_ms();
    let fresh = row.subscribed_with.as_deref() == Some(token_digest(&token).as_str())
        && now < row.subscribed_at_ms.saturating_add(RESUBSCRIBE_MS)
        && row.problem.is_none();
    if fresh && !force {
        return Ok(Kept::Fresh);
    }
    let client = KenarClient {
        platform: h,
        api_base: cfg.kenar_api_base.as_str(),
        api_key: cfg.api_key.expose(),
        timeout_ms: cfg.api_timeout_ms,
    };
    let result = client
        .subscribe_post_messages(post_token, &token, &metadata(&row.person, post_token))
        .await;
    let now = h.now_ms();
    match result {
        Ok(()) => {
            seller::record_subscription(h.sql(), post_token, Ok(&token), now)?;
            h.log("events: subscribed to a post's messages");
            Ok(Kept::Subscribed)
        }
        Err(e) => {
            let problem = match e {
                SendError::PermissionRejected | SendError::TokenRejected => "permission_refused",
                SendError::Transient { .. } => "divar_unavailable",
                _ => "subscribe_refused",
            };
            seller::record_subscription(h.sql(), post_token, Err(problem), now)?;
            h.log(&format!("events: subscribing to a post's messages failed: {problem}"));
            Ok(Kept::Failed)
        }
    }
}

/// When the object must next wake for its subscriptions: the earliest token renewal, daily
/// re-subscription or retry; `None` when no assistant is on.
pub fn next_wake<H: ObjectHost>(h: &H, cfg: &Config) -> Result<Option<u64>, StoreError> {
    let sealer = crate::crypto::Sealer::new(&cfg.token_encryption_key);
    let now = h.now_ms();
    let mut next: Option<u64> = None;
    for post in seller::enabled_posts(h.sql())? {
        let Some(row) = seller::load(h.sql(), &post)? else {
            continue;
        };
        let grant = GrantFor::Post(post.clone()).storage_name();
        let Some((g, _)) = tokens::load(h.sql(), &sealer, (&row.person, &grant))? else {
            // Nothing to renew until the seller consents.
            continue;
        };
        // `access_usable` keeps a minute in hand; wake when the renewal window opens.
        let renew = g.expires_at_ms.saturating_sub(RENEW_AHEAD_MS + 60_000);
        let daily = row.subscribed_at_ms.saturating_add(RESUBSCRIBE_MS);
        let mut at = renew.min(daily);
        if row.problem.is_some() {
            at = at.min(now + RETRY_MS);
        }
        next = Some(next.map_or(at, |n| n.min(at)));
    }
    // Never sooner than a minute: a token Divar issues shorter-lived than the renewal window
    // must not turn into a refresh storm.
    Ok(next.map(|at| at.max(now + 60_000)))
}

/// The person object's alarm: every assistant that is on gets its subscription kept, then the
/// alarm is set for the next renewal.
pub async fn renew_all<H: ObjectHost>(h: &H, cfg: &Config) -> Result<(), StoreError> {
    for post in seller::enabled_posts(h.sql())? {
        keep(h, cfg, &post, false).await?;
    }
    rearm(h, cfg).await
}

pub async fn rearm<H: ObjectHost>(h: &H, cfg: &Config) -> Result<(), StoreError> {
    match next_wake(h, cfg)? {
        Some(at) => h.schedule(at).await,
        None => h.unschedule().await,
    }
    Ok(())
}
