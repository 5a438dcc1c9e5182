//! The Workers entry point: the only module that touches `worker::` types. It turns a
//! `worker::Request` into plain data (reading the body under a cap), runs the routes, and turns
//! the plain response back.

mod platform;

use std::cell::RefCell;

use futures_util::StreamExt;
use worker::{event, Context, Env, Headers, ScheduleContext, ScheduledEvent};

use crate::config::Config;
use crate::routes;
use crate::web::{Body, Method, Request, Response, MAX_BODY_BYTES};
use platform::{Waiter, WorkerPlatform};

/// The KV namespace binding in `wrangler.toml`.
const KV_BINDING: &str = "KENAR_KV";

fn config(env: &Env) -> Result<Config, crate::config::ConfigError> {
    Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}

/// The cron trigger: retries what waits in the outbox.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let (Ok(cfg), Ok(kv)) = (config(&env), env.kv(KV_BINDING)) else {
        worker::console_error!("outbox sweep skipped: the worker is misconfigured");
        return;
    };
    let platform = WorkerPlatform::new(kv, Waiter::Inline(RefCell::new(Vec::new())));
    match crate::flows::messaging::sweep(&platform, &cfg).await {
        Ok(report) if report.examined > 0 => worker::console_log!(
            "outbox sweep: examined {} sent {} waiting {} failed {}",
            report.examined,
            report.sent,
            report.still_waiting,
            report.failed
        ),
        Ok(_) => {}
        Err(e) => worker::console_error!("outbox sweep: {e}"),
    }
    platform.drain().await;
}

#[event(fetch)]
async fn fetch(mut req: worker::Request, env: Env, ctx: Context) -> worker::Result<worker::Response> {
    let config = config(&env);
    let kv = match env.kv(KV_BINDING) {
        Ok(kv) => kv,
        Err(_) => {
            let missing = crate::config::ConfigError::Missing(KV_BINDING);
            worker::console_error!("{missing}");
            return to_worker(crate::error::AppError::Config(missing).to_response());
        }
    };
    let platform = WorkerPlatform::new(kv, Waiter::Fetch(ctx));
    let plain = match from_worker(&mut req).await {
        Ok(plain) => plain,
        Err(_) => {
            return to_worker(
                crate::error::AppError::BadRequest("the request body could not be read".into()).to_response(),
            )
        }
    };
    if let Err(e) = &config {
        worker::console_error!("configuration: {e}");
    }
    to_worker(routes::handle(&platform, &config, &plain).await)
}

async fn from_worker(req: &mut worker::Request) -> worker::Result<Request> {
    let url = req.url()?;
    let mut plain = Request::new(Method::parse(req.method().as_ref()), url.path());
    plain.query = url.query().unwrap_or("").to_string();
    plain.headers = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
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
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Ok(Body::TooLarge);
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

fn to_worker(resp: Response) -> worker::Result<worker::Response> {
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
