// The webview page in headless Chromium (Debian's /usr/bin/chromium via playwright-core): a
// launch through the simulator opens the page at phone size; it shows the visit card in
// Persian without the launch's raw ids, hides the handle from the address bar, breaks no CSP
// rule, and sends the person back to Divar when the session is not valid.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  artifactPath,
  launchBrowser,
  launchViaSim,
  NO_PROBLEMS,
  openPhonePage,
  startStack,
} from '../lib/harness.mjs';

describe('the webview page in Chromium', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
  });

  const openPage = () => openPhonePage(browser);

  test('a seller launch shows the visit card, one way back, no raw ids, and hides the handle', async () => {
    const { url, chat, handle } = await launchViaSim(stack.sim, {
      side: 'seller',
      extra_data: { visit_id: 'v-42', note: 'سلام' },
    });
    const { page, context, problemsOf } = await openPage();
    try {
      const response = await page.goto(url, { waitUntil: 'load' });
      assert.equal(response.status(), 200);
      await page.waitForSelector('#view-session:not([hidden])', { timeout: 10_000 });
      await page.waitForSelector('#visit-body[data-view]');

      assert.equal(await page.getAttribute('html', 'lang'), 'fa');
      assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
      // The seller, with nothing proposed yet, is offered the form.
      assert.equal(await page.getAttribute('#visit-body', 'data-view'), 'propose');
      const text = await page.evaluate(() => document.body.innerText);
      for (const id of [chat.conversation_id, chat.post_token, 'v-42']) assert.ok(!text.includes(id), `${id} shown`);
      assert.ok(await page.isHidden('#status'), 'no status chatter once loaded');
      assert.ok(await page.isHidden('#view-expired'));
      assert.ok(await page.isHidden('#view-error'));
      assert.equal(await page.getAttribute('#back', 'href'), '/return');
      assert.equal((await page.textContent('#back')).trim(), 'بازگشت به گفتگو');

      // The handle is gone from the address bar but kept for a reload.
      assert.equal(page.url(), `${stack.worker.base}/`);
      assert.ok(!page.url().includes(handle));
      assert.equal(await page.evaluate(() => sessionStorage.getItem('kenar-edge.handle')), handle);

      // Nothing wider than the phone (no horizontal scrolling at 360 px).
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
      await page.screenshot({ path: artifactPath('page-session-seller.png'), fullPage: true });

      // A reload without the fragment still finds the session (sessionStorage).
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector('#visit-body[data-view="propose"]', { timeout: 10_000 });

      assert.deepEqual(await problemsOf(), NO_PROBLEMS);
    } finally {
      await context.close();
    }
  });

  test('a buyer launch (v1) opens the same card', async () => {
    const { url } = await launchViaSim(stack.sim, { side: 'buyer', version: 1 });
    const { page, context, problemsOf } = await openPage();
    try {
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('#visit-body[data-view="propose"]', { timeout: 10_000 });
      await page.screenshot({ path: artifactPath('page-session-buyer.png'), fullPage: true });
      assert.deepEqual(await problemsOf(), NO_PROBLEMS);
    } finally {
      await context.close();
    }
  });

  test('an invalid handle shows the Persian expired message and the way back to Divar', async () => {
    const { page, context, problemsOf } = await openPage();
    try {
      await page.goto(`${stack.worker.base}/#h=not.a-valid.handle`, { waitUntil: 'load' });
      await page.waitForSelector('#view-expired:not([hidden])', { timeout: 10_000 });
      assert.match(await page.textContent('#view-expired h2'), /نشست نامعتبر است یا منقضی شده/);
      assert.match(await page.textContent('#view-expired'), /دوباره باز کنید/);
      assert.equal(await page.getAttribute('#expired-back', 'href'), '/return');
      assert.ok(await page.isHidden('#back'), 'one way back, not two');
      assert.ok(await page.isHidden('#view-session'));
      assert.equal(page.url(), `${stack.worker.base}/`);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('kenar-edge.handle')), null, 'a bad handle is forgotten');
      await page.screenshot({ path: artifactPath('page-expired.png'), fullPage: true });

      // Chromium logs the 401 of /api/session as a failed resource load; nothing else is allowed.
      assert.deepEqual(await problemsOf({ allowConsole: [/Failed to load resource.*401/] }), NO_PROBLEMS);

      // The back link goes through the worker's /return to the (simulated) completion URL.
      const before = (await stack.sim.control('GET', '/_sim/completions')).body.count;
      await Promise.all([page.waitForURL(`${stack.sim.base}/completion`), page.click('#expired-back')]);
      assert.equal((await stack.sim.control('GET', '/_sim/completions')).body.count, before + 1);
    } finally {
      await context.close();
    }
  });

  test('no handle at all is the same expired state, with no request to the API', async () => {
    const { page, context, problemsOf } = await openPage();
    const apiCalls = [];
    page.on('request', (r) => r.url().includes('/api/') && apiCalls.push(r.url()));
    try {
      await page.goto(`${stack.worker.base}/`, { waitUntil: 'load' });
      await page.waitForSelector('#view-expired:not([hidden])', { timeout: 10_000 });
      assert.deepEqual(apiCalls, []);
      assert.equal(await page.getAttribute('#expired-back', 'href'), '/return');
      assert.deepEqual(await problemsOf(), NO_PROBLEMS);
    } finally {
      await context.close();
    }
  });

  test('a server error shows the retry state, and retry recovers', async () => {
    const { url } = await launchViaSim(stack.sim, { side: 'seller' });
    const { page, context, problemsOf } = await openPage();
    let failNext = true;
    await page.route('**/api/session', (route) => {
      if (failNext) {
        failNext = false;
        return route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"internal","message":"x"}' });
      }
      return route.continue();
    });
    try {
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('#view-error:not([hidden])', { timeout: 10_000 });
      assert.match(await page.textContent('#view-error h2'), /ارتباط برقرار نشد/);
      assert.equal(await page.getAttribute('#back', 'href'), '/return');
      await page.screenshot({ path: artifactPath('page-error.png'), fullPage: true });
      await page.click('#retry');
      await page.waitForSelector('#visit-body[data-view="propose"]', { timeout: 10_000 });
      assert.deepEqual(await problemsOf({ allowConsole: [/Failed to load resource.*503/] }), NO_PROBLEMS);
    } finally {
      await context.close();
    }
  });

  test('an inline script injected into the page is blocked by the CSP', async () => {
    // Proves the violation listener works, so the empty lists above mean something.
    const { page, context } = await openPage();
    try {
      await page.goto(`${stack.worker.base}/`, { waitUntil: 'load' });
      const ran = await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true;';
        document.body.appendChild(s);
        return new Promise((r) => setTimeout(() => r(window.__inlineRan === true), 100));
      });
      assert.equal(ran, false);
      const csp = await page.evaluate(() => window.__csp);
      assert.ok(csp.some((v) => v.startsWith('script-src')), JSON.stringify(csp));
    } finally {
      await context.close();
    }
  });
});
