//! The Workers entry point: the only module that touches `worker::` types. It turns a
//! `worker::Request` into plain data (reading the body under a cap), runs the routes, and turns
//! the plain response back.

mod objects;
mod platform;

use std::cell::OnceCell;
use std::rc::Rc;

use futures_util::StreamExt;
use worker::{event, Context, Env, Headers};

use crate::config::Config;
use crate::routes;
use crate::web::{path_and_query, Body, Method, Request, Response, MAX_BODY_BYTES};
use platform::{Waiter, WorkerKv, WorkerPlatform};

/// The KV namespace binding in `wrangler.toml`.
pub(crate) const KV_BINDING: &str = "KENAR_KV";

type ConfigResult = Result<Config, crate::config::ConfigError>;

thread_local! {
    /// Vars and secrets are fixed for an isolate's life (changing one deploys a new version),
    /// so they are read and checked once: ~0.03 ms off every request (bench/README.md).
    static CONFIG: OnceCell<Rc<ConfigResult>> = const { OnceCell::new() };
}

pub(crate) fn config(env: &Env) -> Rc<ConfigResult> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Rc::new(Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))))
            .clone()
    })
}

/// The request headers any route reads; copying all of them into Rust costs time per header.
const READ_HEADERS: [&str; 4] = ["authorization", "content-type", "content-length", "cf-connecting-ip"];

#[event(fetch)]
async fn fetch(mut req: worker::Request, env: Env, ctx: Context) -> worker::Result<worker::Response> {
    let config = config(&env);
    let kv = match WorkerKv::from_env(&env, KV_BINDING) {
        Some(kv) => kv,
        None => {
            let missing = crate::config::ConfigError::Missing(KV_BINDING);
            worker::console_error!("{missing}");
            return to_worker(crate::error::AppError::Config(missing).to_response());
        }
    };
    let platform = WorkerPlatform::new(kv, objects::WorkerObjects(env.clone()), Waiter::Fetch(ctx));
    let plain = match from_worker(&mut req).await {
        Ok(plain) => plain,
        Err(_) => {
            return to_worker(
                crate::error::AppError::BadRequest("the request body could not be read".into()).to_response(),
            )
        }
    };
    if let Err(e) = config.as_ref() {
        worker::console_error!("configuration: {e}");
    }
    to_worker(routes::handle(&platform, config.as_ref(), &plain).await)
}

async fn from_worker(req: &mut worker::Request) -> worker::Result<Request> {
    // The raw URL string, split here: `worker::Request::url()` would link the `url` crate and
    // its IDNA and Unicode tables (~40 KB gzip) just to read the path and the query.
    let plain_url = req.inner().url();
    // The method as the client sent it: `worker::Request::method()` turns every method it has
    // no variant for (PROPFIND, LOCK, …) into GET, which would serve them as reads.
    let method = req.inner().method();
    let mut plain = Request::new(Method::parse(&method), path_and_query(&plain_url));
    for name in READ_HEADERS {
        if let Some(value) = req.headers().get(name)? {
            plain.headers.push((name.to_string(), value));
        }
    }
    if matches!(plain.method, Method::Post) {
        plain.body = read_capped(req).await?;
    }
    Ok(plain)
}

/// Buffers at most `MAX_BODY_BYTES`. A body declared larger is refused without being touched;
/// one that turns out larger is drained to its end, not buffered: leaving a stream half-read
/// stalls the next request on the same isolate in workerd (seen under `wrangler dev`).
async fn read_capped(req: &mut worker::Request) -> worker::Result<Body> {
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.trim().parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => return Ok(Body::TooLarge),
        // Declared and within the cap: one read, no stream machinery.
        Some(_) => return Ok(Body::Bytes(req.bytes().await?)),
        None => {}
    }
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Ok(Body::Bytes(Vec::new())),
    };
    let mut buf = Vec::new();
    let mut too_large = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if too_large || buf.len() + chunk.len() > MAX_BODY_BYTES {
            too_large = true;
            buf = Vec::new();
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(if too_large { Body::TooLarge } else { Body::Bytes(buf) })
}

pub(crate) fn to_worker(resp: Response) -> worker::Result<worker::Response> {
    let headers = Headers::new();
    for (name, value) in &resp.headers {
        headers.append(name, value)?;
    }
    let body = if resp.body.is_empty() { None } else { Some(resp.body) };
    let out = match body {
        Some(bytes) => worker::Response::from_bytes(bytes)?,
        None => worker::Response::empty()?,
    };
    Ok(out.with_status(resp.status).with_headers(headers))
}
