// The page's messaging step in headless Chromium at phone size, against the worker and
// divar-sim: write a message, send, go through Divar's (simulated) consent page, come back and
// see the same message delivered; and a refusal, then a retry from the page.

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

describe('the messaging step of the page in Chromium', () => {
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

  const onConsentPage = (url) => url.href.startsWith(`${stack.sim.base}/oauth2/auth`);
  const backOnOurPage = (url) => url.href === `${stack.worker.base}/`;

  async function simMessages(cid, text) {
    const r = await stack.sim.control('GET', `/_sim/conversations/${encodeURIComponent(cid)}/messages`);
    assert.equal(r.status, 200, r.text);
    return r.body.messages.filter((m) => m.text === text);
  }

  /**
   * The problems of a page, where the one allowed console error is the simulator's consent page
   * missing a favicon (Chromium asks for /favicon.ico there; that page is not ours).
   */
  function watch(page, problemsOf) {
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push({ text: m.text(), url: m.location().url }));
    return async () => {
      const simFavicon = `${stack.sim.base}/favicon.ico`;
      const ours = errors.filter((e) => e.url !== simFavicon);
      assert.deepEqual(ours, [], 'no console errors apart from the sim page\'s favicon');
      return problemsOf({ allowConsole: [/^error: Failed to load resource: .* 404 \(Not Found\)$/] });
    };
  }

  /** CSP violations of the current document (the list lives in the page, so read it per page). */
  const cspOf = (page) => page.evaluate(() => window.__csp || []);

  test('send → Divar consent page → approve → back on the page the message is «ارسال شد» and in the chat', async () => {
    const { url, chat } = await launchViaSim(stack.sim, { side: 'seller' });
    const { page, context, problemsOf } = await openPhonePage(browser);
    const problems = watch(page, problemsOf);
    const posts = [];
    page.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/api/messages') && posts.push(JSON.parse(r.postData())));
    const text = 'سلام! فردا ساعت ۵ برای دیدن خانه می‌آیم.';
    try {
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('#view-session:not([hidden])', { timeout: 10_000 });
      // The free message is a collapsed section under the visit service.
      assert.equal(await page.textContent('#free summary'), 'پیام آزاد');
      assert.ok(await page.isHidden('#text'));
      await page.click('#free summary');
      assert.equal(await page.textContent('label[for="text"]'), 'پیام شما');
      assert.equal((await page.textContent('#send')).trim(), 'ارسال در گفتگو');
      assert.equal(await page.textContent('#messages-title'), 'پیام‌های شما');
      assert.ok(await page.isVisible('#messages-empty'));
      assert.equal((await page.textContent('#back')).trim(), 'پایان و بازگشت به دیوار');
      assert.equal((await page.textContent('#cancel')).trim(), 'انصراف');
      await page.fill('#text', text);
      await page.screenshot({ path: artifactPath('messaging-1-compose.png'), fullPage: true });
      assert.deepEqual(await cspOf(page), []);

      // Two clicks in a row are one request: the button is disabled while it is in flight.
      await Promise.all([
        page.waitForURL(onConsentPage, { timeout: 15_000 }),
        page.evaluate(() => {
          const b = document.getElementById('send');
          b.click();
          b.click();
        }),
      ]);
      assert.equal(posts.length, 1, JSON.stringify(posts));
      assert.equal(posts[0].text, text);
      assert.match(posts[0].idempotency_key, /^[A-Za-z0-9_-]{8,64}$/);
      const consentUrl = new URL(page.url());
      assert.equal(consentUrl.searchParams.get('scope').split(' ').sort().join(' '), [`CONVERSATION_SEND_MESSAGE.${chat.conversation_id}`, 'NOTIFICATION_ACCESS_REVOCATION', 'USER_ID', 'offline_access'].sort().join(' '));
      await page.waitForSelector('button[value="approve"]');
      await page.screenshot({ path: artifactPath('messaging-2-consent.png'), fullPage: true });

      await Promise.all([page.waitForURL(backOnOurPage, { timeout: 15_000 }), page.click('button[value="approve"]')]);
      await page.waitForSelector('#messages li[data-state="sent"]', { timeout: 15_000 });
      const items = await page.$$eval('#messages li', (lis) =>
        lis.map((li) => ({ text: li.querySelector('.message-text').textContent, state: li.querySelector('.message-state').textContent })),
      );
      assert.deepEqual(items, [{ text, state: 'ارسال شد' }]);
      assert.equal(posts.length, 2, 'the draft was posted again after the grant');
      assert.equal(posts[1].idempotency_key, posts[0].idempotency_key, 'with the same key');
      assert.equal(await page.inputValue('#text'), '', 'a delivered draft is cleared');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('kenar-edge.draft')), null);
      assert.equal(page.url(), `${stack.worker.base}/`, 'the fragment (handle, outcome) is gone');
      assert.ok(await page.isHidden('#consent'));
      assert.ok(await page.isHidden('#messages-empty'));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
      await page.screenshot({ path: artifactPath('messaging-3-sent.png'), fullPage: true });

      const inChat = await simMessages(chat.conversation_id, text);
      assert.equal(inChat.length, 1);
      assert.equal(inChat[0].sender_user_id, chat.seller_user_id);

      assert.deepEqual(await problems(), NO_PROBLEMS);

      // «پایان و بازگشت به دیوار» ends on Divar's completion page.
      await Promise.all([page.waitForURL(`${stack.sim.base}/completion`), page.click('#back')]);
    } finally {
      await context.close();
    }
  });

  test('a refusal says so plainly, keeps the draft, and «تلاش دوباره» asks again', async () => {
    const { url, chat } = await launchViaSim(stack.sim, { side: 'buyer' });
    const { page, context, problemsOf } = await openPhonePage(browser);
    const problems = watch(page, problemsOf);
    const text = 'قیمت نهایی چقدر است؟';
    try {
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('#view-session:not([hidden])', { timeout: 10_000 });
      await page.click('#free summary');
      await page.fill('#text', text);
      assert.deepEqual(await cspOf(page), []);
      await Promise.all([page.waitForURL(onConsentPage, { timeout: 15_000 }), page.click('#send')]);
      await Promise.all([page.waitForURL(backOnOurPage, { timeout: 15_000 }), page.click('button[value="deny"]')]);

      await page.waitForSelector('#consent:not([hidden])', { timeout: 10_000 });
      assert.equal(await page.textContent('#consent-message'), 'اجازه ارسال پیام داده نشد.');
      assert.equal((await page.textContent('#consent-retry')).trim(), 'تلاش دوباره');
      assert.equal((await page.textContent('#consent-back')).trim(), 'بازگشت به دیوار');
      assert.equal(await page.getAttribute('#consent-back', 'href'), '/return');
      assert.equal(await page.inputValue('#text'), text, 'the draft survives the round trip');
      await page.waitForSelector('#messages li[data-state="needs_consent"]', { timeout: 10_000 });
      assert.equal(await page.textContent('#messages li .message-state'), 'منتظر اجازه شما');
      assert.equal((await simMessages(chat.conversation_id, text)).length, 0);
      await page.screenshot({ path: artifactPath('messaging-4-denied.png'), fullPage: true });

      await Promise.all([page.waitForURL(onConsentPage, { timeout: 15_000 }), page.click('#consent-retry')]);
      await Promise.all([page.waitForURL(backOnOurPage, { timeout: 15_000 }), page.click('button[value="approve"]')]);
      await page.waitForSelector('#messages li[data-state="sent"]', { timeout: 15_000 });
      assert.equal(await page.$$eval('#messages li', (lis) => lis.length), 1, 'the same item, not a second one');
      assert.equal((await simMessages(chat.conversation_id, text)).length, 1);
      const m = (await simMessages(chat.conversation_id, text))[0];
      assert.equal(m.sender_user_id, chat.buyer_user_id);
      assert.deepEqual(await problems(), NO_PROBLEMS);
    } finally {
      await context.close();
    }
  });
});
