//! The Durable Object classes and the platform adapters objects need: SQL storage over
//! `ctx.storage.sql` with `transactionSync`, the alarm, and stubs for calling other objects.
//! The classes only translate; `objects::conversation` and `objects::person` decide.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use worker::wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::worker_sys::DurableObjectStorage;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response as WorkerResponse, State};

use super::platform::{Waiter, WorkerPlatform};
use crate::error::AppError;
use crate::objects::sql::{Row, Sql, SqlValue, StoreError};
use crate::objects::{conversation, person, ObjectHost};
use crate::platform::{ObjectClass, ObjectError, Objects, Platform};
use crate::web::Response;

/// Binding names in `wrangler.toml`.
pub const CONVERSATIONS: &str = "CONVERSATIONS";
pub const PEOPLE: &str = "PEOPLE";

#[wasm_bindgen]
extern "C" {
    /// The object's storage, seen only for the one method workers-rs 0.8.7 does not bind.
    type SyncStorage;

    /// `ctx.storage.transactionSync(fn)`: runs `fn` in one SQLite transaction, rolled back if it
    /// throws. A stack closure is enough: the runtime calls it before the call returns.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &SyncStorage,
        f: &mut dyn FnMut() -> Result<JsValue, JsValue>,
    ) -> Result<JsValue, JsValue>;
}

pub struct DoSql {
    storage: worker::Storage,
    sql: worker::SqlStorage,
}

fn from_worker_value(v: worker::SqlStorageValue) -> SqlValue {
    match v {
        worker::SqlStorageValue::Null => SqlValue::Null,
        worker::SqlStorageValue::Boolean(b) => SqlValue::Int(i64::from(b)),
        worker::SqlStorageValue::Integer(i) => SqlValue::Int(i),
        worker::SqlStorageValue::Float(f) => SqlValue::Real(f),
        worker::SqlStorageValue::String(s) => SqlValue::Text(s),
        worker::SqlStorageValue::Blob(b) => SqlValue::Blob(b),
    }
}

fn to_worker_value(v: &SqlValue) -> worker::SqlStorageValue {
    match v {
        SqlValue::Null => worker::SqlStorageValue::Null,
        SqlValue::Int(i) => worker::SqlStorageValue::Integer(*i),
        SqlValue::Real(f) => worker::SqlStorageValue::Float(*f),
        SqlValue::Text(s) => worker::SqlStorageValue::String(s.clone()),
        SqlValue::Blob(b) => worker::SqlStorageValue::Blob(b.clone()),
    }
}

impl Sql for DoSql {
    fn exec(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let bindings: Vec<worker::SqlStorageValue> = args.iter().map(to_worker_value).collect();
        let cursor = self
            .sql
            .exec(sql, Some(bindings))
            .map_err(|e| StoreError(e.to_string()))?;
        cursor
            .raw()
            .map(|row| {
                row.map(|values| values.into_iter().map(from_worker_value).collect())
                    .map_err(|e| StoreError(e.to_string()))
            })
            .collect()
    }

    fn transaction<T, E: From<StoreError>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut f = Some(f);
        let mut out: Option<Result<T, E>> = None;
        let mut body = || -> Result<JsValue, JsValue> {
            let run = f
                .take()
                .ok_or_else(|| JsValue::from_str("transaction body ran twice"))?;
            let result = run();
            let failed = result.is_err();
            out = Some(result);
            // Throwing is how the runtime is told to roll back.
            if failed {
                Err(JsValue::from_str("rolled back"))
            } else {
                Ok(JsValue::UNDEFINED)
            }
        };
        let storage: &DurableObjectStorage = self.storage.as_raw();
        let ran = storage.unchecked_ref::<SyncStorage>().transaction_sync(&mut body);
        match (out, ran) {
            (Some(result), _) => result,
            (None, Err(e)) => Err(StoreError(format!("transaction failed: {e:?}")).into()),
            (None, Ok(_)) => Err(StoreError("transaction body did not run".into()).into()),
        }
    }
}

/// Calls objects through their namespace bindings.
#[derive(Clone)]
pub struct WorkerObjects(pub Env);

impl Objects for WorkerObjects {
    async fn call(&self, class: ObjectClass, name: &str, command: String) -> Result<Response, ObjectError> {
        let fail = |e: worker::Error| ObjectError(e.to_string());
        let binding = match class {
            ObjectClass::Conversation => CONVERSATIONS,
            ObjectClass::Person => PEOPLE,
        };
        let stub = self
            .0
            .durable_object(binding)
            .and_then(|ns| ns.id_from_name(name)?.get_stub())
            .map_err(fail)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(command.into()));
        // The host is never resolved: a stub routes by object, not by URL.
        let req = Request::new_with_init("https://object.internal/command", &init).map_err(fail)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(fail)?;
        let status = resp.status_code();
        let headers = resp.headers().entries().collect();
        let body = resp.bytes().await.map_err(fail)?;
        Ok(Response { status, headers, body })
    }
}

/// What object code runs on inside the Workers runtime.
pub struct DoHost {
    platform: WorkerPlatform,
    sql: DoSql,
    storage: worker::Storage,
    schema_ready: Rc<Cell<bool>>,
}

impl DoHost {
    fn new(state: &State, env: &Env, schema_ready: Rc<Cell<bool>>) -> worker::Result<Self> {
        let storage = state.storage();
        Ok(DoHost {
            platform: WorkerPlatform::new(
                super::platform::WorkerKv::from_env(env, super::KV_BINDING).ok_or_else(|| {
                    worker::Error::RustError(format!("no KV namespace bound as {}", super::KV_BINDING))
                })?,
                WorkerObjects(env.clone()),
                Waiter::Inline(Default::default()),
            ),
            sql: DoSql {
                sql: storage.sql(),
                storage: state.storage(),
            },
            storage,
            schema_ready,
        })
    }
}

impl Platform for DoHost {
    type Kv = super::platform::WorkerKv;
    type Http = super::platform::WorkerHttp;
    type Objects = WorkerObjects;
    fn kv(&self) -> &Self::Kv {
        self.platform.kv()
    }
    fn http(&self) -> &Self::Http {
        self.platform.http()
    }
    fn objects(&self) -> &WorkerObjects {
        self.platform.objects()
    }
    async fn sleep_ms(&self, ms: u64) {
        self.platform.sleep_ms(ms).await
    }
    fn now_ms(&self) -> u64 {
        self.platform.now_ms()
    }
    fn defer(&self, task: crate::platform::Deferred) {
        self.platform.defer(task)
    }
    fn log(&self, line: &str) {
        self.platform.log(line)
    }
}

impl ObjectHost for DoHost {
    type Sql = DoSql;
    fn sql(&self) -> &DoSql {
        &self.sql
    }
    async fn schedule(&self, at_ms: u64) {
        let offset = at_ms.saturating_sub(self.now_ms());
        if let Err(e) = self.storage.set_alarm(Duration::from_millis(offset)).await {
            self.log(&format!("object: could not set the alarm: {e}"));
        }
    }
    async fn unschedule(&self) {
        if let Err(e) = self.storage.delete_alarm().await {
            self.log(&format!("object: could not clear the alarm: {e}"));
        }
    }
    fn schema_ready(&self) -> &Cell<bool> {
        &self.schema_ready
    }
}

/// What both classes are: the runtime's state and env, and whether this instance made its
/// tables yet (`objects::ensure_schema`). A class only names which logic runs.
struct Core {
    state: State,
    env: Env,
    schema_ready: Rc<Cell<bool>>,
}

impl Core {
    fn new(state: State, env: Env) -> Self {
        Core {
            state,
            env,
            schema_ready: Rc::default(),
        }
    }

    fn host(&self) -> worker::Result<DoHost> {
        DoHost::new(&self.state, &self.env, self.schema_ready.clone())
    }

    async fn fetch(&self, req: &mut Request, class: ObjectClass) -> worker::Result<WorkerResponse> {
        let command = req.bytes().await?;
        let config = super::config(&self.env);
        let cfg = match config.as_ref() {
            Ok(cfg) => cfg,
            Err(e) => return super::to_worker(AppError::Config(e.clone()).to_response()),
        };
        let host = self.host()?;
        let response = match class {
            ObjectClass::Conversation => conversation::handle(&host, cfg, &command).await,
            ObjectClass::Person => person::handle(&host, cfg, &command).await,
        };
        host.platform.drain().await;
        super::to_worker(response)
    }
}

#[durable_object]
pub struct ConversationObject(Core);

impl DurableObject for ConversationObject {
    fn new(state: State, env: Env) -> Self {
        ConversationObject(Core::new(state, env))
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<WorkerResponse> {
        self.0.fetch(&mut req, ObjectClass::Conversation).await
    }

    async fn alarm(&self) -> worker::Result<WorkerResponse> {
        let config = super::config(&self.0.env);
        if let Ok(cfg) = config.as_ref() {
            let host = self.0.host()?;
            conversation::alarm(&host, cfg).await;
            host.platform.drain().await;
        }
        WorkerResponse::empty()
    }
}

#[durable_object]
pub struct PersonObject(Core);

impl DurableObject for PersonObject {
    fn new(state: State, env: Env) -> Self {
        PersonObject(Core::new(state, env))
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<WorkerResponse> {
        self.0.fetch(&mut req, ObjectClass::Person).await
    }

    /// Keeps the person's events subscriptions alive (token renewal, daily re-subscription).
    async fn alarm(&self) -> worker::Result<WorkerResponse> {
        let config = super::config(&self.0.env);
        if let Ok(cfg) = config.as_ref() {
            let host = self.0.host()?;
            person::alarm(&host, cfg).await;
            host.platform.drain().await;
        }
        WorkerResponse::empty()
    }
}
