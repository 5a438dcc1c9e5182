// The "once" promises, end to end (the built worker under wrangler dev against divar-sim),
// counted where they land — in the simulator's chat and request log, never in the worker's own
// answers alone:
//
//   1. twenty concurrent submissions with one idempotency key are one chat message;
//   2. concurrent answers to one proposal confirm it once; every other answer is "no longer open";
//   3. a proposal resubmitted with its key after the other side confirmed changes nothing;
//   4. fifteen messages submitted while Divar fails (500s, then 429 + Retry-After, then hangs)
//      and a sixteenth right after it recovers arrive exactly once each, in submission order
//      (nothing ever overtakes), by the conversation's alarm alone (no cron);
//   5. a queued message and the visit state survive a restart of `wrangler dev` on the same
//      persist directory, and the message is delivered once by the alarm after the restart;
//   6. two sends that both find an expired access token cause exactly one refresh call.
//
// Nothing here calls the cron handler: wrangler dev never runs it on its own, so whatever is
// delivered late was delivered by the worker itself (the conversation object's alarm).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  addFault,
  clearFaults,
  faultHits,
  grantViaSim,
  jsonCall,
  launchViaSim,
  pollUntil,
  simMessages,
  simRequests,
  sleep,
  startStack,
} from '../lib/harness.mjs';

/** Per-call timeout for calls to Divar: a hanging Divar costs little test time. */
const API_TIMEOUT_MS = 700;
/** The alarm's first retry (30 s in production), doubling per attempt. */
const RETRY_BASE_MS = 1_000;
const WORKER_VARS = { KENAR_API_TIMEOUT_MS: API_TIMEOUT_MS, KENAR_RETRY_BASE_MS: RETRY_BASE_MS };
/** How long a late delivery may take once Divar has recovered. */
const DELIVERY_BOUND_MS = 60_000;
/** After the expected messages arrived: how long to keep watching for a duplicate. */
const SETTLE_MS = 2_000;

const bearer = (handle) => ({ authorization: `Bearer ${handle}` });
let keySeq = 0;
const newKey = (label) => `e2e-${label}-${Date.now().toString(36)}-${++keySeq}`;
const countBy = (xs) => xs.reduce((m, x) => ({ ...m, [x]: (m[x] || 0) + 1 }), {});

/** The page's calls, bound to one worker. */
function api(worker) {
  return {
    postMessage: (handle, text, idempotency_key) =>
      jsonCall(`${worker.base}/api/messages`, { method: 'POST', headers: bearer(handle), body: { text, idempotency_key }, timeoutMs: 60_000 }),
    listItems: (handle) => jsonCall(`${worker.base}/api/messages`, { headers: bearer(handle) }),
    propose: (handle, slots, idempotency_key, note = '') =>
      jsonCall(`${worker.base}/api/visit/propose`, { method: 'POST', headers: bearer(handle), body: { slots, note, idempotency_key }, timeoutMs: 60_000 }),
    answer: (handle, proposal_id, slot, idempotency_key) =>
      jsonCall(`${worker.base}/api/visit/answer`, { method: 'POST', headers: bearer(handle), body: { proposal_id, slot, idempotency_key }, timeoutMs: 60_000 }),
    visit: (handle) => jsonCall(`${worker.base}/api/visit`, { headers: bearer(handle) }),
  };
}

/** Three times in the coming days, sorted (the worker sorts them: indexes stay the same). */
function threeSlots() {
  const now = Math.floor(Date.now() / 1000);
  return [now + 86_400, now + 2 * 86_400, now + 3 * 86_400];
}

/** The highest id in the sim's request log (for `since`). */
async function lastRequestId(sim) {
  const all = await simRequests(sim);
  return all.reduce((n, q) => Math.max(n, q.id), 0);
}

/** A fresh chat launched by `side` and granted; returns { chat, handle } (the granted handle). */
async function grantedLaunch(stack, side, chat) {
  const l = await launchViaSim(stack.sim, { side, chat });
  const user = side === 'seller' ? l.chat.seller_user_id : l.chat.buyer_user_id;
  const handle = await grantViaSim(stack.worker, stack.sim, l.handle, user);
  return { chat: l.chat, handle, user };
}

/**
 * A chat where the buyer proposed three times (sent) and the seller has granted too; returns
 * { chat, buyer, seller, slots, proposal }.
 */
async function proposedChat(stack, { proposeKey = newKey('prop') } = {}) {
  const { propose } = api(stack.worker);
  const buyer = await grantedLaunch(stack, 'buyer');
  const slots = threeSlots();
  const r = await propose(buyer.handle, slots, proposeKey, 'e2e');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.delivery, 'sent', r.text);
  assert.equal(r.body.proposal.status.kind, 'open');
  const seller = await grantedLaunch(stack, 'seller', buyer.chat);
  return { chat: buyer.chat, buyer: buyer.handle, seller: seller.handle, slots, proposal: r.body.proposal, proposeKey };
}

const isConfirmation = (m) => m.text.startsWith('✅');
const isProposal = (m) => m.text.startsWith('📅');

// -------------------------------------------------------------------------------------------

describe('the once promises against divar-sim (one worker, a fresh chat per test)', () => {
  let stack;

  before(async () => {
    stack = await startStack({ vars: WORKER_VARS });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test('1. twenty concurrent submissions with one idempotency key → one item, one chat message, one send', async () => {
    const { postMessage, listItems } = api(stack.worker);
    const { chat, handle } = await grantedLaunch(stack, 'seller');
    const cid = chat.conversation_id;
    const since = await lastRequestId(stack.sim);
    const text = 'بیست بار، یک پیام';
    const key = newKey('twenty');

    // A slow Divar (300 ms per send, no error) keeps the first send in flight while the others arrive.
    await addFault(stack.sim, { endpoint: 'conversation_send', latency_ms: 300 });
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: 20 }, () => postMessage(handle, text, key)));
    } finally {
      await clearFaults(stack.sim, 'conversation_send');
    }
    assert.deepEqual(answers.map((r) => r.status), Array(20).fill(200), answers.map((r) => r.text).join('\n'));
    const ids = new Set(answers.map((r) => r.body.item.id));
    assert.equal(ids.size, 1, `every answer names the same item (got ${ids.size} ids)`);

    await pollUntil(async () => (await simMessages(stack.sim, cid)).some((m) => m.text === text), { timeoutMs: 10_000 });
    await sleep(SETTLE_MS);
    const inChat = (await simMessages(stack.sim, cid)).filter((m) => m.text === text);
    const sends = await simRequests(stack.sim, { since, endpoint: 'conversation_send', conversationId: cid });
    assert.equal(inChat.length, 1, `chat messages with that text: expected 1, got ${inChat.length}`);
    assert.deepEqual(sends.map((s) => s.status), [200], `conversation_send calls for this chat: ${JSON.stringify(sends.map((s) => s.status))}`);

    const listed = await listItems(handle);
    assert.equal(listed.status, 200, listed.text);
    const mine = listed.body.items.filter((i) => i.text === text);
    assert.equal(mine.length, 1, `the session lists one item for the key (got ${mine.length})`);
    assert.equal(mine[0].id, [...ids][0]);
    assert.equal(mine[0].state, 'sent');
  });

  test('2. concurrent answers to one proposal → one confirmation, the others "no longer open"', async () => {
    const { answer, visit } = api(stack.worker);
    const { chat, buyer, seller, slots, proposal } = await proposedChat(stack);
    const cid = chat.conversation_id;
    const before = await simMessages(stack.sim, cid);
    const since = await lastRequestId(stack.sim);

    const picks = [0, 1, 2, 0, 1, 2];
    const answers = await Promise.all(picks.map((slot) => answer(seller, proposal.id, slot, newKey('answer'))));
    const statuses = answers.map((r) => r.status);
    const winners = answers.map((r, i) => ({ r, slot: picks[i] })).filter(({ r }) => r.status === 200);
    const losers = answers.filter((r) => r.status !== 200);

    await sleep(SETTLE_MS);
    const added = (await simMessages(stack.sim, cid)).slice(before.length);
    const confirmations = added.filter(isConfirmation);
    assert.equal(confirmations.length, 1, `confirmation messages in the chat: expected 1, got ${confirmations.length} (answer statuses ${JSON.stringify(statuses)})`);
    assert.equal(added.length, 1, `messages added to the chat: ${JSON.stringify(added.map((m) => m.text))}`);
    const sends = await simRequests(stack.sim, { since, endpoint: 'conversation_send', conversationId: cid });
    assert.deepEqual(sends.map((s) => s.status), [200], 'one send reached Divar');

    assert.equal(winners.length, 1, `exactly one answer is 200 (statuses ${JSON.stringify(statuses)})`);
    const { r: won, slot } = winners[0];
    assert.equal(won.body.delivery, 'sent', won.text);
    assert.deepEqual(won.body.proposal.status, { kind: 'confirmed', slot, by: 'SUPPLY' });
    for (const r of losers) {
      assert.ok(r.status === 409 || r.status === 422, `a losing answer is 409 or 422, got ${r.status}: ${r.text}`);
      assert.match(r.body?.message || '', /no longer open/, r.text);
    }

    for (const h of [buyer, seller]) {
      const v = await visit(h);
      assert.equal(v.status, 200, v.text);
      assert.equal(v.body.proposal.id, proposal.id);
      assert.deepEqual(v.body.proposal.status, { kind: 'confirmed', slot, by: 'SUPPLY' });
      assert.equal(v.body.proposal.slots[slot].at, slots[slot]);
      assert.equal(v.body.can_answer, false);
    }
    assert.ok(confirmations[0].text.length > 2);
  });

  test('3. a proposal resubmitted with its key after the other side confirmed never reopens or changes the visit', async () => {
    const { answer, propose, visit } = api(stack.worker);
    const { chat, buyer, seller, slots, proposal, proposeKey } = await proposedChat(stack);
    const cid = chat.conversation_id;
    const a = await answer(seller, proposal.id, 1, newKey('answer'));
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.delivery, 'sent', a.text);
    const confirmed = { kind: 'confirmed', slot: 1, by: 'SUPPLY' };
    const seen = await visit(buyer);
    assert.deepEqual(seen.body.proposal.status, confirmed);
    const before = await simMessages(stack.sim, cid);
    assert.equal(before.filter(isProposal).length, 1);
    assert.equal(before.filter(isConfirmation).length, 1);
    const since = await lastRequestId(stack.sim);

    // The buyer's page resubmits the proposal it already sent (a retry after a lost answer),
    // once, then five times at once.
    const again = [await propose(buyer, slots, proposeKey, 'e2e')];
    again.push(...(await Promise.all(Array.from({ length: 5 }, () => propose(buyer, slots, proposeKey, 'e2e')))));

    await sleep(SETTLE_MS);
    for (const [who, h] of [['buyer', buyer], ['seller', seller]]) {
      const v = await visit(h);
      assert.equal(v.status, 200, v.text);
      assert.equal(v.body.proposal.id, proposal.id);
      assert.deepEqual(v.body.proposal.status, confirmed, `${who} sees ${JSON.stringify(v.body.proposal.status)} after the resubmissions`);
      assert.deepEqual(v.body.proposal, seen.body.proposal, `${who}: the visit is unchanged`);
      assert.equal(v.body.can_answer, false, `${who} cannot answer a confirmed visit`);
    }
    const afterMsgs = await simMessages(stack.sim, cid);
    assert.equal(afterMsgs.length, before.length, `no new chat message: ${JSON.stringify(afterMsgs.slice(before.length).map((m) => m.text))}`);
    const sends = await simRequests(stack.sim, { since, endpoint: 'conversation_send', conversationId: cid });
    assert.equal(sends.length, 0, 'nothing was sent to Divar');
    for (const r of again) {
      assert.ok(r.status < 500, `${r.status}: ${r.text}`);
      if (r.status === 200 && r.body.proposal) {
        assert.notEqual(r.body.proposal.status.kind, 'open', `a resubmission answered with an open proposal: ${r.text}`);
      }
    }
  });

  test('4. Divar fails (500, then 429 + Retry-After, then hangs) and recovers → 15 (+1) messages arrive once each, in order, with no cron', async () => {
    const { postMessage, listItems } = api(stack.worker);
    const { chat, handle } = await grantedLaunch(stack, 'seller');
    const cid = chat.conversation_id;
    const since = await lastRequestId(stack.sim);
    const texts = Array.from({ length: 15 }, (_, i) => `پیام ترتیبی ${i + 1} از ۱۵`);
    const phases = [
      { name: '500', spec: { endpoint: 'conversation_send', status: 500 } },
      { name: '429', spec: { endpoint: 'conversation_send', status: 429, retry_after: 1 } },
      { name: 'hang', spec: { endpoint: 'conversation_send', hang: true } },
    ];
    const hits = {};
    const ids = [];
    let recoveredAt;
    try {
      let n = 0;
      for (const phase of phases) {
        await clearFaults(stack.sim, 'conversation_send');
        const rule = await addFault(stack.sim, phase.spec);
        for (let i = 0; i < 5; i++, n++) {
          const r = await postMessage(handle, texts[n], newKey(`order${n + 1}`));
          assert.equal(r.status, 200, `message ${n + 1}: ${r.text}`);
          assert.notEqual(r.body.item.state, 'sent', `message ${n + 1} cannot have gone while Divar fails`);
          ids.push(r.body.item.id);
        }
        // Let the worker meet this failure (inline or by its alarm) before the next one.
        await pollUntil(async () => (await faultHits(stack.sim, rule.id)) >= 1, { timeoutMs: 15_000 });
        hits[phase.name] = await faultHits(stack.sim, rule.id);
      }
      assert.equal(new Set(ids).size, 15, 'fifteen different items');
      assert.equal((await simMessages(stack.sim, cid)).filter((m) => texts.includes(m.text)).length, 0, 'nothing in the chat while Divar fails');
    } finally {
      await clearFaults(stack.sim, 'conversation_send');
      recoveredAt = Date.now();
    }
    for (const phase of phases) assert.ok(hits[phase.name] >= 1, `the ${phase.name} fault was met (hits ${JSON.stringify(hits)})`);

    // Divar is back: a 16th message, submitted at once, must not overtake the fifteen waiting.
    texts.push('پیام ۱۶، پس از بهبود');
    const late = await postMessage(handle, texts[15], newKey('order16'));
    assert.equal(late.status, 200, late.text);

    // What has arrived must always be a prefix of the submission order.
    const arrived = async () => (await simMessages(stack.sim, cid)).filter((m) => texts.includes(m.text)).map((m) => m.text);
    let overtaken = null;
    const all = await pollUntil(async () => {
      const got = await arrived();
      if (!overtaken && got.some((t, i) => t !== texts[i])) overtaken = got.map((t) => texts.indexOf(t) + 1);
      return got.length >= texts.length;
    }, { timeoutMs: DELIVERY_BOUND_MS, everyMs: 300 });
    const tookMs = Date.now() - recoveredAt;
    await sleep(SETTLE_MS);
    const got = await arrived();
    const dupes = Object.entries(countBy(got)).filter(([, c]) => c > 1);
    assert.equal(overtaken, null, `out of submission order: the chat showed messages ${JSON.stringify(overtaken)} (by submission number)`);
    assert.ok(all, `within ${DELIVERY_BOUND_MS / 1000} s of recovery, ${got.length} of 16 arrived (no cron was run): ${JSON.stringify(got.map((t) => texts.indexOf(t) + 1))}`);
    assert.deepEqual(dupes, [], 'each exactly once');
    assert.deepEqual(got, texts, 'in submission order');
    const ok = (await simRequests(stack.sim, { since, endpoint: 'conversation_send', conversationId: cid })).filter((s) => s.status === 200);
    assert.equal(ok.length, 16, 'one accepted send per message');
    const listed = await listItems(handle);
    const states = listed.body.items.filter((i) => texts.includes(i.text)).map((i) => i.state);
    assert.deepEqual(countBy(states), { sent: 16 }, `the page lists all 16 as sent (took ${tookMs} ms)`);
  });

  test('6. two sends that find one expired grant → both delivered, exactly one refresh call', async () => {
    const { postMessage } = api(stack.worker);
    const first = await grantedLaunch(stack, 'seller');
    const cid = first.chat.conversation_id;
    // A second launch of the same person in the same chat: a second session, the same grant.
    const second = await launchViaSim(stack.sim, { side: 'seller', chat: first.chat });
    const warm = await postMessage(second.handle, 'گرم کردن', newKey('warm'));
    assert.equal(warm.status, 200, warm.text);
    assert.equal(warm.body.item.state, 'sent', 'the second session uses the same grant');

    await clearFaults(stack.sim, 'token');
    // The sim does not log token calls under /_sim/requests: a pass-through rule counts them.
    // Its latency keeps a refresh in flight long enough for a second one to race it.
    const probe = await addFault(stack.sim, { endpoint: 'token', latency_ms: 400 });
    try {
      const exp = await stack.sim.control('POST', '/_sim/users/expire-tokens', { user_id: first.user });
      assert.equal(exp.status, 200, exp.text);
      assert.ok(exp.body.expired >= 1, exp.text);
      const texts = ['پس از انقضا، اول', 'پس از انقضا، دوم'];
      const answers = await Promise.all([
        postMessage(first.handle, texts[0], newKey('exp1')),
        postMessage(second.handle, texts[1], newKey('exp2')),
      ]);
      assert.deepEqual(answers.map((r) => r.status), [200, 200], answers.map((r) => r.text).join('\n'));
      const both = await pollUntil(async () => {
        const msgs = await simMessages(stack.sim, cid);
        return texts.every((t) => msgs.some((m) => m.text === t));
      }, { timeoutMs: 15_000 });
      await sleep(SETTLE_MS);
      const msgs = await simMessages(stack.sim, cid);
      assert.ok(both, `both delivered: ${JSON.stringify(texts.map((t) => msgs.filter((m) => m.text === t).length))}`);
      assert.deepEqual(texts.map((t) => msgs.filter((m) => m.text === t).length), [1, 1], 'each once');
      const refreshes = await faultHits(stack.sim, probe.id);
      assert.equal(refreshes, 1, `calls to the token endpoint after the expiry: expected 1, got ${refreshes}`);
      const tokens = await stack.sim.control('GET', `/_sim/tokens?user_id=${encodeURIComponent(first.user)}`);
      assert.ok(tokens.body.tokens.some((t) => t.valid), 'the refreshed token is valid');
    } finally {
      await clearFaults(stack.sim, 'token');
    }
  });
});

describe('state and queued messages survive a wrangler dev restart (same persist directory)', () => {
  let stack;

  before(async () => {
    stack = await startStack({ vars: WORKER_VARS });
  });

  after(async () => {
    if (stack) await stack.stop();
  });

  test('5. a message queued while Divar fails is delivered once by the alarm after a restart; the visit state is unchanged', async () => {
    const { answer, listItems, postMessage, visit } = api(stack.worker);
    const { chat, buyer, seller, proposal } = await proposedChat(stack);
    const cid = chat.conversation_id;
    const a = await answer(seller, proposal.id, 2, newKey('answer'));
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.delivery, 'sent', a.text);
    const beforeVisit = { buyer: (await visit(buyer)).body, seller: (await visit(seller)).body };
    assert.deepEqual(beforeVisit.buyer.proposal.status, { kind: 'confirmed', slot: 2, by: 'SUPPLY' });

    const text = 'در صف، پیش از راه‌اندازی دوباره';
    const since = await lastRequestId(stack.sim);
    const rule = await addFault(stack.sim, { endpoint: 'conversation_send', status: 500 });
    let restartedAt;
    try {
      const q = await postMessage(seller, text, newKey('restart'));
      assert.equal(q.status, 200, q.text);
      assert.equal(q.body.item.state, 'waiting', q.text);
      const itemId = q.body.item.id;
      assert.ok((await faultHits(stack.sim, rule.id)) >= 1);

      await stack.worker.restart({
        whileDown: async () => {
          const down = await fetch(`${stack.worker.base}/healthz`).then(() => 'up', () => 'down');
          assert.equal(down, 'down', 'no worker while restarting');
        },
      });
      restartedAt = Date.now();
      assert.equal((await simMessages(stack.sim, cid)).filter((m) => m.text === text).length, 0, 'not delivered while Divar fails');
      await clearFaults(stack.sim, 'conversation_send');

      // Only the simulator is watched: no request to the worker may carry the message out.
      const delivered = await pollUntil(async () => (await simMessages(stack.sim, cid)).some((m) => m.text === text), {
        timeoutMs: DELIVERY_BOUND_MS,
        everyMs: 500,
      });
      await sleep(SETTLE_MS);
      const inChat = (await simMessages(stack.sim, cid)).filter((m) => m.text === text);
      assert.ok(delivered, `the queued message arrived within ${DELIVERY_BOUND_MS / 1000} s after the restart (no cron)`);
      assert.equal(inChat.length, 1, `exactly once (got ${inChat.length})`);
      const ok = (await simRequests(stack.sim, { since, endpoint: 'conversation_send', conversationId: cid })).filter((s) => s.status === 200);
      assert.equal(ok.length, 1, 'one accepted send');

      // Handles signed before the restart still work, and the state is what it was.
      const listed = await listItems(seller);
      assert.equal(listed.status, 200, listed.text);
      assert.equal(listed.body.items.find((i) => i.id === itemId)?.state, 'sent', listed.text);
      for (const who of ['buyer', 'seller']) {
        const v = await visit(who === 'buyer' ? buyer : seller);
        assert.equal(v.status, 200, v.text);
        assert.deepEqual(v.body.proposal, beforeVisit[who].proposal, `${who}: the visit survived the restart`);
        for (const k of ['side', 'can_propose', 'can_answer', 'can_cancel']) assert.equal(v.body[k], beforeVisit[who][k], `${who}.${k}`);
      }
    } finally {
      await clearFaults(stack.sim, 'conversation_send');
    }
    assert.ok(restartedAt);
  });
});
