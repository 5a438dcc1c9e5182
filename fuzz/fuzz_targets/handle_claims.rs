//! The claims inside a handle, past the signature: any header and any payload, correctly signed
//! with the configuration's key (only we can do that, so this is defence in depth: what the
//! claims parser does with odd JSON). A handle that verifies names a valid session, carries an
//! expiry that has not passed, our issuer and our audience.
#![no_main]

use arbitrary::Arbitrary;
use ct_codecs::{Base64UrlSafeNoPadding, Encoder};
use kenar_edge::handle::HandleSigner;
use kenar_edge::secret::Secret;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// None: the header jwt-simple writes.
    header: Option<&'a str>,
    now_secs: u32,
    payload: &'a str,
}

fn b64(s: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(s).unwrap_or_default()
}

thread_local! {
    static KEY: String = kenar_edge_fuzz::signing_key();
    static SIGNER: HandleSigner = HandleSigner::new(&Secret::new(kenar_edge_fuzz::signing_key()));
}

fuzz_target!(|input: Input<'_>| {
    let header = input.header.unwrap_or(r#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(input.payload.as_bytes()));
    let mac = KEY.with(|k| hmac_sha256::HMAC::mac(signing_input.as_bytes(), k.as_bytes()));
    let token = format!("{signing_input}.{}", b64(&mac));
    let now = u64::from(input.now_secs);
    let Ok(handle) = SIGNER.with(|s| s.verify(&token, now)) else {
        return;
    };

    assert!(
        handle.expires_at_secs + 5 >= now,
        "expired at {} but verified at {now}",
        handle.expires_at_secs
    );
    let claims: serde_json::Value = serde_json::from_str(input.payload).expect("verified claims are JSON");
    assert_eq!(
        claims["iss"], "kenar-edge",
        "verified without our issuer: {}",
        input.payload
    );
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => a == "kenar-edge/page",
        serde_json::Value::Array(list) => list.iter().any(|a| a == "kenar-edge/page"),
        _ => false,
    };
    assert!(aud_ok, "verified without our audience: {}", input.payload);
    assert!(
        claims["exp"].is_number(),
        "verified without an expiry: {}",
        input.payload
    );
});
