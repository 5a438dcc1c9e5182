// The visit service's one-tap answers over HTTP, against the built worker and divar-sim: Divar's
// dynamic-action call must carry the identification key; a tap by someone who has not granted
// permission opens the page instead (open_server_link with v=answer); a tap on a replaced
// proposal's button is stale and posts nothing; the page API refuses bad slots with 422.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { jsonCall, launchViaSim, startStack } from '../lib/harness.mjs';

const STALE_TOAST = 'این پیشنهاد دیگر معتبر نیست؛ آخرین پیام گفتگو را ببینید.';
const OPEN_PAGE_TOAST = 'برای پاسخ، افزونه را باز کنید.';

describe('visit one-tap answers (dynamic action) over HTTP', () => {
  let stack;
  let sim;
  let worker;
  let seq = 0;

  before(async () => {
    stack = await startStack();
    sim = stack.sim;
    worker = stack.worker;
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  const bearer = (handle) => ({ authorization: `Bearer ${handle}` });
  const key = () => `e2e-visit-${Date.now().toString(36)}-${++seq}`;

  function propose(handle, slots, idempotency_key, note = '') {
    return jsonCall(`${worker.base}/api/visit/propose`, {
      method: 'POST',
      headers: bearer(handle),
      body: { slots, note, idempotency_key },
      timeoutMs: 30_000,
    });
  }

  async function messages(cid) {
    const r = await sim.control('GET', `/_sim/conversations/${encodeURIComponent(cid)}/messages`);
    assert.equal(r.status, 200, r.text);
    return r.body.messages;
  }

  /** The consent round over HTTP as `user_id`; returns the handle Divar sends back. */
  async function grant(handle, user_id) {
    const start = await jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: bearer(handle) });
    assert.equal(start.status, 200, start.text);
    const url = new URL(start.body.authorize_url);
    assert.equal((await fetch(url)).status, 200);
    const pending = await sim.control('GET', '/_sim/oauth/authorizations?status=pending');
    const auth = pending.body.authorizations.find((a) => a.state === url.searchParams.get('state'));
    assert.ok(auth, 'a pending authorization for our state');
    const d = await sim.control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/approve`, { user_id });
    assert.equal(d.status, 200, d.text);
    const cb = await jsonCall(d.body.redirect_url, {});
    assert.equal(cb.status, 303, cb.text);
    const frag = new URLSearchParams(cb.headers.get('location').split('#')[1]);
    assert.equal(frag.get('oauth'), 'granted');
    return frag.get('h');
  }

  /** A chat where the buyer has proposed two times (granted, sent). */
  async function proposedChat() {
    const { chat, handle: first } = await launchViaSim(sim, { side: 'buyer' });
    const now = Math.floor(Date.now() / 1000);
    const slots = [now + 86_400, now + 2 * 86_400];
    const k = key();
    const r1 = await propose(first, slots, k);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.body.delivery, 'needs_consent');
    assert.equal(r1.body.proposal, undefined, 'not in force before it is announced');
    const handle = await grant(first, chat.buyer_user_id);
    const r2 = await propose(handle, slots, k);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.body.delivery, 'sent');
    const msg = (await messages(chat.conversation_id)).find((m) => m.text.startsWith('📅'));
    assert.ok(msg, 'the proposal is in the chat');
    return { chat, handle, slots, proposal: r2.body.proposal, msg };
  }

  test('a dynamic action without the identification key is 401, with a wrong one too', async () => {
    const body = { touchpoint: 'CHAT', extra_data: { v: 'pick', p: 'x', s: '0' } };
    const none = await jsonCall(`${worker.base}/divar/dynamic-action`, { method: 'POST', body });
    assert.equal(none.status, 401, none.text);
    const wrong = await jsonCall(`${worker.base}/divar/dynamic-action`, {
      method: 'POST',
      body,
      headers: { authorization: 'not-the-key-0123456789' },
    });
    assert.equal(wrong.status, 401, wrong.text);
    assert.deepEqual(wrong.body, none.body, 'the same answer for a missing and a wrong key');
  });

  test('a tap by the seller with no grant answers with open_server_link (v=answer) and changes nothing', async () => {
    const { chat, handle, proposal, msg } = await proposedChat();
    const before = (await messages(chat.conversation_id)).length;
    const press = await sim.control('POST', `/_sim/messages/${encodeURIComponent(msg.id)}/press`, { side: 'seller', row: 0, button: 1 });
    assert.equal(press.status, 200, press.text);
    assert.equal(press.body.kind, 'get_dynamic_action');
    assert.equal(press.body.status, 200);
    assert.equal(press.body.text_message, OPEN_PAGE_TOAST);
    assert.deepEqual(press.body.action.open_server_link.data, { v: 'answer', p: proposal.id, s: '1' }, 'the tapped time rides along');
    // Divar follows the action: a launch from the message button, with its data.
    assert.equal(press.body.follow_up.kind, 'open_server_link');
    assert.ok(press.body.follow_up.url.startsWith(`${worker.base}/#h=`), press.body.follow_up.url);
    const sellerHandle = decodeURIComponent(/#h=([^&]+)/.exec(press.body.follow_up.url)[1]);
    const session = await jsonCall(`${worker.base}/api/session`, { headers: bearer(sellerHandle) });
    assert.equal(session.body.context.source, 'CHAT_MESSAGE_ACTION');
    assert.deepEqual(session.body.context.extra_data, { v: 'answer', p: proposal.id, s: '1' });
    const seller = await jsonCall(`${worker.base}/api/visit`, { headers: bearer(sellerHandle) });
    assert.equal(seller.body.can_answer, true);
    assert.equal(seller.body.side, 'SUPPLY');

    assert.equal((await messages(chat.conversation_id)).length, before, 'nothing posted');
    const v = await jsonCall(`${worker.base}/api/visit`, { headers: bearer(handle) });
    assert.equal(v.body.proposal.status.kind, 'open');

    // The proposer tapping a receiver's button of their own proposal is refused plainly.
    const own = await jsonCall(`${worker.base}/divar/dynamic-action`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY },
      body: {
        touchpoint: 'CHAT', conversation_id: chat.conversation_id, post_token: chat.post_token,
        user_side: 'DEMAND', user_id: chat.buyer_user_id, extra_data: { v: 'pick', p: proposal.id, s: '0' },
      },
    });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.body.text_message, 'منتظر پاسخ طرف دیگر گفتگو هستیم.');
  });

  test('a replaced proposal\'s button is stale: a toast, nothing posted; bad slots are 422', async () => {
    const { chat, handle, slots, proposal, msg } = await proposedChat();
    // The proposer changes the times: the first message's buttons now name an old proposal.
    const now = Math.floor(Date.now() / 1000);
    const change = await propose(handle, [now + 3 * 86_400], key());
    assert.equal(change.body.delivery, 'sent', change.text);
    assert.notEqual(change.body.proposal.id, proposal.id);
    const before = (await messages(chat.conversation_id)).length;
    for (const button of [0, 1]) {
      const press = await sim.control('POST', `/_sim/messages/${encodeURIComponent(msg.id)}/press`, { side: 'seller', row: 0, button });
      assert.equal(press.status, 200, press.text);
      assert.equal(press.body.text_message, STALE_TOAST);
      assert.equal(press.body.action ?? null, null, 'no page opened for a stale button');
    }
    const decline = await sim.control('POST', `/_sim/messages/${encodeURIComponent(msg.id)}/press`, { side: 'seller', row: 1, button: 0 });
    assert.equal(decline.body.text_message, STALE_TOAST);
    assert.equal((await messages(chat.conversation_id)).length, before, 'nothing posted');

    // An answer from the page naming the old proposal is refused too.
    const seller = (await launchViaSim(sim, { side: 'seller', chat })).handle;
    const stale = await jsonCall(`${worker.base}/api/visit/answer`, {
      method: 'POST',
      headers: bearer(seller),
      body: { proposal_id: proposal.id, slot: 0, idempotency_key: key() },
    });
    assert.equal(stale.status, 422, stale.text);
    assert.equal(stale.body.error, 'invalid_field');
    assert.match(stale.body.message, /no longer open/);

    for (const bad of [[now - 60], [now + 61 * 86_400], [], [now + 3600, now + 7200, now + 10_800, now + 14_400]]) {
      const r = await propose(handle, bad, key());
      assert.equal(r.status, 422, `${JSON.stringify(bad)}: ${r.text}`);
      assert.equal(r.body.error, 'invalid_field');
    }
    const long = await propose(handle, slots, key(), 'ن'.repeat(201));
    assert.equal(long.status, 422, long.text);
  });
});
