// Divar's events and the app's bot, end to end: the built worker under wrangler dev against
// divar-sim, counted where it lands — the bot sends in the simulator's request log and the
// messages in the person's bot pane — never in the worker's own answers alone:
//
//   1. POST /divar/events checks the identification key: missing and wrong are the same 401,
//      and nothing behind it runs;
//   2. what cannot be read, or is of a type the app does not handle, is acknowledged (200
//      {"ignored": …}), never refused with a 4xx (Divar would redeliver it forever);
//   3. a `/start MY_POST x` from a touchpoint gets exactly one reply: Persian, every line opened
//      by a right-to-left mark, with the menu (three game levels, help);
//   4. one message delivered three times in a row (the sim's `duplicate` fault), three times at
//      once (`concurrent`), and a `reorder`ed batch of several messages → the same replies as
//      one ordered delivery: nothing lost, nothing twice;
//   5. `sent_at` as an RFC 3339 string and `sender.type` USER are still answered;
//   6. with the bot's own messages echoed back (`echo_bot_messages`), nothing loops: the echoes
//      are "own" and the reply count stays put;
//   7. the game's one-tap cells over HTTP: two concurrent taps on two cells of one board are one
//      move, one tap delivered twice is one move, a taken cell / an old board / a finished game
//      get a Persian toast and no message, and the bot opens every other game;
//   8. a revocation (sent by Divar because the consent flow asked for NOTIFICATION_ACCESS_REVOCATION
//      and USER_ID) removes the person's grant: their next send needs consent and calls nobody.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  grantViaSim,
  jsonCall,
  launchViaSim,
  pollUntil,
  simMessages,
  simRequests,
  sleep,
  startStack,
} from '../lib/harness.mjs';

/** How long a reply may take to reach the chat (the object's alarm fires right away). */
const REPLY_BOUND_MS = 15_000;
/** Once the expected replies are there: how long to keep watching for one too many. */
const SETTLE_MS = 1_500;
const RLM = '\u200F';
const EMPTY = '⬜';
const X = '❌';
const O = '⭕';

const countBy = (xs) => xs.reduce((m, x) => ({ ...m, [x]: (m[x] || 0) + 1 }), {});
/** The text without its right-to-left marks: what a toast (which carries none) would say. */
const plain = (text) => text.replace(/\u200F/g, '');

describe('events and the bot against divar-sim (one worker; a fresh person per test)', () => {
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
      // Nothing may stay held or altered for whoever shares this simulator (no one, but cheap).
      await sim.control('DELETE', '/_sim/event-faults').catch(() => {});
    }
    if (stack) await stack.stop();
  });

  // ---------------------------------------------------------------------------------------
  // helpers

  /** POST /divar/events as Divar would; `key: null` sends no Authorization header. */
  function postEvent(body, { key = worker.vars.DIVAR_IDENTIFICATION_KEY, contentType = 'application/json' } = {}) {
    const headers = { 'content-type': contentType };
    if (key !== null) headers.authorization = key;
    return jsonCall(`${worker.base}/divar/events`, { method: 'POST', body, headers });
  }

  /** A new person (each chat the sim makes has a new seller and a new buyer). */
  async function newPerson() {
    const c = await sim.control('POST', '/_sim/chats', {});
    assert.equal(c.status, 200, c.text);
    return c.body.buyer_user_id;
  }

  /** The person writes `text` in their bot chat; returns the sim's answer (conversation, deliveries). */
  async function say(user, text, extra = {}) {
    const r = await sim.control('POST', '/_sim/bot/messages', { user_id: user, text, ...extra });
    assert.equal(r.status, 200, r.text);
    return r.body;
  }

  async function openBot(user) {
    const r = await sim.control('POST', '/_sim/bot/conversations', { user_id: user });
    assert.equal(r.status, 200, r.text);
    return r.body.conversation_id;
  }

  const botMessages = async (cid) => (await simMessages(sim, cid)).filter((m) => m.sender_type === 'BOT');
  const botSends = (cid, since) => simRequests(sim, { since, endpoint: 'bot_send', conversationId: cid });

  async function lastRequestId() {
    const all = await simRequests(sim);
    return all.reduce((n, q) => Math.max(n, q.id), 0);
  }

  async function lastDeliveryId() {
    const r = await sim.control('GET', '/_sim/deliveries');
    return r.body.deliveries.reduce((n, d) => Math.max(n, d.id), 0);
  }

  /** Event deliveries recorded after `since` about conversation `cid`. */
  async function eventDeliveries(since, cid) {
    const r = await sim.control('GET', `/_sim/deliveries?since=${since}&kind=event`);
    assert.equal(r.status, 200, r.text);
    return r.body.deliveries.filter((d) => d.id > since && d.request_body?.new_chatbot_message?.conversation?.id === cid);
  }

  /**
   * Waits until the bot pane holds `n` of the bot's messages, then watches SETTLE_MS longer;
   * returns them all (so a test sees one too many, too).
   */
  async function botReplies(cid, n) {
    const reached = await pollUntil(async () => (await botMessages(cid)).length >= n, { timeoutMs: REPLY_BOUND_MS, everyMs: 100 });
    await sleep(SETTLE_MS);
    const msgs = await botMessages(cid);
    assert.ok(reached, `expected ${n} bot message(s) within ${REPLY_BOUND_MS} ms, got ${msgs.length}: ${JSON.stringify(msgs.map((m) => m.text))}`);
    return msgs;
  }

  /** A reply as the person sees it: its text and buttons (the state stamp `sv` left out). */
  function shape(m) {
    const rows = (m.buttons?.rows || []).map((r) =>
      r.buttons.map((b) => {
        const data = { ...(b.action?.get_dynamic_action?.data || {}) };
        delete data.sv;
        return { caption: b.caption, data };
      }),
    );
    return JSON.stringify({ text: m.text, rows });
  }

  /** The outcomes the worker answered the sim's event deliveries with. */
  const outcomes = (answers) => answers.map((a) => (a.status === 200 ? a.body?.outcome : `status ${a.status}`));

  /** The nine cells of a board message: [{ caption, data }] in cell order, or null if it has no board. */
  function cells(m) {
    const rows = m.buttons?.rows || [];
    const flat = rows.flatMap((r, ri) => r.buttons.map((b, bi) => ({ row: ri, button: bi, caption: b.caption, data: b.action?.get_dynamic_action?.data || {} })));
    if (rows.length !== 3 || flat.length !== 9 || flat.some((c) => c.data.v !== 'move')) return null;
    return flat;
  }

  /** A tap on a message's button through the sim (Divar's client): returns the press result. */
  async function press(message, cell) {
    const r = await sim.control('POST', `/_sim/messages/${encodeURIComponent(message.id)}/press`, { row: cell.row, button: cell.button });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'get_dynamic_action', r.text);
    assert.equal(r.body.status, 200, `the app answered a tap with ${r.body.status}: ${JSON.stringify(r.body.body)}`);
    return r.body;
  }

  /** A tap whose button data we write ourselves, POSTed straight to the app's dynamic-action URL. */
  async function forgedTap(cid, user, data) {
    const r = await jsonCall(`${worker.base}/divar/dynamic-action`, {
      method: 'POST',
      headers: { authorization: worker.vars.DIVAR_IDENTIFICATION_KEY },
      body: { touchpoint: 'CHAT', conversation_id: cid, extra_data: data, user_id: user },
    });
    assert.equal(r.status, 200, r.text);
    return r.body;
  }

  const MENU = [
    [
      { caption: 'دوز آسان', data: { svc: 'ttt', v: 'new', l: 'easy' } },
      { caption: 'دوز متوسط', data: { svc: 'ttt', v: 'new', l: 'medium' } },
      { caption: 'دوز بی‌نقص', data: { svc: 'ttt', v: 'new', l: 'perfect' } },
    ],
    [{ caption: 'راهنما', data: { svc: 'bot', v: 'help' } }],
  ];

  /** Every line of a bot message opens with a right-to-left mark. */
  function assertRtl(text) {
    const lines = text.split('\n');
    const bad = lines.filter((l) => !l.startsWith(RLM));
    assert.deepEqual(bad, [], `lines without a leading U+200F in ${JSON.stringify(text)}`);
    return lines;
  }

  // ---------------------------------------------------------------------------------------

  test('1. a missing and a wrong identification key get the same 401, and nothing is answered', async () => {
    const user = await newPerson();
    const cid = await openBot(user);
    const since = await lastRequestId();
    const envelope = {
      type: 'NEW_CHATBOT_MESSAGE',
      new_chatbot_message: {
        id: `forged-${Date.now()}`,
        conversation: { id: cid, type: 'BOT' },
        sender: { type: 'HUMAN' },
        type: 'TEXT',
        sent_at: Date.now() * 1000,
        text: '/start MY_DIVAR',
      },
    };
    const missing = await postEvent(envelope, { key: null });
    const wrong = await postEvent(envelope, { key: 'not-the-identification-key-0123456789' });
    const empty = await postEvent(envelope, { key: '' });
    assert.equal(missing.status, 401, missing.text);
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal(empty.status, 401, empty.text);
    assert.equal(wrong.text, missing.text, 'the same body for a wrong key as for a missing one');
    assert.equal(empty.text, missing.text);
    assert.equal(wrong.headers.get('content-type'), missing.headers.get('content-type'));

    await sleep(SETTLE_MS);
    assert.deepEqual(await botSends(cid, since), [], 'no bot send after a refused event');
    assert.equal((await botMessages(cid)).length, 0);
    // The key really is all that was wrong: the same envelope with it is answered once.
    const ok = await postEvent(envelope);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.body, { outcome: 'answered' });
    assert.equal((await botReplies(cid, 1)).length, 1);
  });

  test('2. unreadable bodies and unknown types are acknowledged with 200 {"ignored": …}, never a 4xx', async () => {
    const user = await newPerson();
    const cid = await openBot(user);
    const since = await lastRequestId();
    const badId = { type: 'NEW_CHATBOT_MESSAGE', new_chatbot_message: { id: '../etc', conversation: { id: cid }, text: 'سلام' } };
    const cases = [
      ['not JSON', 'not json', 'application/json', 'unreadable'],
      ['an empty body', '', 'application/json', 'unreadable'],
      ['an array', '[]', 'application/json', 'unreadable'],
      ['a truncated object', '{"type": "NEW_CHATBOT_MESSAGE",', 'application/json', 'unreadable'],
      ['a message type without its payload', '{"type":"NEW_CHATBOT_MESSAGE"}', 'application/json', 'unreadable'],
      ['a message with an unsafe id', JSON.stringify(badId), 'application/json', 'unreadable'],
      ['a plain-text body', 'type=NEW_MESSAGE', 'text/plain', 'unreadable'],
      ['an unknown type', '{"type":"SOMETHING_NEW","something_new":{"x":1}}', 'application/json', 'not_handled'],
      ['a type that is not a string', '{"type": 5}', 'application/json', 'not_handled'],
      ['a post update', JSON.stringify({ type: 'POST_UPDATE', post_update: { type: 'RETIRE', post: { token: 'wZC44q5D' } } }), 'application/json', 'not_handled'],
      ['a body over 64 KiB', JSON.stringify({ type: 'NEW_CHATBOT_MESSAGE', pad: 'x'.repeat(100 * 1024) }), 'application/json', 'too_large'],
    ];
    const got = [];
    for (const [what, body, contentType] of cases) {
      const r = await postEvent(body, { contentType });
      got.push([what, r.status, r.body]);
    }
    assert.deepEqual(
      got,
      cases.map(([what, , , why]) => [what, 200, { ignored: why }]),
    );
    await sleep(SETTLE_MS);
    assert.deepEqual(await botSends(cid, since), [], 'nothing ignored was answered');
  });

  test('3. `/start MY_POST x` from a touchpoint → exactly one reply, right to left on every line, with the menu', async () => {
    const user = await newPerson();
    const since = await lastRequestId();
    const r = await sim.control('POST', '/_sim/bot/start', { user_id: user, touchpoint: 'MY_POST', resource_id: 'x' });
    assert.equal(r.status, 200, r.text);
    const cid = r.body.conversation_id;
    assert.equal(r.body.message.text, '/start MY_POST x');
    assert.deepEqual(outcomes(r.body.deliveries), ['answered']);

    const replies = await botReplies(cid, 1);
    assert.equal(replies.length, 1, `bot messages in the pane: ${JSON.stringify(replies.map((m) => m.text))}`);
    const sends = await botSends(cid, since);
    assert.deepEqual(sends.map((s) => [s.status, s.valid, s.path]), [[200, true, `/v1/open-platform/chat/bot/conversations/${cid}/messages`]]);

    const [reply] = replies;
    const lines = assertRtl(reply.text);
    assert.ok(lines.length >= 3, `a greeting and help: ${reply.text}`);
    assert.match(lines[0], /^\u200Fسلام/, 'a Persian greeting first');
    assert.ok(reply.text.includes('آگهی'), `a hint for MY_POST: ${reply.text}`);
    assert.ok(reply.text.includes('راهنما'), `the help: ${reply.text}`);
    assert.deepEqual(JSON.parse(shape(reply)).rows, MENU, 'the menu: three levels, then help');
    for (const b of reply.buttons.rows.flatMap((row) => row.buttons)) {
      assert.deepEqual(Object.keys(b.action), ['get_dynamic_action'], 'one-tap buttons');
    }
  });

  test('4a. one message delivered three times in a row (duplicate) → one reply', async () => {
    const user = await newPerson();
    const cid = await openBot(user);
    const since = await lastRequestId();
    const f = await sim.control('POST', '/_sim/event-faults', { mode: 'duplicate', copies: 3, count: 1, event_type: 'NEW_CHATBOT_MESSAGE' });
    assert.equal(f.status, 200, f.text);
    const sent = await say(user, 'راهنما');
    assert.deepEqual(sent.deliveries.map((d) => d.fault), [1, 2, 3].map((i) => `rule ${f.body.fault.id}: duplicate ${i}/3`), 'the sim POSTed it three times');
    assert.equal(new Set(sent.deliveries.map((d) => d.event_id)).size, 1, 'one envelope');
    assert.deepEqual(outcomes(sent.deliveries), ['answered', 'duplicate', 'duplicate']);

    const replies = await botReplies(cid, 1);
    assert.equal(replies.length, 1, `replies: ${JSON.stringify(replies.map((m) => m.text))}`);
    assert.equal((await botSends(cid, since)).length, 1, 'one bot send');
    assertRtl(replies[0].text);
    assert.ok(replies[0].text.includes('این ربات چه می‌کند'), replies[0].text);
  });

  test('4b. one message delivered three times at once (concurrent) → one reply, one game', async () => {
    const user = await newPerson();
    const cid = await openBot(user);
    const since = await lastRequestId();
    const f = await sim.control('POST', '/_sim/event-faults', { mode: 'concurrent', copies: 3, count: 1, event_type: 'NEW_CHATBOT_MESSAGE' });
    assert.equal(f.status, 200, f.text);
    const sent = await say(user, 'بازی دوز بی‌نقص');
    assert.equal(sent.deliveries.length, 3, JSON.stringify(sent.deliveries));
    assert.ok(sent.deliveries.every((d) => d.fault?.includes('concurrent')), JSON.stringify(sent.deliveries));
    assert.deepEqual(countBy(outcomes(sent.deliveries)), { answered: 1, duplicate: 2 });

    const replies = await botReplies(cid, 1);
    assert.equal(replies.length, 1, `replies: ${JSON.stringify(replies.map((m) => m.text))}`);
    assert.equal((await botSends(cid, since)).length, 1, 'one bot send');
    const board = cells(replies[0]);
    assert.ok(board, `a board: ${shape(replies[0])}`);
    assert.deepEqual(board.map((c) => c.caption), Array(9).fill(EMPTY), 'one new game, the person starts');
  });

  test('4c. a reordered batch of four messages → the same replies as one ordered delivery, none lost, none twice', async () => {
    // Four messages whose replies all differ, so a lost one and a doubled one cannot cancel out.
    const texts = ['سلام', 'راهنما', '/start MY_DIVAR', '/start CHAT c-42'];
    // The oracle: another person gets the same messages once each, in order, with no fault.
    const control = await newPerson();
    for (const t of texts) await say(control, t);
    const controlCid = await openBot(control);
    const expected = (await botReplies(controlCid, texts.length)).map(shape);
    assert.equal(new Set(expected).size, texts.length, 'four different replies');

    const user = await newPerson();
    const cid = await openBot(user);
    const since = await lastRequestId();
    const f = await sim.control('POST', '/_sim/event-faults', { mode: 'reorder', count: texts.length, event_type: 'NEW_CHATBOT_MESSAGE' });
    assert.equal(f.status, 200, f.text);
    const answers = [];
    for (const t of texts) answers.push(await say(user, t));
    // The first three are held; the fourth fills the batch and releases all four, newest first.
    for (const a of answers.slice(0, -1)) assert.deepEqual(a.deliveries.map((d) => d.held), [true], JSON.stringify(a.deliveries));
    const released = answers[answers.length - 1].deliveries;
    assert.deepEqual(
      released.map((d) => d.fault),
      [4, 3, 2, 1].map((arrived, i) => `rule ${f.body.fault.id}: reorder sent ${i + 1}/4 (arrived ${arrived}/4)`),
    );
    assert.deepEqual(outcomes(released), ['answered', 'answered', 'answered', 'answered']);

    const replies = await botReplies(cid, texts.length);
    assert.equal(replies.length, texts.length, `replies: ${JSON.stringify(replies.map((m) => m.text))}`);
    assert.equal((await botSends(cid, since)).length, texts.length, 'one bot send per message');
    const got = replies.map(shape);
    assert.deepEqual([...got].sort(), [...expected].sort(), 'the replies of one ordered delivery');
    // Each message was answered in the order the app received it (newest first here).
    assert.deepEqual(got, [...expected].reverse());
  });

  test('5. `sent_at` as RFC 3339 and `sender.type` USER (sim settings) are still answered', async () => {
    const set = await sim.control('POST', '/_sim/settings', { sent_at_format: 'rfc3339', human_sender_type: 'USER' });
    assert.equal(set.status, 200, set.text);
    try {
      const user = await newPerson();
      const cid = await openBot(user);
      const sinceDelivery = await lastDeliveryId();
      const sent = await say(user, 'راهنما');
      assert.deepEqual(outcomes(sent.deliveries), ['answered']);
      const [d] = await eventDeliveries(sinceDelivery, cid);
      const m = d.request_body.new_chatbot_message;
      assert.equal(typeof m.sent_at, 'string');
      assert.match(m.sent_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
      assert.equal(m.sender.type, 'USER');
      const replies = await botReplies(cid, 1);
      assert.equal(replies.length, 1);
      assert.ok(replies[0].text.includes('این ربات چه می‌کند'), replies[0].text);
    } finally {
      await sim.control('POST', '/_sim/settings', { sent_at_format: 'micros', human_sender_type: 'HUMAN' });
    }
  });

  test('6. the bot\'s own messages echoed back (echo_bot_messages) are "own" and never answered: no loop', async () => {
    const set = await sim.control('POST', '/_sim/settings', { echo_bot_messages: true });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.settings.echo_bot_messages, true);
    try {
      const user = await newPerson();
      const cid = await openBot(user);
      const sinceDelivery = await lastDeliveryId();
      const since = await lastRequestId();
      const echoes = async () => (await eventDeliveries(sinceDelivery, cid)).filter((d) => d.request_body.new_chatbot_message.sender?.type === 'BOT');

      assert.deepEqual(outcomes((await say(user, 'سلام')).deliveries), ['answered']);
      await botReplies(cid, 1);
      assert.deepEqual(outcomes((await say(user, 'بازی دوز آسان')).deliveries), ['answered']);
      const replies = await botReplies(cid, 2);
      // Two replies, each echoed once; wait for the echoes, then watch for anything more.
      await pollUntil(async () => (await echoes()).length >= 2, { timeoutMs: REPLY_BOUND_MS, everyMs: 100 });
      await sleep(3 * SETTLE_MS);
      const echoed = await echoes();
      const finalReplies = await botMessages(cid);
      assert.equal(finalReplies.length, 2, `the reply count stays bounded: ${JSON.stringify(finalReplies.map((m) => m.text))}`);
      assert.equal((await botSends(cid, since)).length, 2, 'two bot sends, no more');
      assert.deepEqual(echoed.map((d) => [d.status, JSON.parse(d.response_body).outcome]), [[200, 'own'], [200, 'own']]);
      assert.deepEqual(
        echoed.map((d) => d.request_body.new_chatbot_message.text),
        replies.map((m) => m.text),
        'the echoes are the replies',
      );
    } finally {
      await sim.control('POST', '/_sim/settings', { echo_bot_messages: false });
    }
  });

  test('7. game taps over HTTP: concurrent taps on two cells are one move; a tap twice is one move; taken, old and finished → toast, no message', async () => {
    const user = await newPerson();
    const start = await say(user, 'بازی دوز بی‌نقص');
    const cid = start.conversation_id;
    assert.deepEqual(outcomes(start.deliveries), ['answered']);
    const [board1] = await botReplies(cid, 1);
    const cells1 = cells(board1);
    assert.ok(cells1, `a board: ${shape(board1)}`);
    assert.deepEqual(cells1.map((c) => c.caption), Array(9).fill(EMPTY));
    assert.deepEqual(cells1.map((c) => c.data.c), ['0', '1', '2', '3', '4', '5', '6', '7', '8']);
    assert.ok(cells1.every((c) => c.data.svc === 'ttt' && c.data.v === 'move' && c.data.sv === cells1[0].data.sv), JSON.stringify(cells1.map((c) => c.data)));
    assertRtl(board1.text);
    assert.ok(board1.text.includes(`(${X})`), `the person plays ${X} and starts: ${board1.text}`);

    // (a) Two concurrent taps on two different cells of the same board: one move.
    let since = await lastRequestId();
    const [ta, tb] = await Promise.all([press(board1, cells1[0]), press(board1, cells1[8])]);
    const [board2, ...more2] = (await botReplies(cid, 2)).slice(1);
    assert.deepEqual(more2, [], 'one new board');
    assert.equal((await botSends(cid, since)).length, 1, 'one bot send for two taps');
    const cells2 = cells(board2);
    assert.ok(cells2, shape(board2));
    const marks2 = countBy(cells2.map((c) => c.caption));
    assert.deepEqual([marks2[X], marks2[O]], [1, 1], `one move by the person, one by the bot: ${cells2.map((c) => c.caption).join('')}`);
    assert.ok((cells2[0].caption === X) !== (cells2[8].caption === X), 'the person\'s mark is in exactly one of the two tapped cells');
    const toasts = [ta.text_message, tb.text_message];
    assert.equal(toasts.filter((t) => t === plain(board2.text)).length, 1, `one tap answered with the new board's headline: ${JSON.stringify(toasts)}`);
    const loser = toasts.find((t) => t !== plain(board2.text));
    assert.match(loser, /قدیمی|در راه است/, `the other tap is told it came too late: ${loser}`);
    assert.notEqual(cells2[0].data.sv, cells1[0].data.sv, 'the new board has a new version');

    // (b) The same tap delivered twice (at once), then a third time: one move.
    const free = cells2.find((c) => c.caption === EMPTY);
    since = await lastRequestId();
    const twice = await Promise.all([press(board2, free), press(board2, free)]);
    const [board3, ...more3] = (await botReplies(cid, 3)).slice(2);
    assert.deepEqual(more3, [], 'one new board for the same tap twice');
    const third = await press(board2, free);
    await sleep(SETTLE_MS);
    assert.equal((await botMessages(cid)).length, 3, 'nothing for the third delivery either');
    assert.equal((await botSends(cid, since)).length, 1, 'one bot send for three deliveries of one tap');
    const cells3 = cells(board3);
    assert.ok(cells3, shape(board3));
    const marks3 = countBy(cells3.map((c) => c.caption));
    assert.deepEqual([marks3[X], marks3[O]], [2, 2], cells3.map((c) => c.caption).join(''));
    assert.equal(cells3[Number(free.data.c)].caption, X, 'the tapped cell is the person\'s');
    assert.ok(twice.some((t) => t.text_message === plain(board3.text)), JSON.stringify(twice.map((t) => t.text_message)));
    for (const t of twice) assert.ok(t.text_message, 'each delivery answered with a toast');
    assert.equal(third.text_message, plain(board3.text), 'a repeated tap gets the first tap\'s answer');

    // (c) A taken cell on the current board, (d) a free cell on an old board: a toast, no message.
    since = await lastRequestId();
    const taken = cells3.find((c) => c.caption === X);
    const tTaken = await press(board3, taken);
    assert.match(tTaken.text_message, /پر است/, tTaken.text_message);
    const stillFree = cells1.find((c) => cells3[Number(c.data.c)].caption === EMPTY);
    const tOld = await press(board1, stillFree);
    assert.match(tOld.text_message, /قدیمی/, tOld.text_message);
    await sleep(SETTLE_MS);
    assert.equal((await botMessages(cid)).length, 3, 'no message for a taken cell or an old board');
    assert.deepEqual(await botSends(cid, since), []);
    for (const t of [tTaken, tOld]) assert.match(t.text_message, /[\u0600-\u06FF]/, 'a Persian toast');

    // (e) The person resigns: the final board as text and the menu; a move on it → toast.
    assert.deepEqual(outcomes((await say(user, 'تسلیم')).deliveries), ['answered']);
    const final = (await botReplies(cid, 4))[3];
    assert.equal(cells(final), null, 'no cells once the game is over');
    const lines = assertRtl(final.text);
    assert.ok(final.text.includes('تسلیم'), final.text);
    const boardLines = lines.map(plain).filter((l) => /^[❌⭕⬜]{3}$/u.test(l));
    assert.deepEqual(boardLines, [0, 3, 6].map((i) => cells3.slice(i, i + 3).map((c) => c.caption).join('')), 'the final board, as text');
    assert.deepEqual(JSON.parse(shape(final)).rows, MENU);
    const finalSv = final.buttons.rows[0].buttons[0].action.get_dynamic_action.data.sv;
    since = await lastRequestId();
    const tOver = await forgedTap(cid, user, { svc: 'ttt', v: 'move', c: stillFree.data.c, sv: finalSv });
    assert.match(tOver.text_message, /تمام شده/, JSON.stringify(tOver));
    await sleep(SETTLE_MS);
    assert.deepEqual(await botSends(cid, since), [], 'no message for a move in a finished game');

    // (f) The next game is the bot's to open: one ❌ on the board, the person plays ⭕.
    assert.deepEqual(outcomes((await say(user, 'بازی جدید')).deliveries), ['answered']);
    const next = (await botReplies(cid, 5))[4];
    const cellsNext = cells(next);
    assert.ok(cellsNext, shape(next));
    assert.deepEqual(countBy(cellsNext.map((c) => c.caption)), { [X]: 1, [EMPTY]: 8 }, 'the bot opened the second game');
    assert.ok(next.text.includes(`(${O})`), next.text);
    assert.equal((await botMessages(cid)).length, 5);
  });

  test('8. revocation: consent flow grant (with the revocation scopes) → revoke → notified → the next send needs consent, nothing sent', async () => {
    const { chat, handle } = await launchViaSim(sim, { side: 'seller' });
    const user = chat.seller_user_id;
    const cid = chat.conversation_id;
    const granted = await grantViaSim(worker, sim, handle, user);
    const tokens = await sim.control('GET', `/_sim/tokens?user_id=${encodeURIComponent(user)}`);
    const live = tokens.body.tokens.filter((t) => t.valid);
    assert.equal(live.length, 1, tokens.text);
    for (const s of ['NOTIFICATION_ACCESS_REVOCATION', 'USER_ID', `CONVERSATION_SEND_MESSAGE.${cid}`]) {
      assert.ok(live[0].scopes.includes(s), `the grant holds ${s}: ${JSON.stringify(live[0].scopes)}`);
    }
    const post = (text, key) =>
      jsonCall(`${worker.base}/api/messages`, { method: 'POST', headers: { authorization: `Bearer ${granted}` }, body: { text, idempotency_key: key }, timeoutMs: 30_000 });
    const before = await post('پیش از لغو دسترسی', `e2e-revoke-before-${Date.now()}`);
    assert.equal(before.status, 200, before.text);
    assert.equal(before.body.item.state, 'sent', 'the grant works');

    const sinceDelivery = await lastDeliveryId();
    const rv = await sim.control('POST', '/_sim/users/revoke', { user_id: user });
    assert.equal(rv.status, 200, rv.text);
    assert.equal(rv.body.notified, true, rv.text);
    assert.ok(rv.body.revoked_grants >= 1, rv.text);
    assert.deepEqual(rv.body.deliveries.map((d) => [d.status, d.body]), [[200, { revoked: true }]]);
    const d = await sim.control('GET', `/_sim/deliveries?since=${sinceDelivery}&kind=event&event_type=USER_ACCESS_REVOCATION`);
    assert.deepEqual(d.body.deliveries.map((x) => x.request_body), [{ type: 'USER_ACCESS_REVOCATION', user_access_revocation: { user_id: user } }]);

    const since = await lastRequestId();
    const text = 'پس از لغو دسترسی';
    const after = await post(text, `e2e-revoke-after-${Date.now()}`);
    assert.equal(after.status, 200, after.text);
    assert.equal(after.body.item.state, 'needs_consent', after.text);
    await sleep(SETTLE_MS);
    const calls = await simRequests(sim, { since, endpoint: 'conversation_send', conversationId: cid });
    assert.deepEqual(calls.map((c) => c.status), [], 'the worker knew: it did not even try Divar');
    assert.equal((await simMessages(sim, cid)).filter((m) => m.text === text).length, 0);
  });
});
