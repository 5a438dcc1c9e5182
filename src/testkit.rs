//! In-memory stand-ins for the platform, for native tests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::platform::{Deferred, Kv, KvError, Platform};
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
}

pub struct TestPlatform {
    pub kv: MemKv,
    pub now_ms: Cell<u64>,
    pub deferred: RefCell<Vec<Deferred>>,
    pub logs: RefCell<Vec<String>>,
}

impl Default for TestPlatform {
    fn default() -> Self {
        TestPlatform {
            kv: MemKv::default(),
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
    fn kv(&self) -> &MemKv {
        &self.kv
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
