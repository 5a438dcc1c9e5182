// A minimal plain-JS worker doing the same work as the Rust worker's session-init, the page's
// first call (GET /api/session) and /healthz,
// so that bench/run.mjs can compare the two in the same runtime under the same load.
//
// Per request, like the Rust path (src/flows/launch.rs, src/secret.rs, src/handle.rs):
//   - constant-time check of Authorization against DIVAR_IDENTIFICATION_KEY (both sides
//     SHA-256-hashed, then folded; a second, dummy comparison stands for the rotation key, so
//     4 digests as in IdentificationKey::verify),
//   - content-type and size checks (declared length, then the read body, 16 KiB cap),
//   - JSON parse and validation of the v2 body into the normalised context,
//   - a random 128-bit session id,
//   - one KV put with expirationTtl, handed to ctx.waitUntil (not awaited),
//   - an HS256 JWT {iat,exp,iss,aud,sid,ctx} signed with WebCrypto (key imported per request),
//   - one console.log line, and the JSON answer {url,status:"200",message:"success"}.
// Config values are read from env per request (cheap in JS: env is a plain object).

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_BYTES = 16 * 1024;
const MAX_INLINE_CONTEXT_BYTES = 1024;
const BASE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-type': 'application/json; charset=utf-8',
};

function json(status, value) {
  return new Response(JSON.stringify(value), { status, headers: BASE_HEADERS });
}
function error(status, code, message) {
  return json(status, { error: code, message });
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}
async function constantTimeEq(a, b) {
  const [ha, hb] = await Promise.all([sha256(a), sha256(b)]);
  let diff = 0;
  for (let i = 0; i < ha.length; i++) diff |= ha[i] ^ hb[i];
  return diff === 0;
}
async function verifyKey(env, presented) {
  const p = enc.encode((presented ?? '').trim());
  const current = enc.encode(env.DIVAR_IDENTIFICATION_KEY ?? '');
  const nextRaw = env.DIVAR_IDENTIFICATION_KEY_NEXT;
  const [a, b] = await Promise.all([
    constantTimeEq(p, current),
    constantTimeEq(p, nextRaw ? enc.encode(nextRaw) : current),
  ]);
  return p.length > 0 && (a || (!!nextRaw && b));
}

function b64url(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function hex(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, '0');
  return s;
}

class FieldError extends Error {
  constructor(field, why) {
    super(`invalid field ${field}: ${why}`);
    this.field = field;
  }
}
function optStr(obj, name, max) {
  const v = obj[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') throw new FieldError(name, 'must be a string');
  if (typeof v !== 'string') throw new FieldError(name, 'must be a string');
  if (v.trim() === '') return undefined;
  if (v.length > max) throw new FieldError(name, 'is too long');
  return v;
}
const SIDES = { SUPPLY: 'SUPPLY', SUPPLIER: 'SUPPLY', SELLER: 'SUPPLY', DEMAND: 'DEMAND', BUYER: 'DEMAND' };
const SOURCES = { CHAT: 'CHAT', CHAT_MESSAGE_ACTION: 'CHAT_MESSAGE_ACTION', POST_ADDON: 'POST_ADDON', POST_ADODN: 'POST_ADDON' };

// The v2 body (the one Divar sends today) into the normalised context the handle carries.
function parseLaunchV2(obj) {
  const post_token = optStr(obj, 'post_token', 32);
  const conversation_id = optStr(obj, 'conversation_id', 128);
  const user_id = optStr(obj, 'user_id', 128);
  const extra = obj.extra_data;
  let extra_data;
  if (extra !== undefined && extra !== null) {
    if (typeof extra !== 'object' || Array.isArray(extra)) throw new FieldError('extra_data', 'must be an object');
    extra_data = { ...extra };
    if (JSON.stringify(extra_data).length > 4096) throw new FieldError('extra_data', 'is larger than 4 KiB');
    if (Object.keys(extra_data).length === 0) extra_data = undefined;
  }
  const rawSource = optStr(obj, 'source', 32);
  if (rawSource === undefined) throw new FieldError('source', 'is required');
  const up = rawSource.trim().toUpperCase();
  const source = SOURCES[up] ?? up;
  let user_side;
  const rawSide = optStr(obj, 'user_side', 50);
  if (rawSide !== undefined) {
    user_side = SIDES[rawSide.trim().toUpperCase()];
    if (!user_side) throw new FieldError('user_side', 'must be SUPPLY or DEMAND');
  }
  if ((source === 'CHAT' || source === 'CHAT_MESSAGE_ACTION') && conversation_id === undefined)
    throw new FieldError('conversation_id', 'is required for a chat launch');
  if (source === 'POST_ADDON' && post_token === undefined)
    throw new FieldError('post_token', 'is required for a post add-on launch');
  return { version: 'v2', source, post_token, conversation_id, user_side, user_id, extra_data };
}

async function sessionInit(request, env, ctx) {
  if (!(await verifyKey(env, request.headers.get('authorization'))))
    return error(401, 'unauthorized', 'missing or wrong identification key');
  const media = (request.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (media !== 'application/json') return error(415, 'unsupported_media_type', 'send Content-Type: application/json');
  const declared = parseInt(request.headers.get('content-length') ?? '', 10);
  if (declared > MAX_BYTES) return error(413, 'payload_too_large', 'too large');
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.length > MAX_BYTES) return error(413, 'payload_too_large', 'too large');

  let obj;
  try {
    obj = JSON.parse(dec.decode(body));
  } catch {
    return error(400, 'bad_request', 'the body is not valid JSON');
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    return error(400, 'bad_request', 'the body must be a JSON object');
  let context;
  try {
    context = parseLaunchV2(obj);
  } catch (e) {
    if (e instanceof FieldError) return error(422, 'invalid_field', e.message);
    throw e;
  }

  const sid = hex(crypto.getRandomValues(new Uint8Array(16)));
  const nowMs = Date.now();
  const ttl = parseInt(env.SESSION_TTL_SECONDS ?? '3600', 10) || 3600;
  const contextJson = JSON.stringify(context);
  const inline = contextJson.length <= MAX_INLINE_CONTEXT_BYTES;
  const record = `{"context":${contextJson},"created_at_ms":${nowMs}}`;
  // Like the Rust worker: SESSION_PERSIST=on-demand writes nothing at launch for an inline context.
  if (!inline) await env.KENAR_KV.put(`session:${sid}`, record, { expirationTtl: ttl });
  else if ((env.SESSION_PERSIST ?? 'launch').trim() === 'launch')
    ctx.waitUntil(env.KENAR_KV.put(`session:${sid}`, record, { expirationTtl: ttl }).catch(() => {}));

  const now = Math.floor(nowMs / 1000);
  const claims = { iat: now, exp: now + ttl, iss: 'kenar-edge', aud: 'kenar-edge/page', sid };
  if (inline) claims.ctx = context;
  const signingInput =
    b64url(enc.encode('{"alg":"HS256","typ":"JWT"}')) + '.' + b64url(enc.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey(
    'raw',
    enc.encode(env.SESSION_SIGNING_KEY),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode(signingInput)));
  const handle = `${signingInput}.${b64url(sig)}`;
  const base = (env.PUBLIC_BASE_URL ?? '').replace(/\/+$/, '');
  // No log line on success, as the Rust worker (issue 13).
  return json(200, { url: `${base}/#h=${handle}`, status: '200', message: 'success' });
}

// GET /api/session, the page's first call, as src/flows/session.rs does it: the bearer handle's
// HS256 signature checked in constant time (WebCrypto verify, key imported per request), its
// header, issuer, audience and expiry (5 s leeway, as src/handle.rs) checked, the inline context returned with
// its expiry. (Handles without an inline context, which read KV, are not part of this bench.)
const LEEWAY_SECS = 5;
const b64urlToBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

async function getSession(request, env) {
  const invalid = () => error(401, 'invalid_session', 'the session is missing, forged or expired; open the add-on again from the chat');
  const auth = request.headers.get('authorization') ?? '';
  if (!auth.startsWith('Bearer ')) return invalid();
  const parts = auth.slice(7).trim().split('.');
  if (parts.length !== 3) return invalid();
  try {
    const key = await crypto.subtle.importKey('raw', enc.encode(env.SESSION_SIGNING_KEY), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    const ok = await crypto.subtle.verify('HMAC', key, b64urlToBytes(parts[2]), enc.encode(`${parts[0]}.${parts[1]}`));
    if (!ok) return invalid();
    const header = JSON.parse(dec.decode(b64urlToBytes(parts[0])));
    const claims = JSON.parse(dec.decode(b64urlToBytes(parts[1])));
    const now = Math.floor(Date.now() / 1000);
    if (header.alg !== 'HS256' || claims.iss !== 'kenar-edge' || claims.aud !== 'kenar-edge/page') return invalid();
    if (!(claims.exp + LEEWAY_SECS >= now) || !(claims.iat <= now + LEEWAY_SECS) || !claims.ctx) return invalid();
    return json(200, { context: claims.ctx, expires_at: claims.exp });
  } catch {
    return invalid();
  }
}

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname.replace(/\/+$/, '');
    if (path === '/healthz') {
      if (request.method !== 'GET' && request.method !== 'HEAD') return error(405, 'method_not_allowed', 'GET');
      return json(200, { ok: true });
    }
    if (path === '/divar/session-init') {
      if (request.method !== 'POST') return error(405, 'method_not_allowed', 'POST');
      return sessionInit(request, env, ctx);
    }
    if (path === '/api/session') {
      if (request.method !== 'GET') return error(405, 'method_not_allowed', 'GET');
      return getSession(request, env);
    }
    return error(404, 'not_found', 'no such route');
  },
};
