// Issue "OAuth and chat messages", end to end: the built worker under wrangler dev against
// divar-sim. A launch asks to post, needs the person's consent, goes through Divar's (simulated)
// OAuth, and the same outbox item is then delivered into the chat exactly once, with each side's
// buttons. Also: refusal, replayed/forged state, forged handles, token refresh, revocation, a
// blocked recipient, Divar failing (429, 500, hanging) inside the request and for the conversation object's alarm,
// and every request the worker made passing the simulator's OpenAPI checks.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { handleClaims, jsonCall, launchViaSim, pollUntil, sleep, startStack } from '../lib/harness.mjs';

/** Per-call timeout for calls to Divar: low, so a hanging Divar costs little test time. */
const API_TIMEOUT_MS = 700;
// The first retry by the conversation object's alarm (30 s in production).
const RETRY_BASE_MS = 2_000;

describe('OAuth and chat messages against divar-sim', () => {
  let stack;
  let sim;
  let worker;
  let keySeq = 0;
  let tokenProbe;

  before(async () => {
    stack = await startStack({ vars: { KENAR_API_TIMEOUT_MS: API_TIMEOUT_MS, KENAR_RETRY_BASE_MS: RETRY_BASE_MS } });
    sim = stack.sim;
    worker = stack.worker;
    // The sim does not list token-endpoint calls under /_sim/requests; a pass-through fault rule
    // (no status, 0 ms latency, no count) counts every one of them in its `hits`.
    tokenProbe = await fault({ endpoint: 'token', latency_ms: 0 });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  // ---------------------------------------------------------------------------------------
  // helpers

  const bearer = (handle) => ({ authorization: `Bearer ${handle}` });
  const newKey = (label) => `e2e-${label}-${Date.now().toString(36)}-${++keySeq}`;

  function postMessage(handle, text, idempotency_key) {
    return jsonCall(`${worker.base}/api/messages`, {
      method: 'POST',
      body: { text, idempotency_key },
      headers: bearer(handle),
      timeoutMs: 30_000,
    });
  }

  /** POST /api/messages expecting 200; returns the item. */
  async function send(handle, text, key) {
    const r = await postMessage(handle, text, key);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body && r.body.item, r.text);
    const item = r.body.item;
    assert.equal(item.text, text);
    assert.equal(typeof item.id, 'string');
    return item;
  }

  async function listItems(handle) {
    const r = await jsonCall(`${worker.base}/api/messages`, { headers: bearer(handle) });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.body.items), r.text);
    return r.body.items;
  }

  /** The messages of a conversation in the sim whose text is `text`. */
  async function simMessages(cid, text) {
    const r = await sim.control('GET', `/_sim/conversations/${encodeURIComponent(cid)}/messages`);
    assert.equal(r.status, 200, r.text);
    return r.body.messages.filter((m) => text === undefined || m.text === text);
  }

  /** The highest request id the sim has logged so far (for `since`). */
  async function lastRequestId() {
    const r = await sim.control('GET', '/_sim/requests');
    return r.body.requests.reduce((n, q) => Math.max(n, q.id), 0);
  }

  /** The sim's logged calls (optionally one endpoint, optionally one conversation) after `since`. */
  async function requestsSince(since, { endpoint, cid } = {}) {
    const q = new URLSearchParams({ since: String(since) });
    if (endpoint) q.set('endpoint', endpoint);
    const r = await sim.control('GET', `/_sim/requests?${q}`);
    assert.equal(r.status, 200, r.text);
    return r.body.requests.filter((x) => x.id > since && (!cid || x.path.includes(cid)));
  }

  async function fault(spec) {
    const r = await sim.control('POST', '/_sim/faults', spec);
    assert.equal(r.status, 200, r.text);
    return r.body.fault;
  }

  /** How many calls reached the sim's token endpoint so far (see tokenProbe). */
  async function tokenCalls() {
    const r = await sim.control('GET', '/_sim/faults');
    const rule = r.body.faults.find((f) => f.id === tokenProbe.id);
    assert.ok(rule, 'the token probe rule is still installed');
    return rule.hits;
  }

  async function clearFaults() {
    const r = await sim.control('DELETE', '/_sim/faults?endpoint=conversation_send');
    assert.equal(r.status, 200, r.text);
  }

  /** POST /api/oauth/start → the authorize URL, checked for what the worker must put in it. */
  async function oauthStart(handle, cid) {
    const r = await jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: bearer(handle) });
    assert.equal(r.status, 200, r.text);
    const url = new URL(r.body.authorize_url);
    assert.equal(url.origin + url.pathname, `${sim.base}/oauth2/auth`);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('client_id'), worker.vars.KENAR_APP_SLUG);
    assert.equal(url.searchParams.get('redirect_uri'), `${worker.base}/oauth/callback`);
    assert.deepEqual(url.searchParams.get('scope').split(' ').sort(), [`CONVERSATION_SEND_MESSAGE.${cid}`, 'offline_access', 'NOTIFICATION_ACCESS_REVOCATION', 'USER_ID'].sort());
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') || '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok((url.searchParams.get('state') || '').length >= 32, 'a long random state');
    return url;
  }

  /** GET a callback URL on the worker (no redirect following); returns { res, handle, outcome }. */
  async function callback(url) {
    const res = await jsonCall(url, {});
    const location = res.headers.get('location');
    if (res.status !== 303) return { res, location };
    assert.ok(location && location.startsWith(`${worker.base}/#h=`), location);
    const frag = new URLSearchParams(location.split('#')[1]);
    return { res, location, handle: frag.get('h'), outcome: frag.get('oauth') };
  }

  /**
   * The whole consent round: POST /api/oauth/start, open the consent page on the sim, decide
   * through the control API as `user_id`, then follow the redirect to the worker's callback.
   */
  async function consent(handle, cid, { approve = true, user_id } = {}) {
    const url = await oauthStart(handle, cid);
    const pageRes = await fetch(url, { redirect: 'manual' });
    const html = await pageRes.text();
    assert.equal(pageRes.status, 200, html);
    assert.match(html, /name="decision" value="approve"/);
    const pending = await sim.control('GET', '/_sim/oauth/authorizations?status=pending');
    const auth = pending.body.authorizations.find((a) => a.state === url.searchParams.get('state'));
    assert.ok(auth, 'the consent page created a pending authorization for our state');
    const decision = await sim.control(
      'POST',
      `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/${approve ? 'approve' : 'deny'}`,
      approve && user_id ? { user_id } : {},
    );
    assert.equal(decision.status, 200, decision.text);
    assert.ok(decision.body.redirect_url.startsWith(`${worker.base}/oauth/callback?`), decision.body.redirect_url);
    const cb = await callback(decision.body.redirect_url);
    assert.equal(cb.res.status, 303, cb.res.text);
    return { ...cb, callbackUrl: decision.body.redirect_url, auth };
  }

  /** A fresh chat launched by its seller and granted; returns { chat, handle }. */
  async function grantedLaunch(label) {
    const { chat, handle } = await launchViaSim(sim, { side: 'seller' });
    const key = newKey(label);
    const first = await send(handle, `اول ${label}`, key);
    assert.equal(first.state, 'needs_consent');
    const c = await consent(handle, chat.conversation_id, { user_id: chat.seller_user_id });
    assert.equal(c.outcome, 'granted');
    const again = await send(c.handle, `اول ${label}`, key);
    assert.equal(again.state, 'sent');
    return { chat, handle: c.handle };
  }

  const caption = (grid) => grid.rows.map((row) => row.buttons.map((b) => b.caption));

  // ---------------------------------------------------------------------------------------

  test('launch → needs_consent → Divar consent → granted → the same item is sent once, with each side\'s buttons', async () => {
    const { chat, handle } = await launchViaSim(sim, { side: 'seller' });
    const cid = chat.conversation_id;
    const text = 'سلام، فردا ساعت ۵ برای بازدید خوب است؟';
    const key = newKey('happy');

    const first = await send(handle, text, key);
    assert.equal(first.state, 'needs_consent');
    assert.equal(first.reason, 'permission_needed');
    assert.equal((await simMessages(cid, text)).length, 0, 'nothing posted without consent');

    const c = await consent(handle, cid, { user_id: chat.seller_user_id });
    assert.equal(c.outcome, 'granted');
    const [oldClaims, newClaims] = [handleClaims(handle), handleClaims(c.handle)];
    assert.equal(newClaims.sid, oldClaims.sid, 'a handle for the same session');
    assert.ok(newClaims.exp >= oldClaims.exp, 'freshly signed');

    const sent = await send(c.handle, text, key);
    assert.equal(sent.id, first.id, 'the same idempotency key is the same outbox item');
    assert.equal(sent.state, 'sent');

    const msgs = await simMessages(cid, text);
    assert.equal(msgs.length, 1);
    const m = msgs[0];
    assert.equal(m.sender_user_id, chat.seller_user_id, 'posted on behalf of the launching user');
    assert.equal(m.sender_side, 'SELLER');
    assert.equal(m.sender_type, 'BOT');
    assert.deepEqual(m.receiver_buttons, {
      rows: [{ buttons: [{ action: { open_server_link: { data: { purpose: 'reply' } } }, caption: 'پاسخ در افزونه', icon: 'CHAT_BUBBLE' }] }],
    });
    assert.deepEqual(caption(m.sender_buttons), [['مشاهده در افزونه', 'آگهی']]);
    const [view, post] = m.sender_buttons.rows[0].buttons;
    assert.deepEqual(view.action, { open_server_link: { data: { purpose: 'view' } } });
    assert.deepEqual(post.action, { open_post_page: { post_token: chat.post_token } });

    // Posting the same key again never sends it again.
    const replay = await send(c.handle, text, key);
    assert.equal(replay.id, first.id);
    assert.equal(replay.state, 'sent');
    assert.equal((await simMessages(cid, text)).length, 1);

    // The old handle and the new one see the same session's list.
    for (const h of [handle, c.handle]) {
      const items = await listItems(h);
      assert.deepEqual(items.map((i) => [i.id, i.state]), [[first.id, 'sent']]);
    }

    // The receiver's reply button opens the add-on again (session init with purpose=reply).
    const press = await sim.control('POST', `/_sim/messages/${encodeURIComponent(m.id)}/press`, { side: 'buyer', row: 0, button: 0 });
    assert.equal(press.status, 200, press.text);
    assert.equal(press.body.kind, 'open_server_link');
    assert.equal(press.body.status, 200, JSON.stringify(press.body));
    assert.ok(press.body.url.startsWith(`${worker.base}/#h=`));

    // Done: /return → the sim's completion page, which counts the return.
    const before = (await sim.control('GET', '/_sim/completions')).body.count;
    const ret = await jsonCall(`${worker.base}/return`, {});
    assert.equal(ret.status, 303);
    assert.equal(ret.headers.get('location'), `${sim.base}/completion`);
    const done = await fetch(ret.headers.get('location'));
    assert.equal(done.status, 200);
    await done.arrayBuffer();
    assert.equal((await sim.control('GET', '/_sim/completions')).body.count, before + 1);
  });

  test('refusal: oauth=denied, nothing sent, the item stays needs_consent and listed', async () => {
    const { chat, handle } = await launchViaSim(sim, { side: 'buyer' });
    const cid = chat.conversation_id;
    const text = 'پیامی که اجازه‌اش داده نمی‌شود';
    const key = newKey('deny');
    const first = await send(handle, text, key);
    assert.equal(first.state, 'needs_consent');
    const tokensBefore = await lastRequestId();
    const exchangesBefore = await tokenCalls();

    const c = await consent(handle, cid, { approve: false });
    assert.equal(c.outcome, 'denied');
    assert.ok(c.handle, 'the page gets a handle back even when refused');
    assert.equal(await tokenCalls(), exchangesBefore, 'no code exchange on a refusal');

    const items = await listItems(c.handle);
    assert.equal(items.length, 1);
    assert.equal(items[0].id, first.id);
    assert.equal(items[0].state, 'needs_consent');
    assert.equal(items[0].text, text);
    assert.equal((await simMessages(cid, text)).length, 0);

    // Posting again without a grant is still only a request for consent, not a send.
    const again = await send(c.handle, text, key);
    assert.equal(again.state, 'needs_consent');
    assert.equal((await requestsSince(tokensBefore, { endpoint: 'conversation_send', cid })).length, 0);
  });

  test('a replayed callback and a forged state are 400 pages with no redirect and no token request', async () => {
    const { chat, handle } = await launchViaSim(sim, { side: 'seller' });
    const cid = chat.conversation_id;

    // A forged state carrying a real, unused code of an approved authorization.
    const url = await oauthStart(handle, cid);
    await (await fetch(url)).text();
    const pending = await sim.control('GET', '/_sim/oauth/authorizations?status=pending');
    const auth = pending.body.authorizations.find((a) => a.state === url.searchParams.get('state'));
    const decision = await sim.control('POST', `/_sim/oauth/authorizations/${auth.id}/approve`, { user_id: chat.seller_user_id });
    assert.equal(decision.status, 200, decision.text);
    const realCallback = new URL(decision.body.redirect_url);
    const code = realCallback.searchParams.get('code');
    assert.ok(code);

    const tokensBefore = await tokenCalls();
    const forgedUrls = [
      `${worker.base}/oauth/callback?state=${'A'.repeat(43)}&code=${encodeURIComponent(code)}`,
      `${worker.base}/oauth/callback?state=forged&error=access_denied`,
      `${worker.base}/oauth/callback?code=${encodeURIComponent(code)}`,
    ];
    for (const u of forgedUrls) {
      const r = await callback(u);
      assert.equal(r.res.status, 400, `${u}: ${r.res.status}`);
      assert.equal(r.location, null, 'no Location on a dead end');
      assert.match(r.res.headers.get('content-type') || '', /^text\/html/);
      assert.match(r.res.text, /lang="fa" dir="rtl"/);
      const links = [...r.res.text.matchAll(/href="([^"]+)"/g)].map((x) => x[1]).filter((h) => h !== '/app.css');
      assert.deepEqual(links, ['/return'], 'the only way on is back to Divar');
    }
    assert.equal(await tokenCalls(), tokensBefore, 'a forged state never reaches the token endpoint');

    // The real callback still works once (the forged attempts did not use its state)…
    const ok = await callback(realCallback.href);
    assert.equal(ok.res.status, 303, ok.res.text);
    assert.equal(ok.outcome, 'granted');
    assert.equal(await tokenCalls(), tokensBefore + 1, 'one code exchange');

    // …and never twice.
    const replay = await callback(realCallback.href);
    assert.equal(replay.res.status, 400);
    assert.equal(replay.location, null);
    assert.match(replay.res.headers.get('content-type') || '', /^text\/html/);
    assert.match(replay.res.text, /href="\/return"/);
    assert.equal(await tokenCalls(), tokensBefore + 1, 'the replay made no token request');
    // The sim agrees the code was exchanged exactly once.
    const approved = await sim.control('GET', '/_sim/oauth/authorizations?status=approved');
    assert.ok(approved.body.authorizations.some((a) => a.id === auth.id));
  });

  test('a forged handle is 401 on /api/messages and /api/oauth/start', async () => {
    const { handle } = await launchViaSim(sim, { side: 'seller' });
    const [h, p, s] = handle.split('.');
    const flipped = s.slice(0, -2) + (s.slice(-2) === 'AA' ? 'BB' : 'AA');
    const forged = [
      `${h}.${p}.${flipped}`, // bad signature
      `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sid: 'x' })).toString('base64url')}.${s}`, // altered claims
      'not-a-handle',
    ];
    for (const bad of forged) {
      const calls = [
        jsonCall(`${worker.base}/api/messages`, { method: 'POST', headers: bearer(bad), body: { text: 'سلام', idempotency_key: newKey('forged') } }),
        jsonCall(`${worker.base}/api/messages`, { headers: bearer(bad) }),
        jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: bearer(bad) }),
      ];
      for (const r of await Promise.all(calls)) {
        assert.equal(r.status, 401, `${bad.slice(0, 20)}…: ${r.status} ${r.text}`);
        assert.equal(typeof r.body.error, 'string');
      }
    }
    // No Authorization at all is 401 too.
    const none = await jsonCall(`${worker.base}/api/messages`, { method: 'POST', body: { text: 'سلام', idempotency_key: newKey('none') } });
    assert.equal(none.status, 401);
    // The genuine handle still works on the same routes.
    assert.equal((await jsonCall(`${worker.base}/api/messages`, { headers: bearer(handle) })).status, 200);
  });

  test('an access token Divar expired early is refreshed on the 401 and the message is sent', async () => {
    const { chat, handle } = await grantedLaunch('refresh');
    const tokensBefore = await tokenCalls();
    const issuedBefore = (await sim.control('GET', `/_sim/tokens?user_id=${encodeURIComponent(chat.seller_user_id)}`)).body.tokens.length;
    const exp = await sim.control('POST', '/_sim/users/expire-tokens', { user_id: chat.seller_user_id });
    assert.equal(exp.status, 200, exp.text);
    assert.ok(exp.body.expired >= 1, exp.text);

    const text = 'بعد از انقضای توکن';
    const item = await send(handle, text, newKey('refresh'));
    assert.equal(item.state, 'sent', JSON.stringify(item));
    assert.equal((await simMessages(chat.conversation_id, text)).length, 1);

    // One token call and one new access token for this user with no new consent: a refresh.
    assert.equal(await tokenCalls(), tokensBefore + 1);
    const tokens = (await sim.control('GET', `/_sim/tokens?user_id=${encodeURIComponent(chat.seller_user_id)}`)).body.tokens;
    assert.equal(tokens.length, issuedBefore + 1);
    assert.equal(tokens.filter((t) => t.valid).length, 1, 'only the refreshed access token is valid');
    // The rotated pair is used from now on: another message needs no token call.
    const second = await send(handle, 'پیام دوم پس از تمدید', newKey('refresh2'));
    assert.equal(second.state, 'sent');
    assert.equal(await tokenCalls(), tokensBefore + 1);
  });

  test('a revocation at Divar reaches the events URL: the next send asks for consent without calling Divar; consent again → sent', async () => {
    const { chat, handle } = await grantedLaunch('revoke');
    const cid = chat.conversation_id;
    const before = await lastRequestId();
    const rv = await sim.control('POST', '/_sim/users/revoke', { user_id: chat.seller_user_id });
    assert.equal(rv.status, 200, rv.text);
    assert.ok(rv.body.revoked_grants >= 1, rv.text);
    assert.equal(rv.body.notified, true, 'the grant carried NOTIFICATION_ACCESS_REVOCATION and USER_ID');

    const text = 'پس از لغو دسترسی';
    const key = newKey('revoke');
    const r = await postMessage(handle, text, key);
    assert.equal(r.status, 200, `not an error: ${r.text}`);
    assert.equal(r.body.item.state, 'needs_consent');
    assert.equal(r.body.item.reason, 'permission_needed', 'the grant was already gone: the notice removed it');
    assert.equal((await requestsSince(before, { endpoint: 'conversation_send', cid })).length, 0);
    assert.equal((await simMessages(cid, text)).length, 0);

    // The grant is gone: the next try asks for consent without calling Divar at all.
    const since = await lastRequestId();
    const still = await send(handle, text, key);
    assert.equal(still.state, 'needs_consent');
    assert.equal((await requestsSince(since, { endpoint: 'conversation_send', cid })).length, 0);

    const c = await consent(handle, cid, { user_id: chat.seller_user_id });
    assert.equal(c.outcome, 'granted');
    const sent = await send(c.handle, text, key);
    assert.equal(sent.id, r.body.item.id);
    assert.equal(sent.state, 'sent');
    assert.equal((await simMessages(cid, text)).length, 1);
  });

  test('a blocked recipient: failed / recipient_restricted after exactly one attempt', async () => {
    const { chat, handle } = await grantedLaunch('blocked');
    const cid = chat.conversation_id;
    const b = await sim.control('POST', '/_sim/users/block', { user_id: chat.buyer_user_id });
    assert.equal(b.status, 200, b.text);
    try {
      const since = await lastRequestId();
      const text = 'به گیرنده‌ای که مسدود است';
      const key = newKey('blocked');
      const item = await send(handle, text, key);
      assert.equal(item.state, 'failed');
      assert.equal(item.reason, 'recipient_restricted');
      assert.equal(item.attempts, 1);
      const calls = await requestsSince(since, { endpoint: 'conversation_send', cid });
      assert.deepEqual(calls.map((c) => c.status), [412], 'one call, not retried');
      // Final: posting the same key again does not call Divar again.
      const again = await send(handle, text, key);
      assert.equal(again.state, 'failed');
      assert.equal((await requestsSince(since, { endpoint: 'conversation_send', cid })).length, 1);
      assert.equal((await simMessages(cid, text)).length, 0);
      const listed = (await listItems(handle)).find((i) => i.id === item.id);
      assert.equal(listed.state, 'failed');
      assert.equal(listed.reason, 'recipient_restricted');
    } finally {
      await sim.control('POST', '/_sim/users/unblock', { user_id: chat.buyer_user_id });
    }
  });

  describe('Divar failing while sending', () => {
    let chat;
    let handle;

    before(async () => {
      ({ chat, handle } = await grantedLaunch('faults'));
    });

    /** Sends `text` under `spec` faults; checks the in-request attempts and delivery. */
    async function sendThrough(spec, text) {
      await clearFaults();
      const since = await lastRequestId();
      await fault({ endpoint: 'conversation_send', ...spec });
      const started = Date.now();
      const item = await send(handle, text, newKey('fault'));
      const ms = Date.now() - started;
      const calls = await requestsSince(since, { endpoint: 'conversation_send', cid: chat.conversation_id });
      return { item, ms, calls };
    }

    test('429 with Retry-After: 1 twice → sent on the third in-request attempt, once', async () => {
      const text = 'تلاش با ۴۲۹';
      const { item, ms, calls } = await sendThrough({ status: 429, retry_after: 1, count: 2 }, text);
      assert.equal(item.state, 'sent', JSON.stringify(item));
      assert.deepEqual(calls.map((c) => c.status), [429, 429, 200]);
      assert.ok(ms >= 2_000, `Retry-After honoured (${ms} ms)`);
      assert.equal((await simMessages(chat.conversation_id, text)).length, 1);
    });

    test('500 twice → sent on the third in-request attempt, once', async () => {
      const text = 'تلاش با ۵۰۰';
      const { item, ms, calls } = await sendThrough({ status: 500, count: 2 }, text);
      assert.equal(item.state, 'sent', JSON.stringify(item));
      assert.deepEqual(calls.map((c) => c.status), [500, 500, 200]);
      assert.ok(ms >= 1_250, `backoff 250 ms + 1 s (${ms} ms)`);
      assert.equal((await simMessages(chat.conversation_id, text)).length, 1);
    });

    test('a hanging Divar times out and the retry delivers, once', async () => {
      const text = 'تلاش با پاسخ معلق';
      const { item, ms, calls } = await sendThrough({ hang: true, count: 1 }, text);
      assert.equal(item.state, 'sent', JSON.stringify(item));
      assert.ok(ms >= API_TIMEOUT_MS && ms < 10_000, `${ms} ms`);
      assert.equal(calls.filter((c) => c.status === 200).length, 1);
      assert.equal((await simMessages(chat.conversation_id, text)).length, 1);
    });

    // Each of these leaves a message waiting in its sender's lane, and messages of one sender go
    // in order: each uses a chat of its own, so no test queues behind another's waiting message.
    test('a long Retry-After leaves the item waiting; posting the same key again is the same item, not a new send', async () => {
      const own = await grantedLaunch('long429');
      const text = 'صبر طولانی ۴۲۹';
      await clearFaults();
      const since = await lastRequestId();
      await fault({ endpoint: 'conversation_send', status: 429, retry_after: 60, count: 1 });
      const key = newKey('long429');
      const started = Date.now();
      const item = await send(own.handle, text, key);
      assert.ok(Date.now() - started < 2_000, 'a long Retry-After is not waited for in the request');
      assert.equal(item.state, 'waiting');
      assert.equal(item.reason, 'divar_unavailable');
      const cid = own.chat.conversation_id;
      assert.deepEqual((await requestsSince(since, { endpoint: 'conversation_send', cid })).map((c) => c.status), [429]);
      assert.equal((await listItems(own.handle)).find((i) => i.id === item.id).state, 'waiting');

      const again = await send(own.handle, text, key);
      assert.equal(again.id, item.id);
      assert.equal(again.state, 'waiting', 'Divar asked for 60 s: a resubmission does not jump the queue');
      assert.equal((await requestsSince(since, { endpoint: 'conversation_send', cid })).length, 1);
      assert.equal((await simMessages(cid, text)).length, 0);
    });

    test('hanging on every attempt → waiting, nothing lost; the alarm delivers it once after Divar recovers', async () => {
      const own = await grantedLaunch('hang3');
      const text = 'همیشه معلق';
      await clearFaults();
      const since = await lastRequestId();
      await fault({ endpoint: 'conversation_send', hang: true, count: 3 });
      const key = newKey('hang3');
      const item = await send(own.handle, text, key);
      const cid = own.chat.conversation_id;
      assert.equal(item.state, 'waiting', JSON.stringify(item));
      assert.equal((await simMessages(cid, text)).length, 0);
      await clearFaults();
      const delivered = await pollUntil(async () => (await simMessages(cid, text)).length === 1, { timeoutMs: RETRY_BASE_MS + 10_000 });
      assert.ok(delivered, 'the alarm sent it');
      assert.equal((await listItems(own.handle)).find((i) => i.id === item.id).state, 'sent');
      const again = await send(own.handle, text, key);
      assert.equal(again.state, 'sent');
      assert.equal((await simMessages(cid, text)).length, 1);
      const okCalls = (await requestsSince(since, { endpoint: 'conversation_send', cid })).filter((c) => c.status === 200);
      assert.equal(okCalls.length, 1);
    });

    test('500 on every in-request attempt → waiting; the object\'s alarm waits until due, then delivers exactly once', async () => {
      const own = await grantedLaunch('alarm');
      const text = 'ارسال با زمان‌بند';
      await clearFaults();
      const since = await lastRequestId();
      await fault({ endpoint: 'conversation_send', status: 500, count: 3 });
      const key = newKey('alarm');
      const queuedAt = Date.now();
      const item = await send(own.handle, text, key);
      assert.equal(item.state, 'waiting', JSON.stringify(item));
      assert.equal(item.reason, 'divar_unavailable');
      assert.equal(item.attempts, 1);
      const cid = own.chat.conversation_id;
      assert.deepEqual((await requestsSince(since, { endpoint: 'conversation_send', cid })).map((c) => c.status), [500, 500, 500]);

      const delivered = await pollUntil(async () => (await simMessages(cid, text)).length === 1, { timeoutMs: RETRY_BASE_MS + 10_000 });
      assert.ok(delivered, 'the alarm sent it');
      const calls = await requestsSince(since, { endpoint: 'conversation_send', cid });
      assert.equal(calls.length, 4, 'one more call, by the alarm');
      assert.ok(calls[3].at_ms - queuedAt >= RETRY_BASE_MS - 200, `not before it was due (${calls[3].at_ms - queuedAt} ms)`);
      const listed = (await listItems(own.handle)).find((i) => i.id === item.id);
      assert.equal(listed.state, 'sent');
      assert.equal(listed.attempts, 2);

      // The same key again never sends it twice.
      const replay = await send(own.handle, text, key);
      assert.equal(replay.state, 'sent');
      await sleep(RETRY_BASE_MS);
      assert.equal((await simMessages(cid, text)).length, 1);
      assert.equal((await requestsSince(since, { endpoint: 'conversation_send', cid })).filter((c) => c.status === 200).length, 1);
    });

    after(async () => {
      if (sim) await clearFaults().catch(() => {});
    });
  });

  test('every request the worker sent to the simulator passed its OpenAPI checks', async () => {
    const r = await sim.control('GET', '/_sim/requests');
    assert.equal(r.status, 200);
    const all = r.body.requests;
    assert.ok(all.some((q) => q.endpoint === 'conversation_send' && q.status === 200), 'messages were sent');
    assert.ok(all.some((q) => q.status === 412), 'the refused send is checked too');
    const bad = all.filter((q) => q.valid !== true || (q.violations && q.violations.length > 0));
    assert.deepEqual(bad.map((q) => ({ endpoint: q.endpoint, path: q.path, violations: q.violations })), []);
  });
});
