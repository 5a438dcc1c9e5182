// The holes a hostile review found in the landed worker, each tried the way it was found —
// against the built worker on `wrangler dev` and divar-sim — and each closed:
//
//   1. consent bound to the person: the seller approving the buyer's consent URL must not
//      leave the buyer posting as the seller;
//   2. a handle never outlives its session: a consent round (even a refused one) hands back
//      the session's own expiry, not a new lifetime;
//   3. identifiers cannot inject: a conversation id with spaces never reaches a scope;
//   4. unknown methods are refused (405 with Allow), never served as GET;
//   5. the worker's log carries no secret, token, code or handle, and no line forged from
//      outside text;
//   7. a keyed launch with a well-formed JSON object always opens the page, which says what it
//      cannot do there.
// (6, sealed KV records, is a native test: `flows::launch` checks the raw KV value.)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { getSession, handleClaims, handleFromUrl, jsonCall, launchViaSim, simMessages, sessionInit, startStack } from '../lib/harness.mjs';

describe('hardening: the review\'s holes, closed', () => {
  let stack;
  let sim;
  let worker;

  before(async () => {
    stack = await startStack();
    sim = stack.sim;
    worker = stack.worker;
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  const bearer = (handle) => ({ authorization: `Bearer ${handle}`, 'content-type': 'application/json' });

  /** Starts consent with `handle` and approves it at the sim as `approver`; returns the callback's answer. */
  async function consentAs(handle, approver) {
    const start = await jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: bearer(handle) });
    assert.equal(start.status, 200, start.text);
    const url = new URL(start.body.authorize_url);
    const page = await fetch(url, { redirect: 'manual' });
    await page.arrayBuffer();
    const pending = await sim.control('GET', '/_sim/oauth/authorizations?status=pending');
    const auth = pending.body.authorizations.find((a) => a.state === url.searchParams.get('state'));
    assert.ok(auth, 'a pending authorization');
    const d = await sim.control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/approve`, { user_id: approver });
    assert.equal(d.status, 200, d.text);
    return { cb: await jsonCall(d.body.redirect_url, {}), scope: url.searchParams.get('scope') };
  }

  test('1. a grant approved from another account is not kept: the buyer cannot post as the seller', async () => {
    const { chat, handle } = await launchViaSim(sim, { side: 'buyer' });
    const { cb } = await consentAs(handle, chat.seller_user_id);
    assert.equal(cb.status, 403, cb.text);
    assert.equal(cb.headers.get('location'), null);
    assert.match(cb.text, /حساب دیگری/);
    assert.match(cb.text, /href="\/return"/);
    const sent = await jsonCall(`${worker.base}/api/messages`, {
      method: 'POST',
      headers: bearer(handle),
      body: { idempotency_key: `hole1-${Date.now()}`, text: 'سلام' },
    });
    assert.equal(sent.status, 200, sent.text);
    assert.equal(sent.body.item.state, 'needs_consent', 'no grant was kept for the buyer');
    const inChat = await simMessages(sim, chat.conversation_id);
    assert.equal(inChat.length, 0, `nothing was posted: ${JSON.stringify(inChat)}`);
  });

  test('2. a consent round, even refused, never extends the session', async () => {
    const { handle } = await launchViaSim(sim, { side: 'buyer' });
    const before = handleClaims(handle).exp;
    const start = await jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: bearer(handle) });
    const state = new URL(start.body.authorize_url).searchParams.get('state');
    await new Promise((r) => setTimeout(r, 1_100));
    const cb = await jsonCall(`${worker.base}/oauth/callback?state=${encodeURIComponent(state)}&error=x`, {});
    assert.equal(cb.status, 303, cb.text);
    const back = new URLSearchParams(cb.headers.get('location').split('#')[1]).get('h');
    assert.equal(handleClaims(back).exp, before, 'the same absolute expiry');
    assert.ok(handleClaims(back).iat > handleClaims(handle).iat);
  });

  test('3. a conversation id with spaces never becomes a scope', async () => {
    const r = await sessionInit(worker, {
      source: 'CHAT',
      conversation_id: 'c1 USER_PHONE CHAT_SUPPLIER_ALL_CONVERSATIONS_MESSAGE_SEND',
      user_side: 'DEMAND',
      user_id: 'u-hole3',
    });
    assert.equal(r.status, 200, r.text);
    const handle = handleFromUrl(r.body.url);
    const session = await getSession(worker, handle);
    assert.equal(session.status, 200, session.text);
    assert.equal(session.body.context.conversation_id, undefined, 'not an id, so not kept');
    const start = await jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: bearer(handle) });
    assert.equal(start.status, 422, start.text);
    assert.equal(start.body.error, 'invalid_field');
    assert.equal(start.body.authorize_url, undefined);
    // The same id in Divar's other calls: a dynamic action names the field, an event is ignored.
    const tap = await jsonCall(`${worker.base}/divar/dynamic-action`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'application/json' },
      body: { conversation_id: 'c1 USER_PHONE', user_id: 'u-hole3', extra_data: { svc: 'visit', v: 'pick' } },
    });
    assert.equal(tap.status, 422, tap.text);
    assert.match(tap.body.message, /conversation_id/);
    const ev = await jsonCall(`${worker.base}/divar/events`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'application/json' },
      body: {
        type: 'NEW_CHATBOT_MESSAGE',
        new_chatbot_message: { id: 'm-hole3', conversation: { id: 'b1 USER_PHONE', type: 'BOT' }, sender: { type: 'HUMAN' }, type: 'TEXT', text: 'منو' },
      },
    });
    assert.equal(ev.status, 200, ev.text);
    assert.equal(ev.body.ignored, 'unreadable');
  });

  test('4. methods the worker does not serve get 405 with Allow, never a GET\'s answer', async () => {
    const { handle } = await launchViaSim(sim, { side: 'buyer' });
    for (const [method, path, allow] of [
      ['PROPFIND', '/healthz', 'GET'],
      ['LOCK', '/api/session', 'GET'],
      ['PUT', '/api/session', 'GET'],
      ['DELETE', '/divar/session-init', 'POST'],
      ['PATCH', '/api/messages', 'GET, POST'],
    ]) {
      const r = await fetch(`${worker.base}${path}`, { method, headers: { authorization: `Bearer ${handle}` } });
      const text = await r.text();
      assert.equal(r.status, 405, `${method} ${path}: ${r.status} ${text}`);
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(JSON.parse(text).error, 'method_not_allowed');
      assert.ok(!text.includes('conversation_id'), 'no session in the answer');
    }
    const head = await fetch(`${worker.base}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200, 'HEAD is a GET without the body');
  });

  test('7. a keyed launch with a well-formed JSON object always opens the page', async () => {
    for (const body of [
      { source: 'POST_ADDON', post_token: null, user_id: 'u-hole7' },
      { user_side: 'DEMAND', conversation_id: 'c-hole7' },
      {},
      { source: 'CHAT', conversation_id: ['x'], user_side: 'both', extra_data: 'x' },
    ]) {
      const r = await sessionInit(worker, body);
      assert.equal(r.status, 200, `${JSON.stringify(body)}: ${r.text}`);
      const session = await getSession(worker, handleFromUrl(r.body.url));
      assert.equal(session.status, 200, session.text);
    }
    // Without a chat, the page's visit call names what is missing (the page says it in Persian).
    const r = await sessionInit(worker, { source: 'POST_ADDON', post_token: 'p7abcdef', user_id: 'u-hole7' });
    const visit = await jsonCall(`${worker.base}/api/visit`, { headers: bearer(handleFromUrl(r.body.url)) });
    assert.equal(visit.status, 422, visit.text);
    assert.match(visit.body.message, /conversation_id/);
    // What stays refused: a wrong key, non-JSON, a wrong content type, an oversized body.
    assert.equal((await sessionInit(worker, {}, { key: 'wrong' })).status, 401);
    assert.equal((await jsonCall(`${worker.base}/divar/session-init`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'application/json' },
      body: 'not json',
    })).status, 400);
    assert.equal((await jsonCall(`${worker.base}/divar/session-init`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'text/plain' },
      body: '{}',
    })).status, 415);
    assert.equal((await sessionInit(worker, { pad: 'x'.repeat(20_000) })).status, 413);
  });

  test('5. the worker\'s log: no secret, token, code or handle, and no forged line', async () => {
    // Outside text with line breaks where the worker might echo it.
    await jsonCall(`${worker.base}/oauth/callback?state=x%0AFORGED-LINE&error=%0AFORGED-LINE`, {});
    await jsonCall(`${worker.base}/api/%0AFORGED-LINE`, {});
    await jsonCall(`${worker.base}/divar/events`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'application/json' },
      body: { type: 'X\nFORGED-LINE', new_message: { id: '\nFORGED-LINE' } },
    });
    const log = worker.log();
    assert.ok(log.length > 0, 'the worker logged something');
    assert.ok(!/^\s*FORGED-LINE/m.test(log), 'no line starts with outside text');
    const secrets = [
      worker.vars.DIVAR_IDENTIFICATION_KEY,
      worker.vars.KENAR_OAUTH_CLIENT_SECRET,
      worker.vars.SESSION_SIGNING_KEY,
      worker.vars.TOKEN_ENCRYPTION_KEY,
      worker.vars.KENAR_API_KEY,
    ].filter((s) => typeof s === 'string' && s.length >= 8);
    assert.ok(secrets.length >= 3, `the secrets to look for: ${Object.keys(worker.vars)}`);
    for (const s of secrets) assert.ok(!log.includes(s), 'a secret in the log');
    const tokens = (await sim.control('GET', '/_sim/tokens')).body;
    const issued = JSON.stringify(tokens).match(/ory_(at|rt)_[A-Za-z0-9_.-]+/g) || [];
    for (const t of issued) assert.ok(!log.includes(t), `a token in the log: ${t.slice(0, 12)}…`);
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(log), 'no handle (JWT) in the log');
  });
});

describe('rate limits (the Workers rate-limiting bindings, as wrangler dev serves them)', () => {
  let stack;
  let worker;
  let sim;

  before(async () => {
    stack = await startStack({ vars: { KENAR_RATE_LIMITS: 'on' } });
    worker = stack.worker;
    sim = stack.sim;
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test('asking for consent: 10 a minute per session, then 429 with Retry-After; other sessions unaffected', async () => {
    const { handle } = await launchViaSim(sim, { side: 'buyer' });
    const start = (h) => jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: { authorization: `Bearer ${h}` } });
    const statuses = [];
    for (let i = 0; i < 11; i++) statuses.push((await start(handle)).status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200), JSON.stringify(statuses));
    const over = await start(handle);
    assert.equal(over.status, 429, over.text);
    assert.equal(over.body.error, 'too_many_requests');
    assert.equal(over.headers.get('retry-after'), '60');
    const other = await launchViaSim(sim, { side: 'seller' });
    assert.equal((await start(other.handle)).status, 200, 'another session has its own count');
  });

  test('the page\'s API: 120 a minute per address, then 429; Divar\'s own calls are never limited', async () => {
    const { handle } = await launchViaSim(sim, { side: 'buyer' });
    let first429 = 0;
    for (let i = 1; i <= 140 && !first429; i++) {
      const r = await getSession(worker, handle);
      if (r.status === 429) first429 = i;
      else assert.equal(r.status, 200, r.text);
    }
    assert.ok(first429 > 100 && first429 <= 122, `the limit held near 120 (first 429 at ${first429})`);
    const launch = await sessionInit(worker, { source: 'CHAT', conversation_id: 'c-limits', user_side: 'DEMAND' });
    assert.equal(launch.status, 200, 'session-init is Divar\'s, keyed, and not limited');
  });
});
