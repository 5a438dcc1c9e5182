//! Session init: Divar's server-link call. Verify, normalise, remember, answer with our page's
//! URL carrying a signed handle. The answer never waits on KV when the context fits the handle.

use serde::Serialize;

use crate::config::{Config, SessionPersist};
use crate::error::{AppError, AppResult};
use crate::flows::divar_auth::authenticated_json_body;
use crate::handle::HandleSigner;
use crate::ids::SessionId;
use crate::kenar::launch::{parse_launch, LaunchError};
use crate::platform::Platform;
use crate::store::session::{SessionRecord, SessionStore};
use crate::web::{Request, Response};

/// Divar's bodies are a few hundred bytes; our own button data is capped at 4 KiB inside it.
pub const SESSION_INIT_MAX_BYTES: usize = 16 * 1024;

/// Satisfies both the v2 (`url`) and the legacy v1 (`status` as a string) readers.
#[derive(Serialize)]
struct InitAnswer<'a> {
    url: &'a str,
    status: &'static str,
    message: &'static str,
}

impl From<LaunchError> for AppError {
    fn from(e: LaunchError) -> Self {
        match e {
            LaunchError::NotJson | LaunchError::NotObject => AppError::BadRequest(e.to_string()),
            LaunchError::Field { field, why } => AppError::InvalidField {
                field: field.into(),
                why: why.into(),
            },
        }
    }
}

pub async fn session_init<P: Platform>(p: &P, cfg: &Config, req: &Request) -> AppResult<Response> {
    let body = authenticated_json_body(cfg, req, SESSION_INIT_MAX_BYTES)?;
    let context = parse_launch(body)?;
    let session_id = SessionId::random().map_err(|e| AppError::Internal(e.to_string()))?;
    let now_ms = p.now_ms();
    let inline = HandleSigner::fits_inline(&context);
    let record = SessionRecord {
        context,
        created_at_ms: now_ms,
    };

    if !inline {
        // The page will have to read KV, so the record must exist before we answer.
        SessionStore::new(p.kv(), &cfg.token_encryption_key)
            .put(session_id, &record, cfg.session_ttl)
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
    } else if cfg.session_persist == SessionPersist::Launch {
        let kv = p.kv().clone();
        let key = cfg.token_encryption_key;
        let ttl = cfg.session_ttl;
        let record = record.clone();
        p.defer(Box::pin(async move {
            // A failure here costs only the server-side copy; the handle still carries the
            // context, and the flow re-creates the record when it first needs it.
            let _ = SessionStore::new(&kv, &key).put(session_id, &record, ttl).await;
        }));
    }

    let handle = HandleSigner::new(&cfg.session_signing_key)
        .sign_session(session_id, &record.context, now_ms / 1000, cfg.session_ttl.secs())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let url = format!("{}/#h={handle}", cfg.public_base_url.as_str());
    // No log line on success: Workers' observability records every invocation already, and a
    // line per launch was the largest single cost of the path (bench/README.md).
    Ok(Response::json(
        200,
        &InitAnswer {
            url: &url,
            status: "200",
            message: "success",
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::dev_config;
    use crate::testkit::TestPlatform;
    use crate::web::{Body, Method};
    use serde_json::json;

    const KEY: &str = "dev-divar-identification-key-0123456789";

    fn init(body: &str) -> Request {
        Request::new(Method::Post, "/divar/session-init")
            .with_header("authorization", KEY)
            .with_header("content-type", "application/json")
            .with_body(body)
    }

    fn run(p: &TestPlatform, cfg: &Config, req: &Request) -> Response {
        pollster::block_on(session_init(p, cfg, req)).unwrap_or_else(|e| e.to_response())
    }

    fn handle_of(resp: &Response) -> String {
        let url = resp.json_body()["url"].as_str().expect("url").to_string();
        url.split_once("#h=").expect("fragment").1.to_string()
    }

    const V2: &str =
        r#"{"source":"CHAT","post_token":"wZC44q5D","conversation_id":"c-1","user_side":"Supply","user_id":"u1"}"#;

    #[test]
    fn answers_with_our_page_and_a_verifiable_handle() {
        let p = TestPlatform::default();
        let cfg = dev_config();
        let resp = run(&p, &cfg, &init(V2));
        assert_eq!(resp.status, 200);
        let body = resp.json_body();
        assert_eq!(body["status"], "200");
        assert_eq!(body["message"], "success");
        assert!(body["url"]
            .as_str()
            .expect("url")
            .starts_with("http://127.0.0.1:8787/#h="));
        let handle = HandleSigner::new(&cfg.session_signing_key)
            .verify(&handle_of(&resp), p.now_ms() / 1000)
            .expect("valid");
        assert_eq!(handle.context.expect("inline").conversation_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn a_launch_whose_context_rides_in_the_handle_writes_nothing_by_default() {
        let p = TestPlatform::default();
        let resp = run(&p, &dev_config(), &init(V2));
        p.run_deferred();
        assert_eq!(resp.status, 200);
        assert_eq!(p.kv.writes(), 0, "nothing would ever read the record");
    }

    #[test]
    fn one_kv_write_per_launch_after_the_answer_when_asked_for() {
        let p = TestPlatform::default();
        let mut cfg = dev_config();
        cfg.session_persist = SessionPersist::Launch;
        let resp = run(&p, &cfg, &init(V2));
        assert_eq!(p.kv.writes(), 0, "the answer does not wait on KV");
        p.run_deferred();
        assert_eq!(p.kv.writes(), 1);
        let handle = HandleSigner::new(&cfg.session_signing_key)
            .verify(&handle_of(&resp), p.now_ms() / 1000)
            .expect("ok");
        let stored =
            pollster::block_on(SessionStore::new(&p.kv, &dev_config().token_encryption_key).get(handle.session_id))
                .expect("kv")
                .expect("present");
        assert_eq!(stored.context.user_id.as_deref(), Some("u1"));
        assert_eq!(
            p.kv.ttl_of(&format!("session:{}", handle.session_id)),
            Some(cfg.session_ttl.secs())
        );
        let raw = pollster::block_on(crate::platform::Kv::get(
            &p.kv,
            &format!("session:{}", handle.session_id),
        ))
        .expect("kv")
        .expect("present");
        // Sealed: base64url ciphertext only (which can hold "u1" by chance, but never JSON).
        assert!(
            raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "KV holds the record sealed: {raw}"
        );
    }

    #[test]
    fn on_demand_mode_writes_nothing_at_launch() {
        let p = TestPlatform::default();
        let mut cfg = dev_config();
        cfg.session_persist = SessionPersist::OnDemand;
        assert_eq!(run(&p, &cfg, &init(V2)).status, 200);
        p.run_deferred();
        assert_eq!(p.kv.writes(), 0);
    }

    #[test]
    fn large_contexts_are_written_before_answering_and_kept_out_of_the_url() {
        let p = TestPlatform::default();
        let cfg = dev_config();
        let big =
            json!({"source": "CHAT", "conversation_id": "c", "extra_data": {"note": "x".repeat(2000)}}).to_string();
        let resp = run(&p, &cfg, &init(&big));
        assert_eq!(resp.status, 200);
        assert_eq!(p.kv.writes(), 1);
        assert!(resp.json_body()["url"].as_str().expect("url").len() < 1000);
        let handle = HandleSigner::new(&cfg.session_signing_key)
            .verify(&handle_of(&resp), p.now_ms() / 1000)
            .expect("ok");
        assert_eq!(handle.context, None);
    }

    #[test]
    fn missing_and_wrong_keys_get_the_same_401() {
        let p = TestPlatform::default();
        let cfg = dev_config();
        let mut missing = init(V2);
        missing.headers.retain(|(n, _)| n != "authorization");
        let mut wrong_only = init(V2);
        wrong_only.headers.retain(|(n, _)| n != "authorization");
        let wrong_only = wrong_only.with_header("authorization", "dev-divar-identification-key-012345678");
        let a = run(&p, &cfg, &missing);
        let b = run(&p, &cfg, &wrong_only);
        assert_eq!(a.status, 401);
        assert_eq!(a, b);
        assert_eq!(p.kv.writes(), 0);
    }

    #[test]
    fn rotation_key_is_accepted() {
        let p = TestPlatform::default();
        let mut vars = crate::config::tests::dev_vars();
        vars.insert(
            "DIVAR_IDENTIFICATION_KEY_NEXT".into(),
            "the-next-identification-key".into(),
        );
        let cfg = Config::from_lookup(|k| vars.get(k).cloned()).expect("cfg");
        let mut req = init(V2);
        req.headers.retain(|(n, _)| n != "authorization");
        let req = req.with_header("authorization", "the-next-identification-key");
        assert_eq!(run(&p, &cfg, &req).status, 200);
    }

    #[test]
    fn bad_input_gets_a_named_4xx() {
        let p = TestPlatform::default();
        let cfg = dev_config();
        let cases: Vec<(Request, u16, &str)> = vec![
            (init("{not json"), 400, "bad_request"),
            (init("[]"), 400, "bad_request"),
            (
                {
                    let mut r = init(V2);
                    r.headers.retain(|(n, _)| n != "content-type");
                    r.with_header("content-type", "text/plain")
                },
                415,
                "unsupported_media_type",
            ),
            (
                {
                    let mut r = init(V2);
                    r.headers.retain(|(n, _)| n != "content-type");
                    r
                },
                415,
                "unsupported_media_type",
            ),
            (init(&"x".repeat(SESSION_INIT_MAX_BYTES + 1)), 413, "payload_too_large"),
            (
                init(V2).with_header("content-length", "999999"),
                413,
                "payload_too_large",
            ),
            (
                {
                    let mut r = init(V2);
                    r.body = Body::TooLarge;
                    r
                },
                413,
                "payload_too_large",
            ),
        ];
        for (req, status, code) in cases {
            let resp = run(&p, &cfg, &req);
            assert_eq!(resp.status, status, "{:?}", String::from_utf8_lossy(&resp.body));
            assert_eq!(resp.json_body()["error"], code);
            assert!(resp.json_body()["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        assert_eq!(p.kv.writes(), 0, "nothing is stored for a refused launch");
    }

    /// With the right key, a JSON object is a launch: Divar shows the person our answer, and an
    /// error there is one they cannot act on. The page says what it cannot do without a field.
    #[test]
    fn a_keyed_json_object_always_opens_the_page() {
        let p = TestPlatform::default();
        let cfg = dev_config();
        for body in [
            "{}",
            r#"{"source":"CHAT"}"#,
            r#"{"source":"POST_ADDON","post_token":null}"#,
            r#"{"conversation_id":"c1","user_side":"DEMAND"}"#,
            r#"{"source":"CHAT","conversation_id":"c1 USER_PHONE CHAT_SUPPLIER_ALL_CONVERSATIONS_MESSAGE_SEND"}"#,
            r#"{"source":"CHAT","conversation_id":"c1","user_side":"both","user_id":[1],"extra_data":"x"}"#,
            r#"{"peer_id":"q","user_id":"u"}"#,
        ] {
            let resp = run(&p, &cfg, &init(body));
            assert_eq!(resp.status, 200, "{body}: {:?}", String::from_utf8_lossy(&resp.body));
            let session = HandleSigner::new(&cfg.session_signing_key)
                .verify(&handle_of(&resp), p.now_ms() / 1000)
                .expect("a valid handle");
            let ctx = session.context.expect("inline context");
            assert!(
                ctx.conversation_id.as_deref().is_none_or(|c| c == "c1"),
                "an identifier that is not one is left out: {body}"
            );
        }
    }

    #[test]
    fn a_successful_launch_logs_nothing() {
        // Workers' observability records each invocation; a line per launch cost time, and
        // nothing from Divar (ids, the handle, the key) can leak through a line not written.
        let p = TestPlatform::default();
        let resp = run(&p, &dev_config(), &init(V2));
        assert_eq!(resp.status, 200);
        assert!(p.logs.borrow().is_empty(), "{:?}", p.logs.borrow());
    }
}
