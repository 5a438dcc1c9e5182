//! In-memory stand-ins for the platform, for native tests. Each promises no more than the
//! platform gives: KV refuses a second write to a key within a second and can serve stale
//! reads; object storage is a real SQLite that refuses the statements a Durable Object refuses;
//! objects run one command at a time per call, as the runtime runs them between awaits.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::config::Config;
use crate::objects::sql::{Row, Sql, SqlValue, StoreError};
use crate::objects::{conversation, person, ObjectHost};
use crate::platform::{
    Deferred, Http, HttpError, Kv, KvError, ObjectClass, ObjectError, Objects, OutRequest, OutResponse, Platform,
};
use crate::ttl::Ttl;
use crate::web::Response;

/// The values of `.dev.vars.example`, which tests treat as a known-good configuration.
pub fn dev_vars() -> HashMap<String, String> {
    let text = include_str!("../.dev.vars.example");
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn dev_config() -> Config {
    let vars = dev_vars();
    Config::from_lookup(|k| vars.get(k).cloned()).expect("the example config is valid")
}

/// KV in memory with expiry on a shared test clock, and a count of writes (Workers Free allows
/// 1,000 a day, so tests assert how many a flow costs).
/// value, expiry (s), ttl (s), written at (s), the value before that write
type Entry = (String, u64, u64, u64, Option<String>);

/// How long KV may show other locations an older value.
pub const KV_PROPAGATION_SECS: u64 = 60;

#[derive(Clone, Default)]
pub struct MemKv {
    inner: Rc<RefCell<HashMap<String, Entry>>>,
    now_secs: Rc<Cell<u64>>,
    writes: Rc<Cell<usize>>,
    fail: Rc<Cell<bool>>,
    stale: Rc<Cell<bool>>,
}

impl MemKv {
    pub fn advance_secs(&self, secs: u64) {
        self.now_secs.set(self.now_secs.get() + secs);
    }
    /// Keeps KV's clock with the platform's when a handler sleeps.
    fn catch_up(&self, now_ms: u64) {
        self.now_secs.set(self.now_secs.get().max(now_ms / 1000));
    }
    pub fn ttl_of(&self, key: &str) -> Option<u64> {
        self.inner.borrow().get(key).map(|e| e.2)
    }
    /// Reads as another location may see them: the value before a write younger than a minute.
    pub fn serve_stale_reads(&self, stale: bool) {
        self.stale.set(stale);
    }
    /// Workers KV takes one write per second per key; a second one fails (HTTP 429 there).
    fn rate_check(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = self.now_secs.get();
        match self.inner.borrow().get(key) {
            Some(e) if e.3 == now => Err(KvError(format!("429: more than one write per second to {key}"))),
            Some(e) if e.1 > now => Ok(Some(e.0.clone())),
            _ => Ok(None),
        }
    }
    pub fn writes(&self) -> usize {
        self.writes.get()
    }
    pub fn fail_all(&self, fail: bool) {
        self.fail.set(fail);
    }
    fn check(&self) -> Result<(), KvError> {
        if self.fail.get() {
            return Err(KvError("injected failure".into()));
        }
        Ok(())
    }
}

impl Kv for MemKv {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.check()?;
        let now = self.now_secs.get();
        let inner = self.inner.borrow();
        let Some(e) = inner.get(key) else { return Ok(None) };
        if self.stale.get() && now < e.3 + KV_PROPAGATION_SECS {
            return Ok(e.4.clone());
        }
        // A deleted key is kept as an empty tombstone so stale reads can still see it.
        Ok((e.1 > now && !e.0.is_empty()).then(|| e.0.clone()))
    }
    async fn put(&self, key: &str, value: &str, ttl: Ttl) -> Result<(), KvError> {
        self.check()?;
        let before = self.rate_check(key)?;
        self.writes.set(self.writes.get() + 1);
        let now = self.now_secs.get();
        self.inner.borrow_mut().insert(
            key.to_string(),
            (value.to_string(), now + ttl.secs(), ttl.secs(), now, before),
        );
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.check()?;
        let before = self.rate_check(key)?;
        self.writes.set(self.writes.get() + 1);
        let now = self.now_secs.get();
        if before.is_some() {
            self.inner.borrow_mut().insert(
                key.to_string(),
                (String::new(), now + KV_PROPAGATION_SECS, 0, now, before),
            );
        }
        Ok(())
    }
}

type Reply = Result<OutResponse, HttpError>;
/// Answers queued for URLs containing a fragment.
type Routes = Vec<(String, VecDeque<Reply>)>;

/// Answers outgoing calls from a script, in order, and records what was sent. Calls to a URL
/// containing a routed fragment are answered by that route's queue first.
#[derive(Clone, Default)]
pub struct FakeHttp {
    script: Rc<RefCell<VecDeque<Reply>>>,
    routes: Rc<RefCell<Routes>>,
    sent: Rc<RefCell<Vec<OutRequest>>>,
}

fn response(status: u16, body: &str, headers: Vec<(String, String)>) -> Reply {
    Ok(OutResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

impl FakeHttp {
    pub fn reply(&self, status: u16, body: &str) {
        self.script.borrow_mut().push_back(response(status, body, vec![]));
    }
    pub fn reply_with_header(&self, status: u16, body: &str, name: &str, value: &str) {
        self.script
            .borrow_mut()
            .push_back(response(status, body, vec![(name.into(), value.into())]));
    }
    pub fn fail(&self, error: HttpError) {
        self.script.borrow_mut().push_back(Err(error));
    }
    /// Queues an answer for calls whose URL contains `fragment`.
    pub fn route(&self, fragment: &str, status: u16, body: &str) {
        self.route_reply(fragment, response(status, body, vec![]));
    }
    pub fn route_with_header(&self, fragment: &str, status: u16, body: &str, name: &str, value: &str) {
        self.route_reply(fragment, response(status, body, vec![(name.into(), value.into())]));
    }
    fn route_reply(&self, fragment: &str, reply: Reply) {
        let mut routes = self.routes.borrow_mut();
        match routes.iter_mut().find(|(f, _)| f == fragment) {
            Some((_, q)) => q.push_back(reply),
            None => routes.push((fragment.to_string(), VecDeque::from([reply]))),
        }
    }
    pub fn sent(&self) -> Vec<OutRequest> {
        self.sent.borrow().clone()
    }
    pub fn sent_to(&self, fragment: &str) -> Vec<OutRequest> {
        self.sent
            .borrow()
            .iter()
            .filter(|r| r.url.contains(fragment))
            .cloned()
            .collect()
    }
}

impl Http for FakeHttp {
    async fn send(&self, req: OutRequest) -> Result<OutResponse, HttpError> {
        self.sent.borrow_mut().push(req.clone());
        let routed = self
            .routes
            .borrow_mut()
            .iter_mut()
            .find(|(f, q)| req.url.contains(f.as_str()) && !q.is_empty())
            .and_then(|(_, q)| q.pop_front());
        routed
            .or_else(|| self.script.borrow_mut().pop_front())
            .unwrap_or_else(|| Err(HttpError::Network(format!("no scripted reply for {}", req.url))))
    }
}

/// What a test platform and the objects it runs share: the clock, the log, Divar's fake.
#[derive(Clone)]
pub struct Shared {
    pub kv: MemKv,
    pub http: FakeHttp,
    pub slept: Rc<RefCell<Vec<u64>>>,
    pub now_ms: Rc<Cell<u64>>,
    pub logs: Rc<RefCell<Vec<String>>>,
}

pub struct TestPlatform {
    pub kv: MemKv,
    pub http: FakeHttp,
    pub slept: Rc<RefCell<Vec<u64>>>,
    pub now_ms: Rc<Cell<u64>>,
    pub deferred: RefCell<Vec<Deferred>>,
    pub logs: Rc<RefCell<Vec<String>>>,
    pub objects: MemObjects,
}

impl Default for TestPlatform {
    fn default() -> Self {
        let shared = Shared {
            kv: MemKv::default(),
            http: FakeHttp::default(),
            slept: Rc::default(),
            now_ms: Rc::new(Cell::new(1_700_000_000_000)),
            logs: Rc::default(),
        };
        TestPlatform {
            kv: shared.kv.clone(),
            http: shared.http.clone(),
            slept: shared.slept.clone(),
            now_ms: shared.now_ms.clone(),
            deferred: RefCell::new(Vec::new()),
            logs: shared.logs.clone(),
            objects: MemObjects::new(shared),
        }
    }
}

impl TestPlatform {
    /// Runs what the handler left for after the response, as `wait_until` would.
    pub fn run_deferred(&self) {
        let tasks: Vec<Deferred> = self.deferred.borrow_mut().drain(..).collect();
        for task in tasks {
            pollster::block_on(task);
        }
    }

    pub fn advance_secs(&self, secs: u64) {
        self.now_ms.set(self.now_ms.get() + secs * 1000);
        self.kv.advance_secs(secs);
    }

    /// Fires every object alarm that is due, as the runtime would; returns how many fired.
    pub fn fire_alarms(&self) -> usize {
        pollster::block_on(self.objects.fire_due())
    }
}

impl Platform for TestPlatform {
    type Kv = MemKv;
    type Http = FakeHttp;
    type Objects = MemObjects;
    fn kv(&self) -> &MemKv {
        &self.kv
    }
    fn http(&self) -> &FakeHttp {
        &self.http
    }
    fn objects(&self) -> &MemObjects {
        &self.objects
    }
    async fn sleep_ms(&self, ms: u64) {
        self.slept.borrow_mut().push(ms);
        self.now_ms.set(self.now_ms.get() + ms);
        self.kv.catch_up(self.now_ms.get());
    }
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }
    fn defer(&self, task: Deferred) {
        self.deferred.borrow_mut().push(task);
    }
    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_string());
    }
}

/// A Durable Object's SQLite, natively: an in-memory database. Like the real one it takes no
/// transaction statements of its own (`transaction` is the only way), and a transaction is a
/// savepoint that an `Err` rolls back.
#[derive(Clone)]
pub struct NativeSql(Rc<rusqlite::Connection>);

impl Default for NativeSql {
    fn default() -> Self {
        NativeSql(Rc::new(
            rusqlite::Connection::open_in_memory().expect("in-memory sqlite"),
        ))
    }
}

fn to_sqlite(v: &SqlValue) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Real(f) => Value::Real(*f),
        SqlValue::Text(t) => Value::Text(t.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_sqlite(v: rusqlite::types::ValueRef) -> SqlValue {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Int(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

impl NativeSql {
    fn run(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let err = |e: rusqlite::Error| StoreError(e.to_string());
        let mut stmt = self.0.prepare(sql).map_err(err)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args.iter().map(to_sqlite)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(from_sqlite(row.get_ref(i).map_err(err)?));
            }
            out.push(values);
        }
        Ok(out)
    }
}

impl Sql for NativeSql {
    fn exec(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        if ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"].contains(&first.as_str()) {
            return Err(StoreError(format!("{first} is not allowed: use transaction()")));
        }
        self.run(sql, args)
    }

    fn transaction<T, E: From<StoreError>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.run("SAVEPOINT kenar_tx", &[])?;
        match f() {
            Ok(value) => {
                self.run("RELEASE kenar_tx", &[])?;
                Ok(value)
            }
            Err(e) => {
                self.run("ROLLBACK TO kenar_tx", &[])?;
                self.run("RELEASE kenar_tx", &[])?;
                Err(e)
            }
        }
    }
}

/// One object's storage and alarm, which outlive any one call (and a "restart").
#[derive(Clone, Default)]
struct Slot {
    sql: NativeSql,
    alarm: Rc<Cell<Option<u64>>>,
    schema_ready: Rc<Cell<bool>>,
}

/// Durable Objects in process: each name gets its own SQLite and alarm; a call runs the
/// object's logic with a host made for it.
#[derive(Clone)]
pub struct MemObjects {
    shared: Shared,
    config: Rc<RefCell<Config>>,
    slots: Rc<RefCell<HashMap<(u8, String), Slot>>>,
    calls: Rc<Cell<usize>>,
}

fn class_tag(class: ObjectClass) -> u8 {
    match class {
        ObjectClass::Conversation => 0,
        ObjectClass::Person => 1,
    }
}

impl MemObjects {
    fn new(shared: Shared) -> Self {
        MemObjects {
            shared,
            config: Rc::new(RefCell::new(dev_config())),
            slots: Rc::default(),
            calls: Rc::default(),
        }
    }

    /// The configuration objects run with (the worker's, in production).
    pub fn set_config(&self, cfg: Config) {
        *self.config.borrow_mut() = cfg;
    }

    /// How many object calls were made.
    pub fn calls(&self) -> usize {
        self.calls.get()
    }

    fn host(&self, class: ObjectClass, name: &str) -> ObjectTestHost {
        let slot = self
            .slots
            .borrow_mut()
            .entry((class_tag(class), name.to_string()))
            .or_default()
            .clone();
        ObjectTestHost {
            shared: self.shared.clone(),
            objects: self.clone(),
            slot,
        }
    }

    /// The storage of one object, for tests that look inside.
    pub fn sql_of(&self, class: ObjectClass, name: &str) -> NativeSql {
        self.host(class, name).slot.sql
    }

    pub fn alarm_of(&self, class: ObjectClass, name: &str) -> Option<u64> {
        self.host(class, name).slot.alarm.get()
    }

    async fn fire_due(&self) -> usize {
        let now = self.shared.now_ms.get();
        let due: Vec<(u8, String)> = self
            .slots
            .borrow()
            .iter()
            .filter(|(_, slot)| slot.alarm.get().is_some_and(|at| at <= now))
            .map(|((class, name), _)| (*class, name.clone()))
            .collect();
        for (class, name) in &due {
            let cfg = self.config.borrow().clone();
            if *class == 0 {
                let host = self.host(ObjectClass::Conversation, name);
                host.slot.alarm.set(None);
                conversation::alarm(&host, &cfg).await;
            } else {
                let host = self.host(ObjectClass::Person, name);
                host.slot.alarm.set(None);
                person::alarm(&host, &cfg).await;
            }
        }
        due.len()
    }
}

impl Objects for MemObjects {
    async fn call(&self, class: ObjectClass, name: &str, command: String) -> Result<Response, ObjectError> {
        self.calls.set(self.calls.get() + 1);
        let host = self.host(class, name);
        let cfg = self.config.borrow().clone();
        // Objects call objects (a conversation asks a person for a token): box the recursion.
        let run: std::pin::Pin<Box<dyn std::future::Future<Output = Response>>> = Box::pin(async move {
            match class {
                ObjectClass::Conversation => conversation::handle(&host, &cfg, command.as_bytes()).await,
                ObjectClass::Person => person::handle(&host, &cfg, command.as_bytes()).await,
            }
        });
        Ok(run.await)
    }
}

/// The host one object call runs on.
pub struct ObjectTestHost {
    shared: Shared,
    objects: MemObjects,
    slot: Slot,
}

impl Platform for ObjectTestHost {
    type Kv = MemKv;
    type Http = FakeHttp;
    type Objects = MemObjects;
    fn kv(&self) -> &MemKv {
        &self.shared.kv
    }
    fn http(&self) -> &FakeHttp {
        &self.shared.http
    }
    fn objects(&self) -> &MemObjects {
        &self.objects
    }
    async fn sleep_ms(&self, ms: u64) {
        self.shared.slept.borrow_mut().push(ms);
        self.shared.now_ms.set(self.shared.now_ms.get() + ms);
    }
    fn now_ms(&self) -> u64 {
        self.shared.now_ms.get()
    }
    fn defer(&self, task: Deferred) {
        pollster::block_on(task);
    }
    fn log(&self, line: &str) {
        self.shared.logs.borrow_mut().push(line.to_string());
    }
}

impl ObjectHost for ObjectTestHost {
    type Sql = NativeSql;
    fn sql(&self) -> &NativeSql {
        &self.slot.sql
    }
    async fn schedule(&self, at_ms: u64) {
        self.slot.alarm.set(Some(at_ms));
    }
    async fn unschedule(&self) {
        self.slot.alarm.set(None);
    }
    fn schema_ready(&self) -> &Cell<bool> {
        &self.slot.schema_ready
    }
}

/// Where Divar takes messages posted into a conversation.
pub const SEND: &str = "/v2/open-platform/conversations/";
/// Divar's token endpoint.
pub const TOKEN: &str = "/oauth2/token";
/// What Divar puts in `Authorization` when it calls us (the dev configuration's).
pub const IDENTIFICATION_KEY: &str = "dev-divar-identification-key-0123456789";
/// The one conversation a `Chat` happens in.
pub const CONVERSATION: &str = "conv-1";

/// One conversation driven through the worker's routes, as the page and Divar drive it: people
/// launch the add-on, grant, call the page API, and tap buttons in the chat.
pub struct Chat {
    pub p: TestPlatform,
    pub cfg: Config,
}

impl Default for Chat {
    fn default() -> Self {
        Chat {
            p: TestPlatform::default(),
            cfg: dev_config(),
        }
    }
}

impl Chat {
    pub fn request(&self, req: crate::web::Request) -> Response {
        pollster::block_on(crate::routes::handle(&self.p, &Ok(self.cfg.clone()), &req))
    }

    /// Opens the add-on from the chat as `user` on `side`; returns the page's handle.
    pub fn launch(&self, side: &str, user: &str) -> String {
        let body = serde_json::json!({"source": "CHAT", "post_token": "wZC44q5D", "conversation_id": CONVERSATION,
                                      "user_side": side, "user_id": user});
        let req = crate::web::Request::new(crate::web::Method::Post, "/divar/session-init")
            .with_header("authorization", IDENTIFICATION_KEY)
            .with_header("content-type", "application/json")
            .with_body(body.to_string());
        let resp = self.request(req);
        assert_eq!(resp.status, 200, "launch: {:?}", resp.json_body());
        self.p.run_deferred();
        resp.json_body()["url"]
            .as_str()
            .and_then(|u| u.split_once("#h="))
            .map(|(_, h)| h.to_string())
            .expect("a handle in the url's fragment")
    }

    /// `user` granted permission to post in the conversation: access token `ory_at_<user>`,
    /// refresh token `ory_rt_<user>`, alive for a week (tests here are about sending, not expiry).
    pub fn grant(&self, user: &str) {
        let grant = crate::delivery::tokens::Grant {
            access_token: format!("ory_at_{user}"),
            refresh_token: Some(format!("ory_rt_{user}")),
            expires_at_ms: self.p.now_ms() + 7 * 24 * 3_600_000,
            scope: None,
        };
        pollster::block_on(person::save_grant(
            &self.p.objects,
            &crate::delivery::PersonKey::of_user(user),
            &crate::delivery::GrantFor::Conversation(CONVERSATION.into()),
            grant,
        ))
        .expect("grant saved");
    }

    /// What `user`'s object hands out for the conversation now.
    pub fn token_of(&self, user: &str) -> crate::delivery::tokens::TokenStatus {
        pollster::block_on(person::token(
            &self.p.objects,
            &crate::delivery::PersonKey::of_user(user),
            &crate::delivery::GrantFor::Conversation(CONVERSATION.into()),
            None,
        ))
    }

    pub fn post(&self, handle: &str, path: &str, body: serde_json::Value) -> Response {
        self.request(
            crate::web::Request::new(crate::web::Method::Post, path)
                .with_header("authorization", &format!("Bearer {handle}"))
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
        )
    }

    pub fn get(&self, handle: &str, path: &str) -> Response {
        self.request(
            crate::web::Request::new(crate::web::Method::Get, path)
                .with_header("authorization", &format!("Bearer {handle}")),
        )
    }

    /// Divar asking what a one-tap button does: `data` is the button's data.
    pub fn tap(&self, side: &str, user: Option<&str>, data: serde_json::Value) -> Response {
        let body = serde_json::json!({"post_token": "wZC44q5D", "conversation_id": CONVERSATION,
                                      "user_side": side, "user_id": user, "extra_data": data});
        self.request(
            crate::web::Request::new(crate::web::Method::Post, "/divar/dynamic-action")
                .with_header("authorization", IDENTIFICATION_KEY)
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
        )
    }

    /// Every call made to Divar's send endpoint, failed ones included, in order.
    pub fn sends(&self) -> Vec<OutRequest> {
        self.http().sent_to(SEND)
    }

    /// The bodies of those calls.
    pub fn sent_bodies(&self) -> Vec<serde_json::Value> {
        self.sends()
            .iter()
            .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or("")).expect("a JSON body"))
            .collect()
    }

    /// The bearer token each send went out with.
    pub fn sent_with(&self) -> Vec<String> {
        self.sends()
            .iter()
            .map(|r| {
                crate::web::find_header(&r.headers, "authorization")
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    pub fn http(&self) -> &FakeHttp {
        &self.p.http
    }

    /// The conversation's object's name.
    pub fn key(&self) -> String {
        crate::delivery::conversation_key(CONVERSATION)
    }

    /// The conversation's object's alarm, if set.
    pub fn alarm(&self) -> Option<u64> {
        self.p.objects.alarm_of(ObjectClass::Conversation, &self.key())
    }

    /// The conversation's object's storage.
    pub fn sql(&self) -> NativeSql {
        self.p.objects.sql_of(ObjectClass::Conversation, &self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_takes_one_write_per_second_per_key() {
        let kv = MemKv::default();
        let ttl = Ttl::at_least_floor(60);
        pollster::block_on(kv.put("k", "1", ttl)).expect("first");
        assert!(pollster::block_on(kv.put("k", "2", ttl)).is_err(), "same second");
        assert!(pollster::block_on(kv.delete("k")).is_err(), "a delete is a write too");
        pollster::block_on(kv.put("other", "x", ttl)).expect("another key is free");
        kv.advance_secs(1);
        pollster::block_on(kv.put("k", "2", ttl)).expect("a second later");
        assert_eq!(pollster::block_on(kv.get("k")).expect("get"), Some("2".into()));
    }

    #[test]
    fn kv_can_show_another_location_the_value_before_a_recent_write() {
        let kv = MemKv::default();
        let ttl = Ttl::at_least_floor(600);
        pollster::block_on(kv.put("k", "old", ttl)).expect("put");
        kv.advance_secs(KV_PROPAGATION_SECS);
        pollster::block_on(kv.delete("k")).expect("delete");
        kv.serve_stale_reads(true);
        assert_eq!(
            pollster::block_on(kv.get("k")).expect("get"),
            Some("old".into()),
            "a delete is not seen everywhere at once"
        );
        kv.advance_secs(KV_PROPAGATION_SECS);
        assert_eq!(pollster::block_on(kv.get("k")).expect("get"), None);
        kv.serve_stale_reads(false);
        assert_eq!(pollster::block_on(kv.get("k")).expect("get"), None);
    }
}
