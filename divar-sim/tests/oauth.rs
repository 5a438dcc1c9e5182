mod common;

use common::*;
use serde_json::json;

async fn buyer(env: &Env) -> String {
    env.chat().await["buyer_user_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn code_exchange_issues_ory_tokens_and_refresh_only_with_offline_access() {
    let env = Env::new().await;
    let user = buyer(&env).await;

    let code = env.get_code(&user, "USER_ID", &[]).await;
    let (s, v) = env.exchange(&code, &[]).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["access_token"].as_str().unwrap().starts_with("ory_at_"));
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["scope"], "USER_ID");
    assert!(v["expires_in"].as_u64().unwrap() > 3500);
    assert!(
        v.get("refresh_token").is_none(),
        "no offline_access, no refresh token: {v}"
    );

    let code = env.get_code(&user, "USER_ID offline_access", &[]).await;
    let (s, v) = env.exchange(&code, &[]).await;
    assert_eq!(s, 200);
    assert!(v["refresh_token"].as_str().unwrap().starts_with("ory_rt_"));

    // The token works against the API and belongs to the approving user.
    let (s, me) = env
        .api_get("/v1/open-platform/users", v["access_token"].as_str().unwrap())
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["user_id"], user.as_str());
}

#[tokio::test]
async fn token_endpoint_rejects_bad_client_json_and_wrong_redirect() {
    let env = Env::new().await;
    let user = buyer(&env).await;
    let code = env.get_code(&user, "USER_ID", &[]).await;

    let redirect = env.redirect_uri();
    let (s, v) = env
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", SLUG),
            ("client_secret", "wrong"),
            ("redirect_uri", &redirect),
        ])
        .await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "invalid_client");

    let resp = env
        .http
        .post(format!("{}/oauth2/token", env.base))
        .json(
            &json!({"grant_type": "authorization_code", "code": code, "client_id": SLUG,
                      "client_secret": SECRET, "redirect_uri": redirect}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");

    let (s, v) = env
        .exchange(&code, &[("redirect_uri", "http://127.0.0.1:1/other")])
        .await;
    // extend_from_slice appends a second redirect_uri; the form parser keeps the last one.
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], "invalid_grant");

    // None of the failures consumed the code.
    let (s, _) = env.exchange(&code, &[]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn reused_code_is_invalid_grant_and_revokes_its_tokens() {
    let env = Env::new().await;
    let user = buyer(&env).await;
    let code = env.get_code(&user, "USER_ID", &[]).await;
    let (_, v) = env.exchange(&code, &[]).await;
    let at = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.api_get("/v1/open-platform/users", &at).await.0, 200);

    let (s, v) = env.exchange(&code, &[]).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "invalid_grant");
    let (s, v) = env.api_get("/v1/open-platform/users", &at).await;
    assert_eq!(s, 401, "token from a replayed code must be revoked: {v}");
    assert_eq!(v["code"], 16);
}

#[tokio::test]
async fn pkce_s256_is_enforced_and_plain_rejected() {
    let env = Env::new().await;
    let user = buyer(&env).await;
    let verifier = "a-very-long-code-verifier-0123456789-0123456789-abcdef";
    let challenge = divar_sim::ids::pkce_s256(verifier);
    let extra = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    let code = env.get_code(&user, "USER_ID", &extra).await;
    let (s, v) = env.exchange(&code, &[]).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "missing verifier"
    );
    let (s, v) = env
        .exchange(
            &code,
            &[("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier-x")],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "wrong verifier");
    let (s, v) = env.exchange(&code, &[("code_verifier", verifier)]).await;
    assert_eq!(s, 200, "{v}");

    let redirect = env.redirect_uri();
    let (s, loc, _) = env
        .authorize(&[
            ("response_type", "code"),
            ("client_id", SLUG),
            ("redirect_uri", &redirect),
            ("scope", "USER_ID"),
            ("state", "state-0123456789"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "plain"),
        ])
        .await;
    assert!(s == 302 || s == 303, "{s}");
    let loc = loc.unwrap();
    assert!(
        loc.starts_with(&redirect) && loc.contains("error=invalid_request"),
        "{loc}"
    );
}

#[tokio::test]
async fn authorize_validates_client_redirect_scope_and_state() {
    let env = Env::new().await;
    let redirect = env.redirect_uri();
    let base = |scope: &'static str, state: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", SLUG),
            ("scope", scope),
            ("state", state),
        ]
    };
    let mut p = base("USER_ID", "state-0123456789");
    p.push(("redirect_uri", "http://127.0.0.1:9/evil"));
    let (s, loc, _) = env.authorize(&p).await;
    assert_eq!((s, loc), (400, None), "unregistered redirect_uri must not redirect");

    let mut p = base("USER_ID", "state-0123456789");
    p[1] = ("client_id", "someone-else");
    p.push(("redirect_uri", &redirect));
    assert_eq!(env.authorize(&p).await.0, 400);

    for bad_scope in [
        "",
        "OFFLINE_ACCESS",
        "CONVERSATION_SEND_MESSAGE",
        "USER_ID.x",
        "CHAT_MESSAGE_SEND__abc",
    ] {
        let mut p = base(bad_scope, "state-0123456789");
        p.push(("redirect_uri", &redirect));
        let (s, loc, _) = env.authorize(&p).await;
        assert!(s == 302 || s == 303, "{bad_scope}: {s}");
        assert!(loc.unwrap().contains("error=invalid_scope"), "{bad_scope}");
    }

    let mut p = base("USER_ID", "");
    p.push(("redirect_uri", &redirect));
    let (_, loc, _) = env.authorize(&p).await;
    assert!(loc.unwrap().contains("error=invalid_state"));

    let mut p = base(
        "CONVERSATION_SEND_MESSAGE.6b3d5cf7-9291-4fa9-892a-9d07e300daea USER_ID offline_access",
        "state-0123456789",
    );
    p.push(("redirect_uri", &redirect));
    let (s, _, html) = env.authorize(&p).await;
    assert_eq!(s, 200);
    assert!(html.contains("dir=\"rtl\"") && html.contains("CONVERSATION_SEND_MESSAGE"));
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_state() {
    let env = Env::new().await;
    buyer(&env).await;
    let redirect = env.redirect_uri();
    let (s, _, _) = env
        .authorize(&[
            ("response_type", "code"),
            ("client_id", SLUG),
            ("redirect_uri", &redirect),
            ("scope", "USER_ID"),
            ("state", "state-0123456789"),
        ])
        .await;
    assert_eq!(s, 200);
    let (_, list) = env.ctl("GET", "/_sim/oauth/authorizations", json!({})).await;
    let id = list["authorizations"][0]["id"].as_str().unwrap();
    let (s, v) = env
        .ctl("POST", &format!("/_sim/oauth/authorizations/{id}/deny"), json!({}))
        .await;
    assert_eq!(s, 200);
    let url = v["redirect_url"].as_str().unwrap();
    assert!(url.starts_with(&redirect));
    assert!(
        url.contains("error=access_denied") && url.contains("state=state-0123456789"),
        "{url}"
    );
    // A decided authorization cannot be decided again.
    let (s, _) = env
        .ctl("POST", &format!("/_sim/oauth/authorizations/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn refresh_rotates_with_two_minute_grace() {
    let env = Env::new().await;
    let user = buyer(&env).await;
    let code = env.get_code(&user, "USER_ID offline_access", &[]).await;
    let (_, first) = env.exchange(&code, &[]).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let at1 = first["access_token"].as_str().unwrap().to_string();

    let form = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", rt.to_string()),
            ("client_id", SLUG.to_string()),
            ("client_secret", SECRET.to_string()),
        ]
    };
    let call = |rt: String| {
        let env = &env;
        async move {
            let f = form(&rt);
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.token_request(&f).await
        }
    };
    let (s, second) = call(rt1.clone()).await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    let at2 = second["access_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_ne!(at1, at2);

    // Retrying with the old refresh token inside the grace returns the same new pair.
    let (s, again) = call(rt1.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(again["access_token"], at2.as_str());
    assert_eq!(again["refresh_token"], rt2.as_str());
    // The old access token still works during the grace...
    assert_eq!(env.api_get("/v1/open-platform/users", &at1).await.0, 200);

    // ...and both old tokens die after it.
    env.ctl("POST", "/_sim/clock/advance", json!({"seconds": 121})).await;
    assert_eq!(env.api_get("/v1/open-platform/users", &at1).await.0, 401);
    let (s, v) = call(rt1).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(env.api_get("/v1/open-platform/users", &at2).await.0, 200);
    let (s, _) = call(rt2).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn token_fault_answers_with_status_then_recovers() {
    let env = Env::new().await;
    let (s, _) = env
        .ctl(
            "POST",
            "/_sim/faults",
            json!({"endpoint": "token", "status": 503, "count": 1}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = env.token_request(&[("grant_type", "refresh_token")]).await;
    assert_eq!(s, 503);
    let (s, v) = env.token_request(&[("grant_type", "refresh_token")]).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
}
