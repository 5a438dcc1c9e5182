// The app's bot in headless Chromium, driven through the simulator's chat UI the way a person
// would use Divar: open a person's bot pane, write «بازی دوز بی‌نقص», and play a whole game by
// tapping the board's cells in the pane (any free cell each time) until it ends. The perfect
// level never loses: the game ends in a draw or the bot's win. Every tap shows a toast, and the
// board in the pane is redrawn after every move; the pane's text reads right to left.
// Screenshots go to tests/artifacts/; KENAR_UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { artifactPath, flaggedRequests, launchBrowser, pollUntil, ROOT, simMessages, simRequests, startStack } from '../lib/harness.mjs';

const DOCS = path.join(ROOT, 'docs', 'screenshots');
const X = '❌';
const O = '⭕';
const EMPTY = '⬜';
const RLM = '\u200F';
const LINES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];
/** A person's taps, in the order a casual player tries cells (centre, corners, edges). */
const PREFERENCE = [4, 0, 2, 6, 8, 1, 3, 5, 7];
const plain = (text) => text.replace(/\u200F/g, '');

function winner(board) {
  for (const [a, b, c] of LINES) {
    if (board[a] !== EMPTY && board[a] === board[b] && board[b] === board[c]) return board[a];
  }
  return null;
}

describe('the bot\'s tic-tac-toe through the simulator\'s chat UI', () => {
  let stack;
  let browser;
  let context;
  let chatPage;
  let user;
  let conversationId;
  const pageErrors = [];

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1100, height: 800 }, locale: 'fa-IR' });
    chatPage = await context.newPage();
    chatPage.on('pageerror', (e) => pageErrors.push(String(e)));
    await chatPage.goto(`${stack.sim.base}/`, { waitUntil: 'load' });
    const count = async () => (await stack.sim.control('GET', '/_sim/chats')).body.chats.length;
    const before = await count();
    await chatPage.click('#new-chat');
    assert.ok(await pollUntil(async () => (await count()) === before + 1, { timeoutMs: 10_000, everyMs: 100 }), 'a new chat');
    const chats = (await stack.sim.control('GET', '/_sim/chats')).body.chats;
    const chat = chats[chats.length - 1];
    await chatPage.waitForFunction((cid) => document.querySelector('#chat-select').value === cid, chat.conversation_id);
    user = chat.buyer_user_id;
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
  });

  // ---------------------------------------------------------------------------------------
  // helpers

  /** The bot's messages as the pane shows them: text and the captions of each button row. */
  const paneBotMessages = () =>
    chatPage.$$eval('.bot-pane .msgs .msg:not(.mine)', (ms) =>
      ms.map((m) => ({
        text: m.querySelector('.text').textContent,
        rows: [...m.querySelectorAll('.grid .row')].map((r) => [...r.querySelectorAll('button')].map((b) => b.textContent)),
      })),
    );

  /** The nine captions of a message's board, or null when it shows no board. */
  function boardOf(m) {
    if (m.rows.length !== 3 || m.rows.some((r) => r.length !== 3)) return null;
    const flat = m.rows.flat();
    return flat.every((c) => [X, O, EMPTY].includes(c)) ? flat : null;
  }

  /** Waits until the pane shows `n` bot messages; returns them. */
  async function paneWaitFor(n, what) {
    await chatPage.waitForFunction((k) => document.querySelectorAll('.bot-pane .msgs .msg:not(.mine)').length >= k, n, { timeout: 15_000 }).catch(() => {});
    const msgs = await paneBotMessages();
    assert.ok(msgs.length >= n, `${what}: the pane shows ${msgs.length} bot message(s), expected ${n}`);
    return msgs;
  }

  async function hideToast() {
    await chatPage.evaluate(() => {
      document.querySelector('#toast').hidden = true;
      document.querySelector('#toast').textContent = '';
    });
  }

  /** The toast's text once it shows. */
  async function toast() {
    await chatPage.waitForFunction(() => {
      const t = document.querySelector('#toast');
      return t && !t.hidden && t.textContent.trim() !== '';
    }, null, { timeout: 15_000 });
    return chatPage.textContent('#toast');
  }

  function toDocs(file, name) {
    assert.ok(statSync(file).size < 150_000, `${name} is ${statSync(file).size} bytes`);
    if (process.env.KENAR_UPDATE_SCREENSHOTS !== '1') return;
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(file, path.join(DOCS, name));
  }

  // ---------------------------------------------------------------------------------------

  let game; // { final, human, moves }

  test('1. «بازی دوز بی‌نقص» in the bot pane, then a whole game by tapping cells: a toast per tap, the board redrawn per move, never a human win', async () => {
    await chatPage.click('.side[data-side=buyer] .bot');
    await chatPage.waitForSelector('.bot-pane:not([hidden])');
    assert.equal((await chatPage.textContent('.bot-pane h2 .uid')).trim(), user);
    conversationId = (await stack.sim.control('POST', '/_sim/bot/conversations', { user_id: user })).body.conversation_id;
    const sinceReq = (await simRequests(stack.sim)).reduce((n, q) => Math.max(n, q.id), 0);

    await chatPage.fill('.bot-pane .compose input', 'بازی دوز بی‌نقص');
    await chatPage.click('.bot-pane .compose button');
    await chatPage.locator('.bot-pane .msgs .msg.mine', { hasText: 'بازی دوز بی‌نقص' }).waitFor({ timeout: 10_000 });
    let msgs = await paneWaitFor(1, 'the first board');
    assert.equal(msgs.length, 1, 'one reply to one message');
    let current = msgs[0];
    let board = boardOf(current);
    assert.ok(board, `a board of nine cells: ${JSON.stringify(current)}`);
    const human = current.text.includes(`(${X})`) ? X : O;
    const bot = human === X ? O : X;
    assert.ok(current.text.includes(`(${human})`), current.text);
    assert.equal(board.filter((c) => c === EMPTY).length, human === X ? 9 : 8, 'the person starts the first game');
    await chatPage.locator('.bot-pane').screenshot({ path: artifactPath('bot-01-first-board.png') });

    const toasts = [];
    let moves = 0;
    while (board) {
      assert.ok(moves < 5, 'a game has at most five moves by one side');
      const cell = PREFERENCE.find((i) => board[i] === EMPTY);
      assert.notEqual(cell, undefined, `a free cell on ${board.join('')}`);
      const before = (await paneBotMessages()).length;
      await hideToast();
      await chatPage
        .locator('.bot-pane .msgs .msg:not(.mine)')
        .last()
        .locator('.grid .row')
        .nth(Math.floor(cell / 3))
        .locator('button')
        .nth(cell % 3)
        .click();
      const shown = await toast();
      toasts.push(shown);
      moves++;
      msgs = await paneWaitFor(before + 1, `the board after move ${moves}`);
      assert.equal(msgs.length, before + 1, `one new message per move (move ${moves})`);
      const next = msgs[msgs.length - 1];
      assert.match(shown, /[\u0600-\u06FF]/, `a Persian toast: ${shown}`);
      assert.equal(shown, plain(next.text.split('\n')[0]), 'the toast says what the new board says');
      const nextBoard = boardOf(next);
      if (nextBoard) {
        // Still playing: the person's mark where they tapped, and the bot's answer.
        assert.equal(nextBoard[cell], human, `move ${moves}: the tapped cell is the person's`);
        const filled = (b) => b.filter((c) => c !== EMPTY).length;
        assert.equal(filled(nextBoard), filled(board) + 2, `move ${moves}: the person's move and the bot's, ${board.join('')} → ${nextBoard.join('')}`);
        assert.ok(board.every((c, i) => c === EMPTY || nextBoard[i] === c), 'no mark moves or disappears');
        assert.equal(winner(nextBoard), null);
      }
      current = next;
      board = nextBoard;
    }

    // Over: the final board as text, and the menu to play again.
    const lines = current.text.split('\n');
    assert.deepEqual(lines.filter((l) => !l.startsWith(RLM)), [], `every line right to left: ${JSON.stringify(current.text)}`);
    const finalBoard = lines.map(plain).filter((l) => /^[❌⭕⬜]{3}$/u.test(l)).flatMap((l) => [...l]);
    assert.equal(finalBoard.length, 9, `the final board as text: ${current.text}`);
    const result = winner(finalBoard);
    assert.notEqual(result, human, `the person won against the perfect level: ${finalBoard.join('')}`);
    assert.ok(!current.text.includes('بردید'), current.text);
    if (result === bot) assert.match(lines[0], /ربات برد/);
    else {
      assert.equal(finalBoard.filter((c) => c === EMPTY).length, 0, 'a draw fills the board');
      assert.match(lines[0], /مساوی/);
    }
    assert.deepEqual(current.rows, [['دوز آسان', 'دوز متوسط', 'دوز بی‌نقص'], ['راهنما']], 'the menu');
    assert.equal(toasts.length, moves, 'one toast per tap');

    // The simulator agrees with the pane: one bot send per board, one answered tap per move.
    const stored = (await simMessages(stack.sim, conversationId)).filter((m) => m.sender_type === 'BOT');
    assert.deepEqual(stored.map((m) => m.text), (await paneBotMessages()).map((m) => m.text));
    const sends = await simRequests(stack.sim, { since: sinceReq, endpoint: 'bot_send', conversationId });
    assert.deepEqual(sends.map((s) => s.status), Array(moves + 1).fill(200));
    const taps = (await stack.sim.control('GET', '/_sim/deliveries?kind=dynamic_action')).body.deliveries.filter(
      (d) => d.request_body.conversation_id === conversationId,
    );
    assert.deepEqual(taps.map((d) => d.status), Array(moves).fill(200));

    const shot = artifactPath('bot-02-game-over.png');
    await chatPage.locator('.bot-pane').screenshot({ path: shot });
    toDocs(shot, 'bot-1-game.png');
    game = { final: current, human, moves, result: result === bot ? 'bot' : 'draw' };
  });

  test('2. the pane reads right to left: rtl direction, a right-to-left mark opening every line, the first word on the right', async () => {
    assert.ok(game, 'a game was played');
    const r = await chatPage.evaluate(() => {
      const pane = document.querySelector('.bot-pane .msgs');
      const out = { pane: getComputedStyle(pane).direction, bubbles: [] };
      for (const m of pane.querySelectorAll('.msg:not(.mine)')) {
        const t = m.querySelector('.text');
        out.bubbles.push({ dir: getComputedStyle(m).direction, text: t.textContent });
      }
      // The last message's first line («ربات برد…» / «مساوی شد…»): where its first and last
      // words are drawn. Right to left, the first word is the rightmost.
      const last = [...pane.querySelectorAll('.msg:not(.mine) .text')].pop();
      const node = last.firstChild;
      const line = node.textContent.split('\n')[0];
      const words = [...line.matchAll(/[\u0600-\u06FF\u200C]+/g)];
      const rect = (w) => {
        const range = document.createRange();
        range.setStart(node, w.index);
        range.setEnd(node, w.index + w[0].length);
        const b = range.getBoundingClientRect();
        return { left: b.left, right: b.right, top: b.top };
      };
      out.first = { word: words[0][0], ...rect(words[0]) };
      out.last = { word: words[words.length - 1][0], ...rect(words[words.length - 1]) };
      return out;
    });
    assert.equal(r.pane, 'rtl');
    assert.ok(r.bubbles.length >= game.moves + 1, JSON.stringify(r.bubbles.length));
    for (const b of r.bubbles) {
      assert.equal(b.dir, 'rtl');
      const bad = b.text.split('\n').filter((l) => !l.startsWith(RLM));
      assert.deepEqual(bad, [], `lines without a leading U+200F: ${JSON.stringify(b.text)}`);
    }
    assert.ok(Math.abs(r.first.top - r.last.top) < 4, `the headline is one line: ${JSON.stringify(r)}`);
    assert.ok(r.first.left > r.last.right, `«${r.first.word}» is drawn right of «${r.last.word}»: ${JSON.stringify(r)}`);
    assert.deepEqual(pageErrors, [], 'no page error in the chat UI');
  });

  test('every call the worker made to the simulator passed the OpenAPI with no warning', async () => {
    assert.ok((await simRequests(stack.sim, { endpoint: 'bot_send' })).length > 0, 'the bot wrote');
    assert.deepEqual(await flaggedRequests(stack.sim), []);
  });
});
