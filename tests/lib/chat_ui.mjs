// Driving divar-sim's chat UI in Chromium the way a person uses Divar: a desktop window with
// both sides of one new chat, and the add-on's pop-up (the window the sim reuses, as Divar's
// web client does) set to a phone's size. Shared by the browser suites of the visit service.

import assert from 'node:assert/strict';
import { sleep } from './harness.mjs';

/** Polls `check` until it holds; throws with `what` after `ms`. */
export async function waitFor(check, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Opens the sim's chat UI in `context` (a browser context at desktop size), creates a new chat
 * and returns what a test needs to act in it:
 * { chatPage, chat, popupFrom(click, viewport), pane(side), messages(), toast(re), problems }.
 * `problems` collects console errors/warnings and page errors of the worker's own pages, and
 * page errors of the chat UI (prefixed `chat UI:`).
 */
export async function openChatUi(stack, context) {
  const problems = [];
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const chatPage = await context.newPage();
  chatPage.on('pageerror', (e) => problems.push(`chat UI: ${e}`));
  await chatPage.goto(`${stack.sim.base}/`, { waitUntil: 'load' });
  const count = async () => (await stack.sim.control('GET', '/_sim/chats')).body.chats;
  const before = (await count()).length;
  await chatPage.click('#new-chat');
  await waitFor(async () => (await count()).length === before + 1, 'a new chat');
  const chats = await count();
  const chat = chats[chats.length - 1];
  await chatPage.waitForFunction((cid) => document.querySelector('#chat-select').value === cid, chat.conversation_id);
  const ours = (url) => url.startsWith(stack.worker.base);

  /** The add-on's window, opened (or reused) by `click` in the chat UI, at `viewport`. */
  async function popupFrom(click, viewport) {
    const [popup] = await Promise.all([context.waitForEvent('page', { timeout: 15_000 }), click()]);
    await popup.setViewportSize(viewport);
    watch(popup);
    await popup.waitForURL((u) => u.href.startsWith(`${stack.worker.base}/`), { timeout: 15_000 });
    await popup.waitForSelector('#view-session:not([hidden])', { timeout: 15_000 });
    return popup;
  }

  function watch(page) {
    page.on('console', (m) => {
      if ((m.type() === 'error' || m.type() === 'warning') && ours(m.location().url || page.url())) problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(String(e)));
  }

  const pane = (side) => chatPage.locator(`.side[data-side=${side}] .msgs`);

  async function messages() {
    const r = await stack.sim.control('GET', `/_sim/conversations/${encodeURIComponent(chat.conversation_id)}/messages`);
    assert.equal(r.status, 200, r.text);
    return r.body.messages;
  }

  /** Waits for the sim's toast to show `re` (it stays 3.5 s) and returns its text. */
  async function toast(re) {
    await chatPage.waitForFunction(
      (src) => {
        const t = document.querySelector('#toast');
        return t && !t.hidden && new RegExp(src).test(t.textContent);
      },
      re.source,
      { timeout: 15_000 },
    );
    return chatPage.textContent('#toast');
  }

  return { chatPage, chat, popupFrom, watch, pane, messages, toast, problems };
}

/** The handle the page keeps, the visit card's view, and the page's CSP violations. */
export const handleOf = (page) => page.evaluate(() => sessionStorage.getItem('kenar-edge.handle'));
export const viewOf = (page) => page.getAttribute('#visit-body', 'data-view');
export const cspOf = (page) => page.evaluate(() => window.__csp || []);
