//! Forging a handle: a handle signed for a launch (from the input's body when it parses, else a
//! fixed one) is edited — bytes flipped, inserted, deleted, parts swapped, its header or
//! payload replaced (the signature kept), its signature cut — and verified. Whatever verifies
//! must be exactly what was signed: any other `Ok` is a forgery.
#![no_main]

use arbitrary::Arbitrary;
use ct_codecs::{Base64UrlSafeNoPadding, Encoder};
use kenar_edge::handle::HandleSigner;
use kenar_edge::ids::SessionId;
use kenar_edge::kenar::launch::parse_launch;
use kenar_edge::secret::Secret;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip {
        at: u16,
        xor: u8,
    },
    Insert {
        at: u16,
        byte: u8,
    },
    Delete {
        at: u16,
    },
    Truncate {
        len: u16,
    },
    SwapParts {
        a: u8,
        b: u8,
    },
    /// A header of our choosing, base64url-encoded, the rest kept.
    Header(String),
    /// A payload of our choosing, base64url-encoded, the header and signature kept.
    Payload(String),
    /// A known-dangerous header: `alg` none, another HMAC, an asymmetric one, a `kid`.
    KnownHeader(u8),
    DropSignature,
    AppendPart(String),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    launch: &'a [u8],
    with_context: bool,
    ttl: u16,
    later: u16,
    edits: Vec<Edit>,
}

const KNOWN_HEADERS: [&str; 7] = [
    r#"{"alg":"none","typ":"JWT"}"#,
    r#"{"alg":"None"}"#,
    r#"{"alg":"HS384","typ":"JWT"}"#,
    r#"{"alg":"HS512","typ":"JWT"}"#,
    r#"{"alg":"RS256","typ":"JWT"}"#,
    r#"{"alg":"HS256","typ":"JWT","kid":"../../etc/passwd"}"#,
    r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
];

fn b64(s: &str) -> String {
    Base64UrlSafeNoPadding::encode_to_string(s.as_bytes()).unwrap_or_default()
}

fn replace_part(token: &str, index: usize, with: String) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    if let Some(part) = parts.get_mut(index) {
        *part = with;
    }
    parts.join(".")
}

thread_local! {
    static SIGNER: HandleSigner = HandleSigner::new(&Secret::new(kenar_edge_fuzz::signing_key()));
}

fuzz_target!(|input: Input<'_>| {
    let ctx = parse_launch(input.launch)
        .or_else(|_| parse_launch(br#"{"source":"CHAT","conversation_id":"c1","user_side":"SUPPLY","user_id":"u"}"#))
        .expect("the fixed launch parses");
    let sid = SessionId::parse("0123456789abcdef0123456789abcdef").expect("sid");
    let now = 1_700_000_000;
    let ttl = u64::from(input.ttl).max(1);
    SIGNER.with(|signer| {
        let context = input.with_context.then_some(&ctx);
        let original = signer.sign(sid, context, now, ttl).expect("sign");
        let at = now + u64::from(input.later) % (ttl + 10);
        let genuine = signer.verify(&original, at);

        let mut token = original.clone();
        for edit in input.edits.iter().take(6) {
            let mut bytes = token.clone().into_bytes();
            let pos = |at: u16, len: usize| if len == 0 { 0 } else { usize::from(at) % len };
            match edit {
                Edit::Flip { at, xor } => {
                    let i = pos(*at, bytes.len());
                    if let Some(b) = bytes.get_mut(i) {
                        *b ^= xor;
                    }
                }
                Edit::Insert { at, byte } => {
                    let i = pos(*at, bytes.len() + 1);
                    bytes.insert(i, *byte);
                }
                Edit::Delete { at } => {
                    if !bytes.is_empty() {
                        bytes.remove(pos(*at, bytes.len()));
                    }
                }
                Edit::Truncate { len } => bytes.truncate(usize::from(*len)),
                Edit::SwapParts { a, b } => {
                    let mut parts: Vec<&str> = token.split('.').collect();
                    let n = parts.len();
                    parts.swap(usize::from(*a) % n, usize::from(*b) % n);
                    bytes = parts.join(".").into_bytes();
                }
                Edit::Header(h) => bytes = replace_part(&token, 0, b64(h)).into_bytes(),
                Edit::Payload(p) => bytes = replace_part(&token, 1, b64(p)).into_bytes(),
                Edit::KnownHeader(i) => {
                    let h = KNOWN_HEADERS[usize::from(*i) % KNOWN_HEADERS.len()];
                    bytes = replace_part(&token, 0, b64(h)).into_bytes();
                }
                Edit::DropSignature => bytes = replace_part(&token, 2, String::new()).into_bytes(),
                Edit::AppendPart(p) => bytes = format!("{token}.{p}").into_bytes(),
            }
            token = String::from_utf8_lossy(&bytes).into_owned();
        }
        if let Ok(handle) = signer.verify(&token, at) {
            assert_eq!(
                Ok(&handle),
                genuine.as_ref(),
                "an edited handle verified as something we never signed: {token}"
            );
        }
    });
});
