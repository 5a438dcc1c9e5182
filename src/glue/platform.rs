//! The platform traits over Workers KV, `fetch` with an abort timer, the JS clock and
//! `ctx.wait_until`.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::js_sys::{Array, Function, Object, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Context, Delay, Env, Fetch, Headers, Method, RequestInit};

use crate::platform::{Deferred, Http, HttpError, Kv, KvError, OutRequest, OutResponse, Platform, RateLimit};
use crate::ttl::Ttl;

use super::objects::WorkerObjects;

/// The KV namespace, its JS methods called directly: worker's `KvStore` sends a string value
/// through the generic `Serialize` path of serde_wasm_bindgen and its options through another,
/// which links f64 formatting and kilobytes we never use (bench/results/size-by-crate.md).
#[derive(Clone)]
pub struct WorkerKv(Object);

impl WorkerKv {
    /// The namespace bound as `binding`, if the deployment has it.
    pub fn from_env(env: &Env, binding: &str) -> Option<Self> {
        let namespace = Reflect::get(env, &JsValue::from_str(binding)).ok()?;
        (namespace.is_object()).then(|| WorkerKv(namespace.unchecked_into()))
    }

    /// Calls `method` with `args` and awaits the promise it returns.
    async fn call(&self, method: &str, args: &Array) -> Result<JsValue, KvError> {
        let function: Function = Reflect::get(&self.0, &JsValue::from_str(method))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| KvError(format!("the KV namespace has no {method}")))?;
        let promise: Promise = function
            .apply(&self.0, args)
            .and_then(|p| p.dyn_into())
            .map_err(|e| kv_error(method, &e))?;
        JsFuture::from(promise).await.map_err(|e| kv_error(method, &e))
    }
}

/// What KV said when it refused, for the log (a JS Error's message, or a thrown string).
fn kv_error(method: &str, e: &JsValue) -> KvError {
    let message = Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "no message".into());
    KvError(format!("KV {method}: {message}"))
}

impl Kv for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let value = self.call("get", &Array::of1(&JsValue::from_str(key))).await?;
        Ok(value.as_string())
    }

    async fn put(&self, key: &str, value: &str, ttl: Ttl) -> Result<(), KvError> {
        let options = Object::new();
        Reflect::set(
            &options,
            &JsValue::from_str("expirationTtl"),
            &JsValue::from_f64(ttl.secs() as f64),
        )
        .map_err(|e| kv_error("put", &e))?;
        let args = Array::of3(&JsValue::from_str(key), &JsValue::from_str(value), &options);
        self.call("put", &args).await.map(|_| ())
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.call("delete", &Array::of1(&JsValue::from_str(key)))
            .await
            .map(|_| ())
    }
}

#[derive(Clone)]
pub struct WorkerHttp;

impl WorkerHttp {
    fn build(req: &OutRequest) -> worker::Result<worker::Request> {
        let headers = Headers::new();
        for (name, value) in &req.headers {
            headers.set(name, value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(req.method.to_string()))
            .with_headers(headers);
        if let Some(body) = &req.body {
            init.with_body(Some(body.as_str().into()));
        }
        worker::Request::new_with_init(&req.url, &init)
    }
}

impl Http for WorkerHttp {
    async fn send(&self, req: OutRequest) -> Result<OutResponse, HttpError> {
        let request = Self::build(&req).map_err(|e| HttpError::Network(e.to_string()))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let call = Box::pin(async move {
            let mut resp = fetch.send_with_signal(&signal).await?;
            let status = resp.status_code();
            let headers = resp.headers().entries().collect();
            let body = resp.text().await?;
            Ok::<_, worker::Error>(OutResponse { status, headers, body })
        });
        let timer = Box::pin(Delay::from(Duration::from_millis(u64::from(req.timeout_ms))));
        match select(call, timer).await {
            Either::Left((result, _)) => result.map_err(|e| HttpError::Network(e.to_string())),
            Either::Right(((), _)) => {
                controller.abort();
                Err(HttpError::Timeout)
            }
        }
    }
}

/// Where deferred work goes: `wait_until` on a fetch, or a list an object drains before answering.
pub enum Waiter {
    Fetch(Context),
    Inline(RefCell<Vec<Deferred>>),
}

pub struct WorkerPlatform {
    kv: WorkerKv,
    http: WorkerHttp,
    objects: WorkerObjects,
    waiter: Waiter,
}

impl WorkerPlatform {
    pub fn new(kv: WorkerKv, objects: WorkerObjects, waiter: Waiter) -> Self {
        WorkerPlatform {
            kv,
            http: WorkerHttp,
            objects,
            waiter,
        }
    }

    /// Runs what was deferred, for handlers that have no `wait_until`.
    pub async fn drain(&self) {
        if let Waiter::Inline(tasks) = &self.waiter {
            let pending: Vec<Deferred> = tasks.borrow_mut().drain(..).collect();
            for task in pending {
                task.await;
            }
        }
    }
}

impl Platform for WorkerPlatform {
    type Kv = WorkerKv;
    type Http = WorkerHttp;
    type Objects = WorkerObjects;

    fn objects(&self) -> &WorkerObjects {
        &self.objects
    }

    fn kv(&self) -> &WorkerKv {
        &self.kv
    }

    fn http(&self) -> &WorkerHttp {
        &self.http
    }

    async fn sleep_ms(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn defer(&self, task: Deferred) {
        match &self.waiter {
            Waiter::Fetch(ctx) => ctx.wait_until(task),
            Waiter::Inline(tasks) => tasks.borrow_mut().push(task),
        }
    }

    async fn within_limit(&self, limit: RateLimit, key: &str) -> bool {
        // Without the binding (a deployer removed it) or when it fails, requests go through:
        // a limiter must never take the add-on down. The binding is called directly, not
        // through `worker::RateLimiter::limit`, whose serde round trip costs kilobytes.
        let Ok(binding) = Reflect::get(&self.objects.0, &JsValue::from_str(limit.binding())) else {
            return true;
        };
        if binding.is_undefined() {
            return true;
        }
        let limiter: worker::worker_sys::RateLimiter = binding.unchecked_into();
        let options = Object::new();
        if Reflect::set(&options, &JsValue::from_str("key"), &JsValue::from_str(key)).is_err() {
            return true;
        }
        let Ok(promise) = limiter.limit(options) else {
            return true;
        };
        match worker::wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(outcome) => Reflect::get(&outcome, &JsValue::from_str("success"))
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            Err(_) => true,
        }
    }

    fn log(&self, line: &str) {
        // Every line, ours or carrying something from outside, leaves as one bounded line.
        worker::console_log!("{}", crate::web::loggable(line, 1_000));
    }
}
