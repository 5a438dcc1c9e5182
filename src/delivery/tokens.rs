//! A person's grants and the one token manager that serves them, run inside the person's
//! object. One writer per person means a refresh is never raced by another refresh of the same
//! grant: a second caller finds the refresh lease and waits for its result instead of spending
//! the rotated refresh token again. Tokens are sealed at rest (AES-256-GCM, bound to the row).

use serde::{Deserialize, Serialize};

use super::PersonKey;
use crate::config::Config;
use crate::crypto::{digest_hex, Sealer};
use crate::kenar::client::token_request;
use crate::kenar::oauth::{refresh_form, ClientCredentials, TokenAnswer, TokenError};
use crate::objects::sql::{Sql, SqlValue, StoreError};
use crate::objects::ObjectHost;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    refreshing_until INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
)"];

/// Divar's access tokens live an hour; an answer without `expires_in` is taken to mean that.
const DEFAULT_ACCESS_SECS: u64 = 3600;
/// How often a caller that found a refresh under way looks again.
const REFRESH_POLL_MS: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at_ms: u64,
    pub scope: Option<String>,
}

impl Grant {
    /// Treated as expired a minute early, so a token never dies in flight.
    pub fn access_usable(&self, now_ms: u64) -> bool {
        now_ms + 60_000 < self.expires_at_ms
    }

    pub fn from_answer(answer: TokenAnswer, previous_refresh: Option<String>, now_ms: u64) -> Self {
        Grant {
            access_token: answer.access_token,
            // Hydra rotates refresh tokens; keep the old one only if none came back.
            refresh_token: answer.refresh_token.or(previous_refresh),
            expires_at_ms: now_ms + answer.expires_in.unwrap_or(DEFAULT_ACCESS_SECS) * 1000,
            scope: answer.scope,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Ready(String),
    /// No grant, or one Divar no longer honours: the person must consent (again).
    ConsentNeeded,
    /// Divar's token endpoint is failing; try later.
    Unavailable(String),
}

/// A grant is named by `GrantFor::storage_name` (a conversation, or a post); its row id is a
/// digest, so storage shows no id.
fn grant_id(grant_name: &str) -> String {
    digest_hex(&["grant", grant_name])
}

fn bound_to(person: &PersonKey, id: &str) -> String {
    format!("grant:{}:{id}", person.as_str())
}

pub fn save<S: Sql>(
    s: &S,
    sealer: &Sealer,
    (person, grant_name): (&PersonKey, &str),
    grant: &Grant,
    now_ms: u64,
) -> Result<(), StoreError> {
    let id = grant_id(grant_name);
    let json = serde_json::to_vec(grant).map_err(|e| StoreError(e.to_string()))?;
    let sealed = sealer
        .seal(&json, &bound_to(person, &id))
        .map_err(|e| StoreError(e.to_string()))?;
    s.exec(
        "INSERT INTO grants (grant_id, sealed, refreshing_until, updated_at) VALUES (?, ?, 0, ?)
         ON CONFLICT(grant_id) DO UPDATE SET sealed = excluded.sealed, refreshing_until = 0,
         updated_at = excluded.updated_at",
        &[id.into(), sealed.into(), now_ms.into()],
    )?;
    Ok(())
}

/// Drops the grant Divar refused `refused` for, unless it was replaced meanwhile (the person
/// consented again while the refused send was on its way): the new grant stays.
pub fn forget_refused<S: Sql>(
    s: &S,
    sealer: &Sealer,
    (person, grant_name): (&PersonKey, &str),
    refused: &str,
) -> Result<bool, StoreError> {
    s.transaction(|| match load(s, sealer, (person, grant_name))? {
        Some((grant, _)) if grant.access_token == refused => forget(s, grant_name).map(|()| true),
        _ => Ok(false),
    })
}

/// Every grant of the person: they revoked the app's access at Divar.
pub fn forget_all<S: Sql>(s: &S) -> Result<usize, StoreError> {
    let n = s
        .scalar("SELECT COUNT(*) FROM grants", &[])?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    s.exec("DELETE FROM grants", &[])?;
    Ok(usize::try_from(n).unwrap_or(0))
}

pub fn forget<S: Sql>(s: &S, grant_name: &str) -> Result<(), StoreError> {
    s.exec("DELETE FROM grants WHERE grant_id = ?", &[grant_id(grant_name).into()])?;
    Ok(())
}

/// The stored grant and whether a refresh of it is under way (until when).
pub fn load<S: Sql>(
    s: &S,
    sealer: &Sealer,
    (person, grant_name): (&PersonKey, &str),
) -> Result<Option<(Grant, u64)>, StoreError> {
    let id = grant_id(grant_name);
    let Some(row) = s
        .exec(
            "SELECT sealed, refreshing_until FROM grants WHERE grant_id = ?",
            &[id.as_str().into()],
        )?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut it = row.into_iter();
    let sealed = it.next().and_then(SqlValue::into_string).unwrap_or_default();
    let refreshing_until = it.next().map(|v| v.as_u64()).unwrap_or(0);
    // A row that no longer opens (the key was rotated) is as good as no grant.
    let Ok(plain) = sealer.open(&sealed, &bound_to(person, &id)) else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&plain).ok().map(|g| (g, refreshing_until)))
}

fn set_refreshing<S: Sql>(s: &S, grant_name: &str, until_ms: u64) -> Result<(), StoreError> {
    s.exec(
        "UPDATE grants SET refreshing_until = ? WHERE grant_id = ?",
        &[until_ms.into(), grant_id(grant_name).into()],
    )?;
    Ok(())
}

/// What to do after looking at the stored grant.
enum Next {
    Answer(TokenStatus),
    Wait,
    Refresh(String),
}

/// A usable access token for `person`'s grant `grant_name`: the stored one while it lives, a
/// refreshed one after. `rejected` is a token Divar refused although our clock said it was
/// alive: refresh now, unless it was already replaced.
pub async fn token<H: ObjectHost>(
    h: &H,
    cfg: &Config,
    who: (&PersonKey, &str),
    rejected: Option<&str>,
) -> Result<TokenStatus, StoreError> {
    token_lasting(h, cfg, who, rejected, 0).await
}

/// Like `token`, but refreshes a token that would die within `min_life_ms`: an events
/// subscription lives only as long as the token it was made with, so it is renewed ahead.
pub async fn token_lasting<H: ObjectHost>(
    h: &H,
    cfg: &Config,
    (person, grant_name): (&PersonKey, &str),
    rejected: Option<&str>,
    min_life_ms: u64,
) -> Result<TokenStatus, StoreError> {
    let sealer = Sealer::new(&cfg.token_encryption_key);
    // The refresh lease outlives the one token call it covers, with room to spare.
    let lease_ms = 2 * u64::from(cfg.api_timeout_ms) + 1_000;
    let deadline = h.now_ms() + lease_ms + 1_000;
    let refresh_token = loop {
        let now = h.now_ms();
        let next = h.sql().transaction(|| {
            let Some((grant, refreshing_until)) = load(h.sql(), &sealer, (person, grant_name))? else {
                return Ok::<_, StoreError>(Next::Answer(TokenStatus::ConsentNeeded));
            };
            if grant.access_usable(now + min_life_ms) && rejected != Some(grant.access_token.as_str()) {
                return Ok(Next::Answer(TokenStatus::Ready(grant.access_token)));
            }
            if refreshing_until > now {
                return Ok(Next::Wait);
            }
            let Some(refresh_token) = grant.refresh_token.clone() else {
                forget(h.sql(), grant_name)?;
                return Ok(Next::Answer(TokenStatus::ConsentNeeded));
            };
            set_refreshing(h.sql(), grant_name, now + lease_ms)?;
            Ok(Next::Refresh(refresh_token))
        })?;
        match next {
            Next::Answer(status) => return Ok(status),
            Next::Refresh(refresh_token) => break refresh_token,
            Next::Wait if now >= deadline => {
                return Ok(TokenStatus::Unavailable("a refresh is taking too long".into()))
            }
            Next::Wait => h.sleep_ms(REFRESH_POLL_MS).await,
        }
    };
    let client_id = cfg.app_slug.clone();
    let redirect_uri = cfg.oauth_redirect_uri();
    let creds = ClientCredentials {
        client_id: &client_id,
        client_secret: cfg.oauth_client_secret.expose(),
        redirect_uri: &redirect_uri,
    };
    let answer = token_request(
        h.http(),
        cfg.kenar_oauth_base.as_str(),
        refresh_form(&creds, &refresh_token),
        cfg.api_timeout_ms,
    )
    .await;
    let now = h.now_ms();
    h.sql().transaction(|| {
        // Requests interleave while the old refresh token is at Divar: if the person consented
        // again meanwhile (or the grant was dropped), this answer is about a grant that no
        // longer stands and must neither overwrite nor forget what does.
        match load(h.sql(), &sealer, (person, grant_name))? {
            Some((current, _)) if current.refresh_token.as_deref() == Some(refresh_token.as_str()) => {}
            Some((current, _)) if current.access_usable(now) => return Ok(TokenStatus::Ready(current.access_token)),
            Some(_) => return Ok(TokenStatus::Unavailable("the grant changed during a refresh".into())),
            None => return Ok(TokenStatus::ConsentNeeded),
        }
        match answer {
            Ok(answer) => {
                let fresh = Grant::from_answer(answer, Some(refresh_token), now);
                save(h.sql(), &sealer, (person, grant_name), &fresh, now)?;
                h.log("oauth: refreshed a grant");
                Ok(TokenStatus::Ready(fresh.access_token))
            }
            Err(TokenError::Refused(_)) => {
                // Only this object refreshes this grant, so a refusal is about this very pair.
                forget(h.sql(), grant_name)?;
                h.log("oauth: Divar refused a refresh; the person must consent again");
                Ok(TokenStatus::ConsentNeeded)
            }
            Err(TokenError::Misconfigured(code)) => {
                set_refreshing(h.sql(), grant_name, 0)?;
                h.log(&format!(
                    "oauth: Divar refused our client credentials on refresh ({}); check KENAR_OAUTH_CLIENT_SECRET",
                    crate::web::loggable(&code, 64)
                ));
                Ok(TokenStatus::Unavailable("the token endpoint refused our client".into()))
            }
            Err(TokenError::Unavailable(why)) => {
                set_refreshing(h.sql(), grant_name, 0)?;
                Ok(TokenStatus::Unavailable(why))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::config::tests::dev_config;
    use crate::objects::person;
    use crate::platform::{Deferred, Http, HttpError, ObjectClass, OutRequest, OutResponse, Platform};
    use crate::testkit::{FakeHttp, MemKv, MemObjects, NativeSql, TestPlatform, TOKEN};

    const CONV: &str = "conv-1";

    fn conv(id: &str) -> crate::delivery::GrantFor {
        crate::delivery::GrantFor::Conversation(id.into())
    }

    fn who() -> PersonKey {
        PersonKey::of_user("u-1")
    }

    fn grant(p: &TestPlatform, access: &str, refresh: Option<&str>, expires_in_ms: u64) {
        let g = Grant {
            access_token: access.into(),
            refresh_token: refresh.map(str::to_string),
            expires_at_ms: p.now_ms() + expires_in_ms,
            scope: None,
        };
        pollster::block_on(person::save_grant(p.objects(), &who(), &conv(CONV), g)).expect("saved");
    }

    fn ask(p: &TestPlatform, rejected: Option<&str>) -> TokenStatus {
        pollster::block_on(person::token(p.objects(), &who(), &conv(CONV), rejected))
    }

    fn ready(t: &str) -> TokenStatus {
        TokenStatus::Ready(t.into())
    }

    fn person_sql(p: &TestPlatform) -> NativeSql {
        p.objects.sql_of(ObjectClass::Person, who().as_str())
    }

    fn rows(p: &TestPlatform) -> i64 {
        person_sql(p)
            .scalar("SELECT COUNT(*) FROM grants", &[])
            .expect("count")
            .and_then(|v| v.as_i64())
            .unwrap_or(-1)
    }

    fn refresh_forms(p: &TestPlatform) -> Vec<String> {
        p.http
            .sent_to(TOKEN)
            .into_iter()
            .map(|r| r.body.unwrap_or_default())
            .collect()
    }

    const AN_HOUR: u64 = 3_600_000;

    #[test]
    fn a_live_token_is_used_as_it_is() {
        let p = TestPlatform::default();
        grant(&p, "at_1", Some("rt_1"), AN_HOUR);
        assert_eq!(ask(&p, None), ready("at_1"));
        assert_eq!(ask(&p, None), ready("at_1"));
        assert!(p.http.sent().is_empty(), "no call to Divar");
        assert_eq!(
            token_for(&p, "conv-2"),
            TokenStatus::ConsentNeeded,
            "a grant is for its conversation only"
        );
        assert_eq!(
            pollster::block_on(person::token(
                p.objects(),
                &PersonKey::of_user("u-2"),
                &conv(CONV),
                None
            )),
            TokenStatus::ConsentNeeded,
            "and for its person only"
        );
    }

    fn token_for(p: &TestPlatform, conversation_id: &str) -> TokenStatus {
        pollster::block_on(person::token(p.objects(), &who(), &conv(conversation_id), None))
    }

    #[test]
    fn grants_are_sealed_at_rest() {
        let p = TestPlatform::default();
        grant(&p, "ory_at_secret", Some("ory_rt_secret"), AN_HOUR);
        let stored = person_sql(&p).exec("SELECT * FROM grants", &[]).expect("rows");
        let dump = format!("{stored:?}");
        assert!(!dump.contains("ory_") && !dump.contains("conv-1"), "{dump}");
    }

    #[test]
    fn an_expiring_token_is_refreshed_once_and_the_rotated_refresh_token_kept() {
        let p = TestPlatform::default();
        // Within the last minute counts as expired: it could die in flight.
        grant(&p, "at_1", Some("rt_1"), 30_000);
        p.http.route(
            TOKEN,
            200,
            r#"{"access_token":"at_2","refresh_token":"rt_2","expires_in":3600}"#,
        );
        assert_eq!(ask(&p, None), ready("at_2"));
        assert_eq!(ask(&p, None), ready("at_2"), "kept, not refreshed again");
        let forms = refresh_forms(&p);
        assert_eq!(forms.len(), 1);
        assert!(forms[0].contains("grant_type=refresh_token") && forms[0].contains("refresh_token=rt_1"));
        assert!(forms[0].contains("client_id=kenar-edge-dev") && forms[0].contains("client_secret="));

        // An hour on, the rotated refresh token is the one spent; an answer without a new one
        // keeps it.
        p.advance_secs(3600);
        p.http.route(TOKEN, 200, r#"{"access_token":"at_3"}"#);
        assert_eq!(ask(&p, None), ready("at_3"));
        p.advance_secs(3600);
        p.http.route(TOKEN, 200, r#"{"access_token":"at_4","expires_in":3600}"#);
        assert_eq!(ask(&p, None), ready("at_4"));
        let forms = refresh_forms(&p);
        assert_eq!(forms.len(), 3);
        assert!(forms[1].contains("refresh_token=rt_2"), "{}", forms[1]);
        assert!(forms[2].contains("refresh_token=rt_2"), "{}", forms[2]);
    }

    #[test]
    fn a_rejected_token_is_refreshed_unless_it_was_already_replaced() {
        let p = TestPlatform::default();
        grant(&p, "at_1", Some("rt_1"), AN_HOUR);
        p.http
            .route(TOKEN, 200, r#"{"access_token":"at_2","refresh_token":"rt_2"}"#);
        assert_eq!(
            ask(&p, Some("at_1")),
            ready("at_2"),
            "alive by our clock, refused by Divar"
        );
        assert_eq!(
            ask(&p, Some("at_1")),
            ready("at_2"),
            "a second send that saw at_1 refused gets the replacement"
        );
        assert_eq!(refresh_forms(&p).len(), 1);
    }

    #[test]
    fn a_refused_refresh_forgets_the_grant() {
        let p = TestPlatform::default();
        grant(&p, "at_1", Some("rt_1"), 0);
        p.http.route(TOKEN, 400, r#"{"error":"invalid_grant"}"#);
        assert_eq!(ask(&p, None), TokenStatus::ConsentNeeded);
        assert_eq!(rows(&p), 0, "forgotten");
        assert_eq!(ask(&p, None), TokenStatus::ConsentNeeded);
        assert_eq!(refresh_forms(&p).len(), 1, "a dead refresh token is not spent again");
    }

    #[test]
    fn without_a_refresh_token_an_expired_grant_needs_consent() {
        let p = TestPlatform::default();
        grant(&p, "at_1", None, 0);
        assert_eq!(ask(&p, None), TokenStatus::ConsentNeeded);
        assert_eq!(rows(&p), 0);
        assert!(p.http.sent().is_empty());
        assert_eq!(ask(&p, None), TokenStatus::ConsentNeeded, "no grant at all");
    }

    #[test]
    fn an_unavailable_token_endpoint_keeps_the_grant_and_frees_the_lease() {
        let p = TestPlatform::default();
        grant(&p, "at_1", Some("rt_1"), 0);
        p.http.route(TOKEN, 503, "");
        assert!(matches!(ask(&p, None), TokenStatus::Unavailable(_)));
        p.http.route(TOKEN, 401, r#"{"error":"invalid_client"}"#);
        assert!(
            matches!(ask(&p, None), TokenStatus::Unavailable(_)),
            "our mistake, not theirs"
        );
        assert_eq!(rows(&p), 1, "the grant is kept");
        let lease = person_sql(&p)
            .scalar("SELECT refreshing_until FROM grants", &[])
            .expect("lease")
            .map(|v| v.as_u64());
        assert_eq!(lease, Some(0), "the next caller need not wait");
        p.http.route(TOKEN, 200, r#"{"access_token":"at_2"}"#);
        assert_eq!(ask(&p, None), ready("at_2"));
        assert!(refresh_forms(&p).iter().all(|f| f.contains("refresh_token=rt_1")));
        assert!(p.slept.borrow().is_empty(), "nobody waited");
    }

    #[test]
    fn a_lease_left_by_a_caller_that_never_came_back_is_taken_over() {
        let p = TestPlatform::default();
        grant(&p, "at_1", Some("rt_1"), 0);
        let until = p.now_ms() + 3_000;
        person_sql(&p)
            .exec("UPDATE grants SET refreshing_until = ?", &[until.into()])
            .expect("lease");
        p.http.route(TOKEN, 200, r#"{"access_token":"at_2"}"#);
        assert_eq!(ask(&p, None), ready("at_2"));
        assert!(p.now_ms() >= until, "waited for the lease to run out");
        assert!(p.slept.borrow().iter().all(|ms| *ms == REFRESH_POLL_MS));
        assert_eq!(refresh_forms(&p).len(), 1);
    }

    /// Pending once, then ready: an await at which another caller gets to run, as a real
    /// object interleaves requests at its awaits.
    #[derive(Default)]
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// Divar's token endpoint, taking a moment to answer.
    #[derive(Clone)]
    struct SlowHttp(FakeHttp);

    impl Http for SlowHttp {
        async fn send(&self, req: OutRequest) -> Result<OutResponse, HttpError> {
            YieldOnce::default().await;
            self.0.send(req).await
        }
    }

    /// A person's object whose awaits really yield.
    struct Host {
        p: TestPlatform,
        http: SlowHttp,
        sql: NativeSql,
        schema_ready: std::cell::Cell<bool>,
    }

    impl Platform for Host {
        type Kv = MemKv;
        type Http = SlowHttp;
        type Objects = MemObjects;
        fn kv(&self) -> &MemKv {
            &self.p.kv
        }
        fn http(&self) -> &SlowHttp {
            &self.http
        }
        fn objects(&self) -> &MemObjects {
            &self.p.objects
        }
        async fn sleep_ms(&self, ms: u64) {
            self.p.sleep_ms(ms).await;
            YieldOnce::default().await;
        }
        fn now_ms(&self) -> u64 {
            self.p.now_ms()
        }
        fn defer(&self, task: Deferred) {
            pollster::block_on(task);
        }
        fn log(&self, line: &str) {
            self.p.log(line);
        }
    }

    impl ObjectHost for Host {
        type Sql = NativeSql;
        fn sql(&self) -> &NativeSql {
            &self.sql
        }
        async fn schedule(&self, _at_ms: u64) {}
        async fn unschedule(&self) {}
        fn schema_ready(&self) -> &std::cell::Cell<bool> {
            &self.schema_ready
        }
    }

    /// Runs two futures on one thread, taking turns at each await, `a` first.
    fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
        let (mut a, mut b) = (pin!(a), pin!(b));
        let (mut ra, mut rb) = (None, None);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..10_000 {
            if ra.is_none() {
                if let Poll::Ready(v) = a.as_mut().poll(&mut cx) {
                    ra = Some(v);
                }
            }
            if rb.is_none() {
                if let Poll::Ready(v) = b.as_mut().poll(&mut cx) {
                    rb = Some(v);
                }
            }
            if ra.is_some() && rb.is_some() {
                break;
            }
        }
        match (ra, rb) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("the two callers never finished"),
        }
    }

    fn host() -> Host {
        let p = TestPlatform::default();
        let http = SlowHttp(p.http.clone());
        let sql = NativeSql::default();
        crate::objects::sql::migrate(&sql, SCHEMA).expect("schema");
        Host {
            p,
            http,
            sql,
            schema_ready: Default::default(),
        }
    }

    fn save_on(h: &Host, cfg: &Config, access: &str, expires_in_ms: u64) {
        let g = Grant {
            access_token: access.into(),
            refresh_token: Some("rt_1".into()),
            expires_at_ms: h.now_ms() + expires_in_ms,
            scope: None,
        };
        save(
            &h.sql,
            &Sealer::new(&cfg.token_encryption_key),
            (&who(), CONV),
            &g,
            h.now_ms(),
        )
        .expect("save");
    }

    #[test]
    fn a_refresh_under_way_is_waited_for_not_repeated() {
        let cfg = dev_config();
        let h = host();
        save_on(&h, &cfg, "at_1", 0);
        h.p.http
            .route(TOKEN, 200, r#"{"access_token":"at_2","refresh_token":"rt_2"}"#);
        h.p.http.route(TOKEN, 400, r#"{"error":"invalid_grant"}"#);
        let person = who();
        let (first, second) = join(
            token(&h, &cfg, (&person, CONV), None),
            token(&h, &cfg, (&person, CONV), None),
        );
        assert_eq!(first, Ok(ready("at_2")));
        assert_eq!(
            second,
            Ok(ready("at_2")),
            "the second caller used the first one's result"
        );
        assert_eq!(h.p.http.sent_to(TOKEN).len(), 1, "rt_1 was spent once");
        assert!(!h.p.slept.borrow().is_empty(), "the second caller waited");
    }

    #[test]
    fn two_sends_refused_at_once_share_one_refresh() {
        let cfg = dev_config();
        let h = host();
        save_on(&h, &cfg, "at_1", AN_HOUR);
        h.p.http
            .route(TOKEN, 200, r#"{"access_token":"at_2","refresh_token":"rt_2"}"#);
        h.p.http.route(TOKEN, 400, r#"{"error":"invalid_grant"}"#);
        let person = who();
        let (first, second) = join(
            token(&h, &cfg, (&person, CONV), Some("at_1")),
            token(&h, &cfg, (&person, CONV), Some("at_1")),
        );
        assert_eq!((first, second), (Ok(ready("at_2")), Ok(ready("at_2"))));
        assert_eq!(h.p.http.sent_to(TOKEN).len(), 1);
    }

    #[test]
    fn a_grant_saved_during_a_refresh_is_not_lost_to_it() {
        let cfg = dev_config();
        let sealer = Sealer::new(&cfg.token_encryption_key);
        let person = who();
        for answer in [
            (400, r#"{"error":"invalid_grant"}"#),
            (200, r#"{"access_token":"at_old_2","refresh_token":"rt_old_2"}"#),
        ] {
            let h = host();
            save_on(&h, &cfg, "at_1", 0);
            h.p.http.route(TOKEN, answer.0, answer.1);
            let fresh = Grant {
                access_token: "at_new".into(),
                refresh_token: Some("rt_new".into()),
                expires_at_ms: h.now_ms() + AN_HOUR,
                scope: None,
            };
            // The person consents again while the old refresh token is at Divar.
            let consent = async { save(&h.sql, &sealer, (&person, CONV), &fresh, h.now_ms()) };
            let (refreshed, saved) = join(token(&h, &cfg, (&person, CONV), None), consent);
            saved.expect("saved");
            assert_eq!(refreshed, Ok(ready("at_new")), "answered with the grant that stands");
            let stored = load(&h.sql, &sealer, (&person, CONV)).expect("load").map(|(g, _)| g);
            assert_eq!(
                stored,
                Some(fresh),
                "the new grant survives an answer about the old one"
            );
        }

        // Dropped meanwhile (a send was refused with 403): a late answer does not bring it back.
        let h = host();
        save_on(&h, &cfg, "at_1", 0);
        h.p.http
            .route(TOKEN, 200, r#"{"access_token":"at_2","refresh_token":"rt_2"}"#);
        let drop = async { forget(&h.sql, CONV) };
        let (refreshed, dropped) = join(token(&h, &cfg, (&person, CONV), None), drop);
        dropped.expect("forgotten");
        assert_eq!(refreshed, Ok(TokenStatus::ConsentNeeded));
        assert_eq!(load(&h.sql, &sealer, (&person, CONV)).expect("load"), None);
    }

    #[test]
    fn a_refused_token_drops_only_its_own_grant() {
        let s = NativeSql::default();
        crate::objects::sql::migrate(&s, SCHEMA).expect("schema");
        let cfg = crate::config::tests::dev_config();
        let sealer = Sealer::new(&cfg.token_encryption_key);
        let who = PersonKey::of_user("u-1");
        let grant = |token: &str| Grant {
            access_token: token.into(),
            refresh_token: None,
            expires_at_ms: u64::MAX / 2,
            scope: None,
        };
        save(&s, &sealer, (&who, "c1"), &grant("at_new"), 1).expect("save");
        assert!(
            !forget_refused(&s, &sealer, (&who, "c1"), "at_old").expect("forget"),
            "a grant given again since the refused send stays"
        );
        assert!(load(&s, &sealer, (&who, "c1")).expect("load").is_some());
        assert!(forget_refused(&s, &sealer, (&who, "c1"), "at_new").expect("forget"));
        assert!(load(&s, &sealer, (&who, "c1")).expect("load").is_none());
    }
}
