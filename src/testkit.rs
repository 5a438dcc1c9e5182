//! In-memory stand-ins for the platform, for native tests.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::platform::{Deferred, Http, HttpError, Kv, KvError, OutRequest, OutResponse, Platform};
use crate::ttl::Ttl;

/// KV in memory with expiry on a shared test clock, and a count of writes (Workers Free allows
/// 1,000 a day, so tests assert how many a flow costs).
/// value, expiry (s), ttl (s)
type Entry = (String, u64, u64);

#[derive(Clone, Default)]
pub struct MemKv {
    inner: Rc<RefCell<HashMap<String, Entry>>>,
    now_secs: Rc<Cell<u64>>,
    writes: Rc<Cell<usize>>,
    fail: Rc<Cell<bool>>,
}

impl MemKv {
    pub fn advance_secs(&self, secs: u64) {
        self.now_secs.set(self.now_secs.get() + secs);
    }
    pub fn ttl_of(&self, key: &str) -> Option<u64> {
        self.inner.borrow().get(key).map(|(_, _, ttl)| *ttl)
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
        Ok(self
            .inner
            .borrow()
            .get(key)
            .filter(|(_, exp, _)| *exp > now)
            .map(|(v, _, _)| v.clone()))
    }
    async fn put(&self, key: &str, value: &str, ttl: Ttl) -> Result<(), KvError> {
        self.check()?;
        self.writes.set(self.writes.get() + 1);
        let expires = self.now_secs.get() + ttl.secs();
        self.inner
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), expires, ttl.secs()));
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.check()?;
        self.writes.set(self.writes.get() + 1);
        self.inner.borrow_mut().remove(key);
        Ok(())
    }
    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, KvError> {
        self.check()?;
        let now = self.now_secs.get();
        let mut keys: Vec<String> = self
            .inner
            .borrow()
            .iter()
            .filter(|(k, (_, exp, _))| k.starts_with(prefix) && *exp > now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys.truncate(limit);
        Ok(keys)
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

pub struct TestPlatform {
    pub kv: MemKv,
    pub http: FakeHttp,
    pub slept: RefCell<Vec<u64>>,
    pub now_ms: Cell<u64>,
    pub deferred: RefCell<Vec<Deferred>>,
    pub logs: RefCell<Vec<String>>,
}

impl Default for TestPlatform {
    fn default() -> Self {
        TestPlatform {
            kv: MemKv::default(),
            http: FakeHttp::default(),
            slept: RefCell::new(Vec::new()),
            now_ms: Cell::new(1_700_000_000_000),
            deferred: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
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
}

impl Platform for TestPlatform {
    type Kv = MemKv;
    type Http = FakeHttp;
    fn kv(&self) -> &MemKv {
        &self.kv
    }
    fn http(&self) -> &FakeHttp {
        &self.http
    }
    async fn sleep_ms(&self, ms: u64) {
        self.slept.borrow_mut().push(ms);
        self.now_ms.set(self.now_ms.get() + ms);
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
