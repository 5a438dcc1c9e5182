// Issue 2, end to end: Divar's session-init call (v2 and legacy v1) against the built worker
// under wrangler dev, the page URL it answers with, the page's session API, the way back to
// Divar, KV persistence across a restart, and a misconfigured deployment.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import {
  devVars,
  getSession,
  handleClaims,
  handleFromUrl,
  jsonCall,
  launchViaSim,
  sessionInit,
  startStack,
  startWorker,
} from '../lib/harness.mjs';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Any answer slower than this is a stall worth failing on (Divar wants p99 well under 2 s). */
const STALL_MS = 5_000;

function assertJsonError(res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
  assert.ok(res.body && typeof res.body === 'object', `not JSON: ${res.text}`);
  assert.equal(typeof res.body.error, 'string');
  assert.equal(typeof res.body.message, 'string');
  assert.ok(res.body.message.length > 0);
  if (code) assert.equal(res.body.error, code);
}

function assertInitAnswer(res, worker) {
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
  assert.deepEqual(Object.keys(res.body).sort(), ['message', 'status', 'url']);
  assert.equal(res.body.status, '200', 'status is the string "200" (v1 readers)');
  assert.equal(res.body.message, 'success');
  assert.ok(res.body.url.startsWith(`${worker.base}/#h=`), res.body.url);
  return handleFromUrl(res.body.url);
}

/**
 * A raw POST with node:http, so the framing is exact: `chunked: true` sends the body in pieces
 * with Transfer-Encoding: chunked and no Content-Length. Returns { status, headers, text, body, ms }.
 */
function rawPost(url, { headers = {}, body = '', chunked = false, chunkSize = 4096 } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    if (!chunked) h['content-length'] = Buffer.byteLength(body);
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: h, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let parsed = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          const hdrs = new Headers();
          for (const [k, v] of Object.entries(res.headers)) hdrs.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve({ status: res.statusCode, headers: hdrs, text, body: parsed, ms: Date.now() - started });
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    // The server may answer (413) and close before the whole body is sent: that is fine.
    req.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? null : reject(e)));
    const buf = Buffer.from(body);
    if (chunked) {
      for (let i = 0; i < buf.length; i += chunkSize) req.write(buf.subarray(i, i + chunkSize));
      req.end();
    } else {
      req.end(buf);
    }
  });
}

/** An HS256 JWT over `claims` with `key`, shaped like the worker's handles. */
function signJwt(claims, key) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'HS256', typ: 'JWT' });
  const body = enc(claims);
  const sig = crypto.createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const V2_BODY = {
  source: 'CHAT',
  post_token: 'wZC44q5D',
  conversation_id: '6b3d5cf7-9291-4fa9-892a-9d07e300daea',
  user_side: 'Supply',
  extra_data: { your_key_1: 'your value' },
  user_id: '6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI=',
};

const V1_BODY = {
  extra_data: { provider_data: { k: 'v' } },
  callback_url: 'https://open-platform-redirect.divar.ir/completion',
  post_token: 'post-token',
  conversation_id: '813d3106-dcb8-4283-b2a3-29e8edcc4dbc',
  user_id: 'demand_id',
  peer_id: 'supplier_id',
  supplier: { id: 'supplier_id' },
  demand: { id: 'demand_id' },
};

describe('session init against wrangler dev and divar-sim', () => {
  let stack;
  let worker;
  let sim;

  before(async () => {
    stack = await startStack();
    ({ worker, sim } = stack);
  });
  after(async () => {
    if (stack) await stack.stop();
  });

  test('v2 launch from the chat menu (sim, both sides): answer shape, page URL and context', async () => {
    const seller = await launchViaSim(sim, { side: 'seller', version: 2 });
    assert.deepEqual(Object.keys(seller.launch.body).sort(), ['message', 'status', 'url']);
    assert.equal(seller.launch.body.status, '200');
    assert.equal(seller.launch.body.message, 'success');
    assert.ok(seller.url.startsWith(`${worker.base}/#h=`), seller.url);

    const s = await getSession(worker, seller.handle);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.body.context.version, 'v2');
    assert.equal(s.body.context.source, 'CHAT');
    assert.equal(s.body.context.conversation_id, seller.chat.conversation_id);
    assert.equal(s.body.context.post_token, seller.chat.post_token);
    assert.equal(s.body.context.user_side, 'SUPPLY');
    assert.equal(s.body.context.user_id, seller.chat.seller_user_id);
    assert.ok(s.body.expires_at > Date.now() / 1000, 'expires in the future');

    const buyer = await launchViaSim(sim, { side: 'buyer', chat: seller.chat });
    const b = await getSession(worker, buyer.handle);
    assert.equal(b.status, 200, b.text);
    assert.equal(b.body.context.user_side, 'DEMAND');
    assert.equal(b.body.context.user_id, seller.chat.buyer_user_id);
    assert.equal(b.body.context.conversation_id, seller.chat.conversation_id);
    assert.notEqual(buyer.handle, seller.handle);
  });

  test('v1 (legacy) launch from the sim: side from supplier/demand, peer kept', async () => {
    const buyer = await launchViaSim(sim, { side: 'buyer', version: 1 });
    const b = await getSession(worker, buyer.handle);
    assert.equal(b.status, 200, b.text);
    assert.equal(b.body.context.version, 'v1');
    assert.equal(b.body.context.source, 'LEGACY');
    assert.equal(b.body.context.user_side, 'DEMAND');
    assert.equal(b.body.context.user_id, buyer.chat.buyer_user_id);
    assert.equal(b.body.context.peer_id, buyer.chat.seller_user_id);
    assert.equal(b.body.context.post_token, buyer.chat.post_token);

    const seller = await launchViaSim(sim, { side: 'seller', version: 1, chat: buyer.chat });
    const s = await getSession(worker, seller.handle);
    assert.equal(s.body.context.user_side, 'SUPPLY');
    assert.equal(s.body.context.user_id, buyer.chat.seller_user_id);
  });

  test('the sim saw a fast 200 with the identification key on each launch', async () => {
    const { body } = await sim.control('GET', '/_sim/deliveries?kind=session_init');
    assert.ok(body.deliveries.length >= 4);
    for (const d of body.deliveries) {
      assert.equal(d.status, 200, JSON.stringify(d));
      assert.equal(d.error, null);
      assert.ok(d.latency_ms < 2_000, `session init took ${d.latency_ms} ms`);
      assert.equal(d.url, `${worker.base}/divar/session-init`);
    }
  });

  test('direct v2 and v1 bodies (documented examples) are accepted', async () => {
    const h2 = assertInitAnswer(await sessionInit(worker, V2_BODY, { headers: { 'api-version': '2' } }), worker);
    const c2 = (await getSession(worker, h2)).body.context;
    assert.equal(c2.version, 'v2');
    assert.equal(c2.user_side, 'SUPPLY');
    assert.equal(c2.conversation_id, V2_BODY.conversation_id);
    assert.equal(c2.user_id, V2_BODY.user_id);
    assert.deepEqual(c2.extra_data, { your_key_1: 'your value' });

    const h1 = assertInitAnswer(await sessionInit(worker, V1_BODY), worker);
    const c1 = (await getSession(worker, h1)).body.context;
    assert.equal(c1.version, 'v1');
    assert.equal(c1.user_side, 'DEMAND');
    assert.equal(c1.peer_id, 'supplier_id');
    assert.deepEqual(c1.extra_data, { k: 'v' });
    assert.ok(!JSON.stringify(c1).includes('open-platform-redirect'), 'a body return URL is not kept');
  });

  test('wrong and missing identification keys get identical 401 JSON bodies', async () => {
    const wrong = await sessionInit(worker, V2_BODY, { key: `${worker.vars.DIVAR_IDENTIFICATION_KEY}x` });
    const almost = await sessionInit(worker, V2_BODY, { key: worker.vars.DIVAR_IDENTIFICATION_KEY.slice(0, -1) });
    const missing = await sessionInit(worker, V2_BODY, { key: null });
    const bearer = await sessionInit(worker, V2_BODY, { key: `Bearer ${worker.vars.DIVAR_IDENTIFICATION_KEY}` });
    for (const r of [wrong, almost, missing, bearer]) assertJsonError(r, 401, 'unauthorized');
    assert.equal(wrong.text, missing.text);
    assert.equal(almost.text, missing.text);
    assert.equal(bearer.text, missing.text);
    assert.ok(!wrong.text.includes(worker.vars.DIVAR_IDENTIFICATION_KEY));
  });

  test('malformed JSON is 400, a wrong content type 415', async () => {
    assertJsonError(await sessionInit(worker, '{"source": "CHAT",'), 400, 'bad_request');
    assertJsonError(await sessionInit(worker, '[1,2]'), 400, 'bad_request');
    assertJsonError(await sessionInit(worker, ''), 400, 'bad_request');
    const text = await sessionInit(worker, JSON.stringify(V2_BODY), { headers: { 'content-type': 'text/plain' } });
    assertJsonError(text, 415, 'unsupported_media_type');
    const form = await sessionInit(worker, 'source=CHAT', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assertJsonError(form, 415, 'unsupported_media_type');
    // A charset parameter is still JSON.
    const withCharset = await sessionInit(worker, JSON.stringify(V2_BODY), {
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(withCharset.status, 200, withCharset.text);
  });

  test('an oversized body is 413 with Content-Length and with chunked encoding, without stalling', async () => {
    const url = `${worker.base}/divar/session-init`;
    const headers = { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'application/json' };
    const huge = JSON.stringify({ ...V2_BODY, pad: 'x'.repeat(64 * 1024) });

    const sized = await rawPost(url, { headers, body: huge });
    assertJsonError(sized, 413, 'payload_too_large');
    assert.ok(sized.ms < STALL_MS, `413 with content-length took ${sized.ms} ms`);

    const chunked = await rawPost(url, { headers, body: huge, chunked: true });
    assertJsonError(chunked, 413, 'payload_too_large');
    assert.ok(chunked.ms < STALL_MS, `413 chunked took ${chunked.ms} ms`);

    // Just over the limit, chunked, so only the byte count can tell.
    const edge = JSON.stringify({ ...V2_BODY, pad: 'y'.repeat(16 * 1024) });
    assertJsonError(await rawPost(url, { headers, body: edge, chunked: true, chunkSize: 1000 }), 413);

    // A small chunked body is fine, and the worker is not stuck behind the abandoned bodies.
    const ok = await rawPost(url, { headers, body: JSON.stringify(V2_BODY), chunked: true });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.ms < STALL_MS, `the request after the 413s took ${ok.ms} ms`);

    // A refused key with a large body does not stall the next request either.
    const refused = await rawPost(url, { headers: { ...headers, authorization: 'nope-nope-nope-nope' }, body: huge });
    assertJsonError(refused, 401, 'unauthorized');
    const next = await rawPost(url, { headers, body: JSON.stringify(V2_BODY) });
    assert.equal(next.status, 200);
    assert.ok(refused.ms < STALL_MS && next.ms < STALL_MS, `401 ${refused.ms} ms, next ${next.ms} ms`);
  });

  test('missing or malformed fields never refuse a keyed launch: the page opens without them', async () => {
    // Divar shows the person whatever session-init answers; an error there is one they cannot
    // act on (issue: launches a person cannot read). What is missing is left out of the context.
    const cases = [
      [{}, 'source'],
      [{ source: 'CHAT' }, 'conversation_id'],
      [{ source: 'POST_ADDON', conversation_id: 'c' }, 'post_token'],
      [{ source: 'CHAT', conversation_id: 'c', user_side: 'both' }, 'user_side'],
      [{ source: 'CHAT', conversation_id: 'c', extra_data: 'x' }, 'extra_data'],
      [{ peer_id: 'q', user_id: 'u' }, 'post_token'],
      [{ peer_id: 'q', post_token: 'p' }, 'user_id'],
    ];
    for (const [body, field] of cases) {
      const r = await sessionInit(worker, body);
      assert.equal(r.status, 200, `${JSON.stringify(body)} → ${r.text}`);
      const session = await getSession(worker, handleFromUrl(r.body.url));
      assert.equal(session.status, 200, session.text);
      const value = session.body.context[field];
      assert.ok(value === undefined || value === '' || (typeof value === 'object' && Object.keys(value).length === 0), `${field} left out: ${JSON.stringify(session.body.context)}`);
    }
  });

  test('other errors are JSON too: unknown route 404, wrong method 405', async () => {
    assertJsonError(await jsonCall(`${worker.base}/divar/nothing`, { method: 'POST', body: {} }), 404, 'not_found');
    const get = await jsonCall(`${worker.base}/divar/session-init`);
    assertJsonError(get, 405, 'method_not_allowed');
    assert.equal(get.headers.get('allow'), 'POST');
  });

  test('the returned URL opens the page with its security headers', async () => {
    const { url } = await launchViaSim(sim, { side: 'seller' });
    const pageUrl = url.split('#')[0];
    assert.equal(pageUrl, `${worker.base}/`);
    const page = await fetch(pageUrl, { redirect: 'manual' });
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.equal(page.headers.get('content-security-policy'), CSP);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.ok(page.headers.get('permissions-policy'));
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(html, /<html lang="fa" dir="rtl">/);
    assert.match(html, /<script src="\/app\.js"><\/script>/);
    assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/i, 'no inline script or style');

    for (const [asset, type] of [['/app.js', /javascript/], ['/app.css', /^text\/css/]]) {
      const r = await fetch(`${worker.base}${asset}`);
      await r.arrayBuffer();
      assert.equal(r.status, 200, asset);
      assert.match(r.headers.get('content-type'), type);
      assert.equal(r.headers.get('content-security-policy'), CSP);
      assert.match(r.headers.get('cache-control'), /max-age=\d+/);
    }
    const headersFile = await fetch(`${worker.base}/_headers`);
    await headersFile.arrayBuffer();
    assert.equal(headersFile.status, 404, '_headers itself is not served');
  });

  test('forged, tampered, expired and missing handles are 401 with one body', async () => {
    const { handle } = await launchViaSim(sim, { side: 'seller' });
    const claims = handleClaims(handle);
    assert.ok(claims.sid && claims.ctx, 'a small launch rides in the handle');

    const forged = signJwt(claims, 'some-other-signing-key-0123456789abcdef0123456789');
    const [head, , sig] = handle.split('.');
    const otherClaims = { ...claims, ctx: { ...claims.ctx, conversation_id: 'someone-elses-chat' } };
    const tampered = `${head}.${Buffer.from(JSON.stringify(otherClaims)).toString('base64url')}.${sig}`;
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, worker.vars.SESSION_SIGNING_KEY);
    const noneAlg = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${handle.split('.')[1]}.`;
    // The same claims signed with the right key pass: the 401s below are about the signature.
    const resigned = signJwt(claims, worker.vars.SESSION_SIGNING_KEY);
    assert.equal((await getSession(worker, resigned)).status, 200);

    const bodies = new Set();
    for (const [name, h] of [['forged', forged], ['tampered', tampered], ['expired', expired], ['alg none', noneAlg], ['garbage', 'abc'], ['missing', null]]) {
      const r = await getSession(worker, h);
      assertJsonError(r, 401);
      assert.equal(r.body.error, 'invalid_session', name);
      bodies.add(r.text);
    }
    assert.equal(bodies.size, 1, 'one answer for every bad handle');
    const asCookie = await jsonCall(`${worker.base}/api/session`, { headers: { cookie: `h=${handle}` } });
    assert.equal(asCookie.status, 401, 'only the Authorization header carries the handle');
  });

  test('/return is a 303 to the configured completion URL only', async () => {
    const r = await jsonCall(`${worker.base}/return?to=https://evil.example/`, {
      headers: { 'x-forwarded-host': 'evil.example' },
    });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `${sim.base}/completion`);
    const before = (await sim.control('GET', '/_sim/completions')).body.count;
    const followed = await fetch(`${worker.base}/return`, { redirect: 'follow' });
    await followed.arrayBuffer();
    assert.equal(followed.status, 200);
    assert.equal(followed.url, `${sim.base}/completion`);
    assert.equal((await sim.control('GET', '/_sim/completions')).body.count, before + 1);
  });

  test('sessions survive a wrangler restart on the same KV dir; large contexts live only in KV', async () => {
    // > 1 KiB serialised (kept out of the handle), < 4 KiB (the extra_data cap).
    const note = 'ک'.repeat(600) + 'x'.repeat(900);
    const bigExtra = { note, step: 'visit', n: 3 };
    const serialised = Buffer.byteLength(JSON.stringify(bigExtra));
    assert.ok(serialised > 1024 && serialised < 4096, `extra_data is ${serialised} bytes`);

    const big = await launchViaSim(sim, { side: 'buyer', extra_data: bigExtra });
    const small = await launchViaSim(sim, { side: 'seller', extra_data: { a: 'b' } });
    assert.equal(handleClaims(big.handle).ctx, undefined, 'the large context is not in the handle');
    assert.ok(big.url.length < 1000, `URL is ${big.url.length} chars`);
    assert.deepEqual(handleClaims(small.handle).ctx.extra_data, { a: 'b' });
    assert.equal((await getSession(worker, big.handle)).body.context.extra_data.note, note);

    // Let the deferred write of the small (inline) session land before stopping.
    await new Promise((r) => setTimeout(r, 500));
    await worker.restart();

    const b = await getSession(worker, big.handle);
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.body.context.extra_data, bigExtra);
    assert.equal(b.body.context.user_side, 'DEMAND');
    assert.equal(b.body.context.conversation_id, big.chat.conversation_id);
    assert.equal((await getSession(worker, small.handle)).status, 200);

    // The same handle against an empty KV: the context really came from KV.
    const fresh = await startWorker({ simBase: sim.base });
    try {
      const gone = await getSession(fresh, big.handle);
      assertJsonError(gone, 401, 'session_expired');
      const inline = await getSession(fresh, small.handle);
      assert.equal(inline.status, 200, 'a small context needs no KV');
    } finally {
      await fresh.stop();
    }
  });
});

describe('a misconfigured worker', () => {
  const shortKey = 'too-short-key-7Qz';
  let worker;

  before(async () => {
    worker = await startWorker({ vars: { SESSION_SIGNING_KEY: shortKey } });
  });
  after(async () => {
    if (worker) await worker.stop();
  });

  test('answers 500 JSON naming SESSION_SIGNING_KEY, never echoing its value', async () => {
    const init = await sessionInit(worker, V2_BODY, { key: devVars().DIVAR_IDENTIFICATION_KEY });
    assertJsonError(init, 500, 'misconfigured');
    assert.match(init.body.message, /SESSION_SIGNING_KEY/);
    assert.ok(!init.text.includes(shortKey), init.text);

    const session = await getSession(worker, 'x.y.z');
    assertJsonError(session, 500, 'misconfigured');
    assert.ok(!session.text.includes(shortKey));

    const health = await jsonCall(`${worker.base}/healthz`);
    assert.equal(health.status, 200, 'health still answers for the deployer');
  });
});
