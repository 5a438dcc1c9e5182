// Hostile input against every route of the built worker (wrangler dev ⇄ divar-sim), as an
// attacker with no key and as one holding a real handle would send it: malformed, huge and
// deeply nested JSON, unicode edge cases, forged, expired, truncated and swapped handles,
// replayed OAuth states, open-redirect attempts, header and path tricks, unknown methods.
// Every answer: no 5xx; a JSON error body with `error` and `message` on every API 4xx; the
// security headers on every response; no Location off-site except Divar's fixed URLs. At the
// end the worker's whole log is scanned for secrets, tokens, codes and handles.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { grantViaSim, handleClaims, jsonCall, launchViaSim, sessionInit, startStack } from '../lib/harness.mjs';

const API_ROUTES = [
  ['POST', '/divar/session-init'],
  ['GET', '/api/session'],
  ['POST', '/api/oauth/start'],
  ['GET', '/api/messages'],
  ['POST', '/api/messages'],
  ['POST', '/divar/dynamic-action'],
  ['POST', '/divar/events'],
  ['GET', '/api/assistant'],
  ['POST', '/api/assistant/settings'],
  ['GET', '/api/visit'],
  ['POST', '/api/visit/propose'],
  ['POST', '/api/visit/answer'],
  ['POST', '/api/visit/cancel'],
  ['POST', '/_selftest/storage'],
];

describe('hostile input, every route', () => {
  let stack;
  let worker;
  let sim;
  let seller;
  let buyer;
  let requests = 0;
  const seen = [];

  before(async () => {
    stack = await startStack();
    worker = stack.worker;
    sim = stack.sim;
    buyer = await launchViaSim(sim, { side: 'buyer' });
    seller = await launchViaSim(sim, { side: 'seller', chat: buyer.chat });
    await grantViaSim(worker, sim, seller.handle, buyer.chat.seller_user_id);
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  /** One request with the checks every answer must pass; returns {status, text, json, headers}. */
  async function hit(method, path, { body, headers = {}, rawBody } = {}) {
    requests++;
    const init = { method, headers: { ...headers }, redirect: 'manual' };
    if (rawBody !== undefined) init.body = rawBody;
    else if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers['content-type'] ??= 'application/json';
    }
    const r = await fetch(`${worker.base}${path}`, init);
    const text = await r.text();
    const what = `${method} ${path.slice(0, 80)} → ${r.status} ${text.slice(0, 160)}`;
    seen.push(what);
    assert.ok(r.status < 500, `no 5xx: ${what}`);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer', what);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', what);
    const location = r.headers.get('location');
    if (location) {
      const ok = location.startsWith(`${worker.base}/`) || location.startsWith(`${sim.base}/`) || location.startsWith(worker.vars.DIVAR_COMPLETION_URL);
      assert.ok(ok, `no Location off-site: ${location}`);
    }
    let json = null;
    const type = r.headers.get('content-type') || '';
    if (type.includes('application/json')) json = JSON.parse(text);
    const api = path.startsWith('/api/') || path.startsWith('/divar/') || path.startsWith('/_selftest');
    if (api && r.status >= 400) {
      assert.ok(json && typeof json.error === 'string' && typeof json.message === 'string', `a JSON error: ${what}`);
    }
    return { status: r.status, text, json, headers: r.headers };
  }

  const key = () => ({ authorization: worker.vars.DIVAR_IDENTIFICATION_KEY });
  const bearer = (h) => ({ authorization: `Bearer ${h}` });

  test('malformed, huge and deeply nested JSON, with and without credentials', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const deepObj = '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000);
    const bodies = ['{', 'null', '[]', '"x"', '1e400', deep, deepObj, '{"a":"\\ud800"}', '\u0000', '{"conversation_id":"\u202Ec1"}', 'x'.repeat(70_000)];
    for (const [method, path] of API_ROUTES.filter(([m]) => m === 'POST')) {
      for (const raw of bodies) {
        for (const headers of [{}, key(), bearer(buyer.handle)]) {
          await hit(method, path, { rawBody: raw, headers: { ...headers, 'content-type': 'application/json' } });
        }
      }
      // A body that lies about its length, and a wrong content type.
      await hit(method, path, { rawBody: '{}', headers: { ...key(), 'content-type': 'application/json', 'content-length': '999999999' } }).catch(() => {});
      await hit(method, path, { rawBody: '{}', headers: { ...key(), 'content-type': 'text/plain' } });
    }
  });

  test('forged, truncated, expired-looking and swapped handles get the same 401', async () => {
    const h = buyer.handle;
    const [head, payload, sig] = h.split('.');
    const claims = handleClaims(h);
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 10 ** 6 })).toString('base64url');
    const variants = [
      '', 'x', h.slice(0, -1), `${head}.${payload}.`, `${head}.${forgedPayload}.${sig}`,
      `eyJhbGciOiJub25lIn0.${payload}.`, `${h}.${h}`, h.replace(/[A-Z]/, 'a'), 'a'.repeat(9000),
    ];
    for (const [method, path] of API_ROUTES.filter(([, p]) => p.startsWith('/api/'))) {
      for (const v of variants) {
        const r = await hit(method, path, { headers: bearer(v), body: method === 'POST' ? { idempotency_key: 'k-0123456789' } : undefined });
        assert.equal(r.status, 401, `${method} ${path} with a bad handle`);
      }
    }
    // Swapped: the buyer's handle acts as the buyer only; the seller's assistant is not theirs.
    const asBuyer = await hit('POST', '/api/assistant/settings', { headers: bearer(buyer.handle), body: { settings: { enabled: true } } });
    assert.equal(asBuyer.status, 403);
    const sent = await hit('POST', '/api/messages', { headers: bearer(buyer.handle), body: { idempotency_key: `swap-${Date.now()}`, text: 'x' } });
    assert.equal(sent.json.item.state, 'needs_consent', 'the seller\'s grant never posts for the buyer');
  });

  test('replayed and forged OAuth states, and open-redirect attempts, never leave our pages or Divar\'s', async () => {
    const start = await hit('POST', '/api/oauth/start', { headers: bearer(buyer.handle) });
    const state = new URL(start.json.authorize_url).searchParams.get('state');
    const first = await hit('GET', `/oauth/callback?state=${state}&error=access_denied`);
    assert.equal(first.status, 303);
    const replay = await hit('GET', `/oauth/callback?state=${state}&code=x`);
    assert.equal(replay.status, 400);
    for (const q of [
      'state=x&redirect_uri=https://evil.example', 'next=//evil.example', 'state=%00&code=%0d%0aLocation:%20https://evil.example',
      `state=${'a'.repeat(5000)}`, 'state=x&state=y&code=z', 'error=x&error_description=<script>',
    ]) {
      const r = await hit('GET', `/oauth/callback?${q}`);
      assert.ok(!r.text.includes('<script>'), 'nothing echoed as markup');
    }
    for (const q of ['?next=https://evil.example', '?url=//evil.example', '?to=%2F%2Fevil.example', '?r=\\\\evil.example']) {
      const r = await hit('GET', `/return${q}`);
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), worker.vars.DIVAR_COMPLETION_URL, 'the fixed way back only');
    }
  });

  test('paths, methods and headers', async () => {
    for (const p of ['/ics/../../.dev.vars', '/ics/%2e%2e%2f%2e%2e%2fwrangler.toml', '/ics/' + 'a'.repeat(64) + '-..%2f.ics', '//api/session', '/api//visit', '/api/visit/../session', '/api/visit/PROPOSE', '/api/visit/' + 'a'.repeat(40), '/divar/events%00', '/api/%E2%80%AE']) {
      const r = await hit('GET', p, { headers: bearer(buyer.handle) });
      assert.ok([400, 401, 404, 405].includes(r.status) || (r.status === 200 && !r.text.includes('SIGNING')), `${p} → ${r.status}`);
    }
    for (const [, path] of API_ROUTES) {
      for (const method of ['PUT', 'DELETE', 'PATCH', 'PROPFIND']) {
        const r = await hit(method, path, { headers: bearer(buyer.handle) });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.ok(r.headers.get('allow'), 'with Allow');
      }
    }
    const big = await fetch(`${worker.base}/api/session`, { headers: { authorization: `Bearer ${'x'.repeat(30_000)}` } });
    await big.text();
    assert.ok(big.status < 500);
    // A Host header cannot move the OAuth redirect.
    const r = await hit('POST', '/api/oauth/start', { headers: { ...bearer(buyer.handle), 'x-forwarded-host': 'evil.example' } });
    assert.equal(new URL(r.json.authorize_url).searchParams.get('redirect_uri'), `${worker.base}/oauth/callback`);
  });

  test('identifiers and text at the edges reach no scope, key or log unbounded', async () => {
    for (const conversation_id of ['c1 USER_PHONE', 'c1.x', '../c1', 'c1\u202E', 'ک', 'x'.repeat(65), 42, null, ['c']]) {
      const r = await hit('POST', '/divar/session-init', { headers: key(), body: { source: 'CHAT', conversation_id, user_side: 'DEMAND', user_id: 'u-edge' } });
      assert.equal(r.status, 200, 'a keyed JSON object opens the page');
    }
    const r = await sessionInit(worker, { source: 'CHAT', conversation_id: 'c-edge', user_side: 'DEMAND', user_id: 'u-edge', extra_data: { k: '\u202E'.repeat(100) } });
    assert.equal(r.status, 200);
    const long = await hit('POST', '/api/visit/propose', { headers: bearer(buyer.handle), body: { slots: [1e300, -1, 'x'], note: '\u202E'.repeat(10), idempotency_key: 'edge-0123456789' } });
    assert.ok([400, 422].includes(long.status));
  });

  test('the worker\'s log holds no secret, token, code or handle', async () => {
    const log = worker.log();
    const secrets = ['DIVAR_IDENTIFICATION_KEY', 'KENAR_OAUTH_CLIENT_SECRET', 'SESSION_SIGNING_KEY', 'TOKEN_ENCRYPTION_KEY', 'KENAR_API_KEY']
      .map((k) => worker.vars[k])
      .filter((v) => typeof v === 'string' && v.length >= 8);
    for (const s of secrets) assert.ok(!log.includes(s), 'a secret in the log');
    const tokens = JSON.stringify((await sim.control('GET', '/_sim/tokens')).body).match(/ory_(at|rt)_[A-Za-z0-9_.-]+/g) || [];
    assert.ok(tokens.length > 0, 'the sim issued tokens to look for');
    for (const t of tokens) assert.ok(!log.includes(t), 'a token in the log');
    assert.ok(!log.includes(buyer.handle) && !log.includes(seller.handle), 'no handle in the log');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(log), 'no JWT in the log');
    console.log(`# hostile: ${requests} requests, ${new Set(seen.map((s) => s.split(' → ')[0])).size} distinct, 0 5xx`);
  });
});
