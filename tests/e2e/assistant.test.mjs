// The seller's assistant end to end: the built worker under wrangler dev against divar-sim,
// counted in the simulator's chats and request log, never in the worker's answers alone.
//
//   1. a seller turns it on from their post's chat, consents to the post's scopes at the sim's
//      consent page, and the worker subscribes to NEW_MESSAGE_ON_POST with metadata leading
//      back to them; two buyers on the post get a greeting and the seller's answers, one reply
//      per message that deserves one, silence otherwise, and none once the seller writes;
//      the seller's page lists both conversations with their last messages;
//   2. the post's events delivered twice in a row, three times at once, and reordered change
//      nothing: the replies of one ordered delivery;
//   3. a token refresh (Divar drops the access token early, a reply's send refreshes it) is
//      followed by a new subscription with the new token: after the old token's grace period
//      is over, buyers' messages still arrive and are answered;
//   4. the seller revokes the app's access at Divar: grants, settings and the post's list go,
//      a late event gets no reply, and a new launch finds the assistant off.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { addFault, clearFaults, flaggedRequests, jsonCall, launchViaSim, pollUntil, simMessages, simRequests, sleep, startStack } from '../lib/harness.mjs';

const REPLY_BOUND_MS = 15_000;
const SETTLE_MS = 1_500;
const plain = (text) => text.replace(/\u200F/g, '');

const SETTINGS = {
  enabled: true,
  greeting: 'سلام، ممنون از پیامتان.',
  answers: { price: 'قیمت مقطوع است: ۱۲ میلیون تومان.', available: 'بله، هنوز موجود است.', where: 'تهران، ونک.', when: 'عصرها از ساعت ۵ هستم.' },
  hours: null,
  away: '',
};

describe("the seller's assistant against divar-sim", () => {
  let stack;
  let sim;
  let worker;

  before(async () => {
    stack = await startStack();
    sim = stack.sim;
    worker = stack.worker;
  });

  after(async () => {
    if (sim) {
      await sim.control('DELETE', '/_sim/event-faults').catch(() => {});
      await sim.control('DELETE', '/_sim/faults').catch(() => {});
    }
    if (stack) await stack.stop();
  });

  const api = (handle, method, path, body) =>
    jsonCall(`${worker.base}${path}`, { method, body, headers: { authorization: `Bearer ${handle}`, 'content-type': 'application/json' } });

  /** A new post with one buyer's chat; the seller opens the add-on from it. */
  async function newPost() {
    const { chat, handle } = await launchViaSim(sim, { side: 'seller' });
    return { chat, seller: chat.seller_user_id, handle };
  }

  /** Another buyer's chat on the same post. */
  async function anotherBuyer(chat) {
    const c = await sim.control('POST', '/_sim/chats', { post_token: chat.post_token });
    assert.equal(c.status, 200, c.text);
    assert.notEqual(c.body.conversation_id, chat.conversation_id);
    return c.body;
  }

  /** Saves the settings, then consents at the sim's consent page as the seller. */
  async function turnOn(handle, seller) {
    const saved = await api(handle, 'POST', '/api/assistant/settings', { idempotency_key: `k-${Date.now()}-settings`, settings: SETTINGS });
    assert.equal(saved.status, 200, saved.text);
    assert.equal(saved.body.status, 'needs_consent');
    const start = await api(handle, 'POST', '/api/oauth/start', { purpose: 'assistant' });
    assert.equal(start.status, 200, start.text);
    const url = new URL(start.body.authorize_url);
    const page = await fetch(url, { redirect: 'manual' });
    await page.arrayBuffer();
    assert.equal(page.status, 200);
    const pending = await sim.control('GET', '/_sim/oauth/authorizations?status=pending');
    const auth = pending.body.authorizations.find((a) => a.state === url.searchParams.get('state'));
    assert.ok(auth, 'a pending authorization for our state');
    const d = await sim.control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/approve`, { user_id: seller });
    assert.equal(d.status, 200, d.text);
    const cb = await jsonCall(d.body.redirect_url, {});
    const location = cb.headers.get('location') || '';
    assert.equal(cb.status, 303, cb.text);
    const frag = new URLSearchParams(location.split('#')[1] || '');
    assert.equal(frag.get('oauth'), 'granted', location);
    assert.equal(frag.get('for'), 'assistant', location);
    return { handle: frag.get('h'), scopes: url.searchParams.get('scope') };
  }

  const say = async (cid, side, text) => {
    const r = await sim.control('POST', `/_sim/chats/${encodeURIComponent(cid)}/messages`, { side, text });
    assert.equal(r.status, 200, r.text);
    return r.body;
  };

  /** The app's messages in a chat (sent on the seller's behalf), as text without RLMs. */
  const appMessages = async (cid) => (await simMessages(sim, cid)).filter((m) => m.sender_type === 'BOT').map((m) => plain(m.text));

  /** Waits for `n` app messages in `cid`, then watches a little longer; returns them all. */
  async function replies(cid, n) {
    const reached = await pollUntil(async () => (await appMessages(cid)).length >= n, { timeoutMs: REPLY_BOUND_MS, everyMs: 100 });
    await sleep(SETTLE_MS);
    const got = await appMessages(cid);
    assert.ok(reached, `expected ${n} reply(ies) in ${cid} within ${REPLY_BOUND_MS} ms, got ${got.length}: ${JSON.stringify(got)}`);
    return got;
  }

  const subscriptionsOf = async (user) =>
    (await sim.control('GET', '/_sim/subscriptions')).body.subscriptions.filter((s) => s.user_id === user);

  test('1. two buyers get a greeting and the seller\'s answers until the seller writes; the page lists both', async () => {
    const { chat, seller, handle } = await newPost();
    const off = await api(handle, 'GET', '/api/assistant');
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.status, 'off');
    const buyerView = await api((await launchViaSim(sim, { side: 'buyer', chat })).handle, 'GET', '/api/assistant');
    assert.deepEqual(buyerView.body, { available: false, why: 'not_seller' });

    const { handle: back, scopes } = await turnOn(handle, seller);
    assert.equal(
      scopes,
      `CHAT_POST_CONVERSATIONS_READ.${chat.post_token} CHAT_POST_CONVERSATIONS_MESSAGE_SEND.${chat.post_token} offline_access NOTIFICATION_ACCESS_REVOCATION USER_ID`,
    );
    const subs = await subscriptionsOf(seller);
    assert.equal(subs.length, 1, JSON.stringify(subs));
    assert.equal(subs[0].event_type, 'NEW_MESSAGE_ON_POST');
    assert.equal(subs[0].event_resource_id, chat.post_token);
    assert.equal(subs[0].metadata.post, chat.post_token);
    assert.match(subs[0].metadata.seller, /^[0-9a-f]{64}$/, 'a digest, not the user id');
    assert.equal((await api(back, 'GET', '/api/assistant')).body.status, 'on');

    const second = await anotherBuyer(chat);
    const first = chat.conversation_id;
    const sent = await say(first, 'buyer', 'سلام، قیمت آخرش چنده؟');
    assert.deepEqual(sent.deliveries.map((d) => d.status), [200], 'one event, acknowledged');
    let got = await replies(first, 1);
    assert.equal(got.length, 1, JSON.stringify(got));
    assert.ok(got[0].includes('سلام، ممنون از پیامتان.') && got[0].includes('۱۲ میلیون'), got[0]);
    const [reply] = (await simMessages(sim, first)).filter((m) => m.sender_type === 'BOT');
    assert.equal(reply.sender_side, 'SELLER', "on the seller's behalf");
    assert.equal(reply.sender_user_id, seller);

    await say(first, 'buyer', 'رنگش چیه؟');
    await say(second.conversation_id, 'buyer', 'هنوز موجوده؟ کی می‌تونم ببینم؟');
    got = await replies(second.conversation_id, 1);
    assert.equal(got.length, 1);
    assert.ok(got[0].includes('هنوز موجود است') && got[0].includes('عصرها'), got[0]);
    const visitButton = (await simMessages(sim, second.conversation_id)).find((m) => m.sender_type === 'BOT').receiver_buttons;
    assert.equal(visitButton.rows[0].buttons[0].action.open_server_link.data.v, 'propose', 'the buyer is offered the visit');
    assert.equal((await appMessages(first)).length, 1, 'no topic, no reply');

    await say(first, 'seller', 'سلام، بله در خدمتم.');
    await say(first, 'buyer', 'آدرس کجاست؟');
    await say(second.conversation_id, 'buyer', 'آدرس کجاست؟');
    got = await replies(second.conversation_id, 2);
    assert.equal(got.length, 2);
    assert.ok(got[1].includes('ونک') && !got[1].includes('سلام، ممنون'), 'greeted once only');
    assert.equal((await appMessages(first)).length, 1, 'silent once the seller wrote');

    const list = (await api(back, 'GET', '/api/assistant')).body.conversations;
    assert.equal(list.length, 2, JSON.stringify(list));
    const [newest, older] = list;
    assert.equal(older.n, 1);
    assert.equal(older.seller_joined, true);
    assert.equal(older.last_text, 'آدرس کجاست؟');
    assert.equal(newest.n, 2);
    assert.equal(newest.replies, 2);
    assert.ok(JSON.stringify(list).indexOf(first) === -1, 'no conversation ids on the page');
  });

  test('2. duplicated, concurrent and reordered deliveries of the post\'s events: the replies of one ordered delivery', async () => {
    const { chat, seller, handle } = await newPost();
    await turnOn(handle, seller);
    const cid = chat.conversation_id;
    const dup = await sim.control('POST', '/_sim/event-faults', { mode: 'duplicate', copies: 3, count: 1, event_type: 'NEW_MESSAGE' });
    assert.equal(dup.status, 200, dup.text);
    const a = await say(cid, 'buyer', 'قیمت؟');
    assert.equal(a.deliveries.length, 3);
    assert.deepEqual(a.deliveries.map((d) => d.body.outcome), ['answered', 'duplicate', 'duplicate']);
    const con = await sim.control('POST', '/_sim/event-faults', { mode: 'concurrent', copies: 3, count: 1, event_type: 'NEW_MESSAGE' });
    assert.equal(con.status, 200, con.text);
    // The reply to the first message comes back as an event too; the fault takes the next one
    // that is the buyer's.
    await replies(cid, 1);
    const b = await say(cid, 'buyer', 'آدرس کجاست؟');
    const outcomes = b.deliveries.map((d) => d.body.outcome).sort();
    assert.deepEqual(outcomes, ['answered', 'duplicate', 'duplicate'], JSON.stringify(b.deliveries));
    await replies(cid, 2);
    const re = await sim.control('POST', '/_sim/event-faults', { mode: 'reorder', count: 2, event_type: 'NEW_MESSAGE' });
    assert.equal(re.status, 200, re.text);
    await say(cid, 'buyer', 'هنوز موجوده؟');
    await say(cid, 'buyer', 'کی می‌تونم بیام ببینم؟');
    const got = await replies(cid, 4);
    assert.equal(got.length, 4, JSON.stringify(got));
    assert.ok(got[0].includes('سلام، ممنون') && got[0].includes('۱۲ میلیون'));
    assert.ok(got[1].includes('ونک'));
    const last = got.slice(2).join('\n');
    assert.ok(last.includes('هنوز موجود است') && last.includes('عصرها'), 'both reordered messages answered');
    assert.equal(got.filter((t) => t.includes('سلام، ممنون')).length, 1, 'greeted once');
    const sends = await simRequests(sim, { endpoint: 'conversation_send', conversationId: cid });
    assert.equal(sends.length, 4, 'one send per reply');
  });

  test('3. a refreshed token is followed by a new subscription, and events keep coming after the old token dies', async () => {
    const { chat, seller, handle } = await newPost();
    await turnOn(handle, seller);
    const cid = chat.conversation_id;
    const [before] = await subscriptionsOf(seller);
    // Divar drops the access token early: the next send gets 401, the worker refreshes and
    // sends again; the new token must carry a new subscription.
    await addFault(sim, { endpoint: 'conversation_send', status: 401, count: 1 });
    await say(cid, 'buyer', 'قیمت؟');
    assert.equal((await replies(cid, 1)).length, 1);
    await clearFaults(sim, 'conversation_send');
    const refreshed = await pollUntil(async () => {
      const subs = await subscriptionsOf(seller);
      return subs.length === 1 && subs[0].id !== before.id;
    }, { timeoutMs: REPLY_BOUND_MS, everyMs: 200 });
    assert.ok(refreshed, `a new subscription: ${JSON.stringify(await subscriptionsOf(seller))}`);
    const tokenCalls = (await sim.control('GET', '/_sim/requests?since=0')).body.requests.filter((r) => r.endpoint === 'subscriptions');
    assert.ok(tokenCalls.length >= 2);

    // Past the old token's grace period: only a subscription made with the new token lives.
    const adv = await sim.control('POST', '/_sim/clock/advance', { seconds: 5 * 60 });
    assert.equal(adv.status, 200, adv.text);
    const sent = await say(cid, 'buyer', 'آدرس کجاست؟');
    assert.equal(sent.deliveries.length, 1, 'the event still reaches the worker');
    assert.equal((await replies(cid, 2)).length, 2);
  });

  test('4. revocation: the grant, the settings and the list go at once; a late event is not answered', async () => {
    const { chat, seller, handle } = await newPost();
    const { handle: back } = await turnOn(handle, seller);
    const cid = chat.conversation_id;
    await say(cid, 'buyer', 'قیمت؟');
    await replies(cid, 1);
    const sub = (await subscriptionsOf(seller))[0];
    const r = await sim.control('POST', '/_sim/users/revoke', { user_id: seller });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.notified, true, 'Divar told the worker (NOTIFICATION_ACCESS_REVOCATION + USER_ID)');
    assert.deepEqual(r.body.deliveries.map((d) => d.status), [200]);
    // An event already on its way when the seller revoked, carrying the old metadata.
    const late = await jsonCall(`${worker.base}/divar/events`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY, 'content-type': 'application/json' },
      body: {
        type: 'NEW_MESSAGE',
        metadata: sub.metadata,
        new_message: {
          id: `late-${Date.now()}`,
          conversation: { id: cid, type: 'POST', post_token: chat.post_token },
          sender: { side: 'BUYER', type: 'HUMAN' },
          type: 'TEXT',
          sent_at: Date.now() * 1000,
          text: 'آدرس کجاست؟',
        },
      },
    });
    assert.equal(late.status, 200, late.text);
    await sleep(SETTLE_MS);
    assert.equal((await appMessages(cid)).length, 1, 'nothing more said for them');
    const view = (await api(back, 'GET', '/api/assistant')).body;
    assert.equal(view.status, 'off');
    assert.deepEqual(view.conversations, []);
  });
  test('5. every call the worker made (sends, subscriptions, the users lookup) passed the OpenAPI with no warning', async () => {
    const all = (await sim.control('GET', '/_sim/requests')).body.requests;
    for (const endpoint of ['conversation_send', 'subscriptions', 'users']) {
      assert.ok(all.some((q) => q.endpoint === endpoint && q.status === 200), `${endpoint} was called`);
    }
    // The simulator takes fields Divar would ignore, with a warning; ours must carry none.
    assert.deepEqual(await flaggedRequests(sim), []);
  });
});
