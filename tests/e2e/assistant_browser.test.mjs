// The seller's assistant in headless Chromium, driven through the simulator's chat UI the way a
// seller and two buyers would use Divar: the seller opens the add-on from a chat on their post
// (a pop-up at 360×640), finds the assistant card, gets a 422 shown next to its field, writes a
// greeting and answers, turns it on, consents on the simulator's consent page and comes back to
// «دستیار روشن شد.». Then buyer 1 asks the price, a second buyer on the same post asks whether it
// is still there and when to see it, the seller writes in buyer 1's chat by hand, and both buyers
// ask where: every reply is counted in the simulator (one per message that deserves one, none
// once the seller wrote). The page, never reloaded, lists both conversations with their last
// messages and the «seller joined» badge, polls every 5 s only while visible and never resets a
// form being edited. On another post: a denied consent, asked again from the card, and a refused
// subscription («failing») that «تلاش دوباره» recovers. Screenshots go to tests/artifacts/
// (assistant-*.png), at 360×640 and on the desktop.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addFault, artifactPath, clearFaults, launchBrowser, launchViaSim, pollUntil, simMessages, sleep, startStack } from '../lib/harness.mjs';
import { cspOf, openChatUi } from '../lib/chat_ui.mjs';

const PHONE = { width: 360, height: 640 };
const DESKTOP = { width: 1100, height: 800 };
const REPLY_BOUND_MS = 15_000;
const SETTLE_MS = 1_500;
/** How long silence is watched for where no reply may come. */
const SILENCE_MS = 5_000;
const plain = (text) => text.replace(/\u200F/g, '');

const GREETING = 'سلام! ممنون از پیامتان؛ این پاسخ خودکار است.';
const PRICE = 'قیمت نهایی ۱۲ میلیون تومان است.';
const WHEN = 'عصرها از ساعت ۵ تا ۸ می‌توانید ببینید.';
const WHERE = 'تهران، ونک، نزدیک میدان.';
const AVAILABLE_DEFAULT = 'بله، هنوز موجود است.';

describe("the seller's assistant through the simulator's chat UI", () => {
  let stack;
  let browser;
  let context;
  let chatPage;
  let chat1; // buyer 1's chat; the post's seller is the seller of both
  let chat2; // buyer 2's chat on the same post
  let seller; // the seller's add-on page (a pop-up), kept open from step 1 to the end
  let problems; // console errors/warnings and page errors of our pages, page errors of the chat UI
  let watch; // records a page's problems in `problems`
  let popupFrom; // the add-on's pop-up opened by a click in the chat UI, at 360×640
  const settingsPosts = []; // bodies of POST /api/assistant/settings
  const oauthStarts = []; // bodies of POST /api/oauth/start
  const assistantGets = []; // times of GET /api/assistant

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: DESKTOP, locale: 'fa-IR' });
    const ui = await openChatUi(stack, context);
    ({ chatPage, problems, watch } = ui);
    chat1 = ui.chat;
    popupFrom = (click) => ui.popupFrom(click, PHONE);
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
  });

  // ---------------------------------------------------------------------------------------
  // helpers

  const overflowOf = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

  /** The app's messages in a chat (sent on the seller's behalf), oldest first. */
  const appMessages = async (cid) => (await simMessages(stack.sim, cid)).filter((m) => m.sender_type === 'BOT');

  /** Waits until `cid` holds `n` app messages, watches a little longer, returns them all. */
  async function replies(cid, n) {
    const reached = await pollUntil(async () => (await appMessages(cid)).length >= n, { timeoutMs: REPLY_BOUND_MS, everyMs: 100 });
    await sleep(SETTLE_MS);
    const got = await appMessages(cid);
    assert.ok(reached, `expected ${n} app message(s) in ${cid} within ${REPLY_BOUND_MS} ms, got ${got.length}: ${JSON.stringify(got.map((m) => m.text))}`);
    return got;
  }

  /** Shows `cid` in the chat UI (the conversation picker at the top). */
  async function openChat(cid) {
    await chatPage.selectOption('#chat-select', cid);
    await chatPage.waitForFunction((id) => document.querySelector('#chat-select').value === id, cid);
    await chatPage.waitForFunction(() => document.querySelector('.side[data-side=buyer] .uid').textContent !== '');
  }

  /**
   * A person writes `text` in the open chat from `side`'s pane, as they would in Divar; resolves
   * once the simulator holds it, with the event deliveries it made for it (the worker's answers).
   */
  async function write(side, cid, text) {
    const before = (await simMessages(stack.sim, cid)).length;
    const since = (await stack.sim.control('GET', '/_sim/deliveries?kind=event')).body.deliveries.reduce((m, d) => Math.max(m, d.id), 0);
    await chatPage.fill(`.side[data-side=${side}] .compose input`, text);
    await chatPage.click(`.side[data-side=${side}] .compose button`);
    assert.ok(await pollUntil(async () => (await simMessages(stack.sim, cid)).some((m, i) => i >= before && m.text === text), { timeoutMs: 10_000, everyMs: 100 }), `«${text}» in the chat`);
    await chatPage.locator(`.side[data-side=${side}] .msgs .msg.mine`, { hasText: text }).last().waitFor({ timeout: 10_000 });
    const msg = (await simMessages(stack.sim, cid)).filter((m) => m.text === text).pop();
    assert.equal(msg.sender_type, 'HUMAN');
    // The simulator lists the message at once and records the event's delivery once the worker
    // has answered it.
    const deliveriesOf = async () =>
      (await stack.sim.control('GET', `/_sim/deliveries?kind=event&since=${since}`)).body.deliveries.filter(
        (d) => d.request_body && d.request_body.new_message && d.request_body.new_message.id === msg.id,
      );
    await pollUntil(async () => (await deliveriesOf()).length > 0, { timeoutMs: 10_000, everyMs: 100 });
    return { msg, deliveries: await deliveriesOf() };
  }

  /** The seller's list as the page shows it. */
  const pageList = () =>
    seller.$$eval('#a-list li', (lis) =>
      lis.map((li) => ({
        n: li.getAttribute('data-n'),
        head: li.querySelector('p').textContent,
        last: li.querySelector('.message-text').textContent,
        joined: li.querySelector('.badge') ? li.querySelector('.badge').textContent : null,
        dir: getComputedStyle(li).direction,
      })),
    );

  // ---------------------------------------------------------------------------------------

  test('1. a buyer sees no assistant; the seller sees the card, off, and a 422 next to the field it names', async () => {
    // The buyer of the same chat: the page asks, and shows no assistant at all.
    const buyer = await launchViaSim(stack.sim, { side: 'buyer', chat: chat1 });
    const page = await context.newPage();
    await page.setViewportSize(PHONE);
    watch(page);
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/assistant'));
    await page.goto(buyer.url, { waitUntil: 'load' });
    await page.waitForSelector('#view-session:not([hidden])');
    const r = await answer;
    assert.deepEqual(await r.json(), { available: false, why: 'not_seller' });
    await sleep(300);
    assert.ok(await page.isHidden('#assistant'), 'no assistant card for a buyer');
    assert.ok(await page.isVisible('#visit'), 'the visit card as before');
    await page.close();

    // The seller opens the add-on from the chat (this also makes them the sim's current user,
    // whom its consent page approves as).
    seller = await popupFrom(() => chatPage.click('.side[data-side=seller] .addons'));
    seller.on('request', (q) => {
      const u = new URL(q.url());
      if (u.pathname === '/api/assistant/settings') settingsPosts.push(JSON.parse(q.postData()));
      if (u.pathname === '/api/oauth/start') oauthStarts.push(q.postData());
      if (u.pathname === '/api/assistant' && q.method() === 'GET') assistantGets.push(Date.now());
    });
    await seller.waitForSelector('#assistant:not([hidden])', { timeout: 10_000 });
    assert.equal(await seller.textContent('#a-title'), 'دستیار فروشنده');
    assert.equal(await seller.getAttribute('#a-head', 'data-status'), 'off');
    assert.match(await seller.textContent('#a-state'), /خاموش است/);
    assert.ok(await seller.isHidden('#a-consent'));
    assert.ok(await seller.isHidden('#a-retry'));
    assert.equal(await seller.isChecked('#a-enabled'), false);
    assert.equal((await seller.textContent('#a-empty')).trim(), 'هنوز خریداری پیام نداده است.');
    assert.ok(await seller.isVisible('#a-empty'));
    assert.equal(await seller.$$eval('#a-list li', (l) => l.length), 0);
    for (const [id, label] of [['a-greeting', 'پیام خوش‌آمد'], ['a-price', 'قیمت'], ['a-available', 'هنوز موجود است؟'], ['a-where', 'محل'], ['a-when', 'زمان بازدید'], ['a-away', 'پیام خارج از ساعت کاری']]) {
      assert.equal(await seller.textContent(`label[for=${id}]`), label);
      assert.equal(await seller.getAttribute(`#${id}`, 'maxlength'), '500');
    }
    assert.equal(await seller.getAttribute('#a-from', 'type'), 'time');
    assert.equal(await seller.getAttribute('#a-to', 'type'), 'time');
    assert.equal(await seller.inputValue('#a-available'), AVAILABLE_DEFAULT, 'the worker\'s defaults fill the form');
    assert.equal((await seller.textContent('#a-save')).trim(), 'ذخیره');
    // The visit card is still there for the seller.
    await seller.waitForSelector('#visit-body[data-view]');
    assert.ok(await seller.isVisible('#visit'));
    assert.ok((await overflowOf(seller)) <= 0, 'nothing wider than 360 px');
    await seller.screenshot({ path: artifactPath('assistant-01-off-phone.png'), fullPage: true });

    // Working hours without an away message: the worker names settings.away; the page shows
    // it next to that field, as an alert, in view, and keeps what was typed.
    await seller.fill('#a-greeting', GREETING);
    await seller.check('#a-hours');
    assert.equal(await seller.isDisabled('#a-from'), false);
    await seller.fill('#a-from', '09:00');
    await seller.fill('#a-to', '18:30');
    await seller.fill('#a-away', '');
    await seller.click('#a-save');
    await seller.waitForSelector('#a-field-error:not([hidden])', { timeout: 10_000 });
    assert.equal(settingsPosts.length, 1);
    assert.deepEqual(settingsPosts[0].settings.hours, { from: '09:00', to: '18:30' });
    assert.match(settingsPosts[0].idempotency_key, /^[A-Za-z0-9_-]{8,64}$/);
    const err = await seller.evaluate(() => {
      const e = document.getElementById('a-field-error');
      const b = e.getBoundingClientRect();
      return {
        after: e.previousElementSibling && e.previousElementSibling.id,
        role: e.getAttribute('role'),
        text: e.textContent,
        color: getComputedStyle(e).color,
        inView: b.top >= 0 && b.bottom <= window.innerHeight + 1,
        invalid: document.getElementById('a-away').getAttribute('aria-invalid'),
        focused: document.activeElement && document.activeElement.id,
      };
    });
    assert.deepEqual(
      { after: err.after, role: err.role, inView: err.inView, invalid: err.invalid, focused: err.focused },
      { after: 'a-away', role: 'alert', inView: true, invalid: 'true', focused: 'a-away' },
      JSON.stringify(err),
    );
    assert.match(err.text, /[\u0600-\u06FF]/, `a Persian message: ${err.text}`);
    const [red, green, blue] = err.color.match(/\d+/g).map(Number);
    assert.ok(red > 120 && red > green + 60 && red > blue + 60, `red-ish: ${err.color}`);
    assert.equal(await seller.inputValue('#a-greeting'), GREETING, 'the input is kept');
    assert.equal(await seller.isChecked('#a-hours'), true);
    await seller.screenshot({ path: artifactPath('assistant-02-field-error-phone.png') });

    // A text over 500 characters (past the textarea's maxlength, as an old webview might let
    // through): the error moves next to the price.
    await seller.uncheck('#a-hours');
    await seller.evaluate(() => {
      document.getElementById('a-price').value = 'ب'.repeat(501);
    });
    await seller.click('#a-save');
    await seller.waitForFunction(() => {
      const e = document.getElementById('a-field-error');
      return !e.hidden && e.previousElementSibling.id === 'a-price';
    }, null, { timeout: 10_000 });
    assert.equal(settingsPosts.length, 2);
    assert.equal(await seller.getAttribute('#a-price', 'aria-invalid'), 'true');
    assert.equal(await seller.getAttribute('#a-away', 'aria-invalid'), null, 'the earlier error is gone');
    assert.match(await seller.textContent('#a-field-error'), /۵۰۰/);
    assert.equal(await seller.getAttribute('#a-head', 'data-status'), 'off', 'nothing was saved');
  });

  test('2. the seller turns it on: consent on Divar\'s page, back to «دستیار روشن شد.» and status on', async () => {
    assert.ok(seller, 'the seller\'s page is open');
    await seller.fill('#a-greeting', GREETING);
    await seller.fill('#a-price', PRICE);
    await seller.fill('#a-when', WHEN);
    await seller.fill('#a-where', WHERE);
    await seller.fill('#a-away', 'الان در دسترس نیستم.');
    await seller.check('#a-enabled');
    await Promise.all([seller.waitForURL((u) => u.href.startsWith(`${stack.sim.base}/oauth2/auth`), { timeout: 15_000 }), seller.click('#a-save')]);
    assert.equal(settingsPosts.length, 3);
    assert.deepEqual(settingsPosts[2].settings, {
      enabled: true,
      greeting: GREETING,
      away: 'الان در دسترس نیستم.',
      answers: { price: PRICE, available: AVAILABLE_DEFAULT, where: WHERE, when: WHEN },
      hours: null,
    });
    assert.notEqual(settingsPosts[2].idempotency_key, settingsPosts[1].idempotency_key);
    assert.deepEqual(oauthStarts.map((x) => JSON.parse(x)), [{ purpose: 'assistant' }], 'consent asked for the assistant');
    const scope = new URL(seller.url()).searchParams.get('scope');
    assert.ok(scope.includes(`CHAT_POST_CONVERSATIONS_MESSAGE_SEND.${chat1.post_token}`), scope);
    await seller.waitForSelector('button[value="approve"]');
    await seller.screenshot({ path: artifactPath('assistant-03-consent-phone.png') });

    await Promise.all([seller.waitForURL(`${stack.worker.base}/`, { timeout: 15_000 }), seller.click('button[value="approve"]')]);
    await seller.waitForFunction(() => document.getElementById('a-msg').textContent === 'دستیار روشن شد.', null, { timeout: 15_000 });
    assert.equal(await seller.getAttribute('#a-head', 'data-status'), 'on');
    assert.equal(await seller.textContent('#a-state'), 'دستیار روشن است؛ به پیام‌های خریداران این آگهی پاسخ می‌دهد.');
    assert.equal(oauthStarts.length, 1, 'consent asked once');
    assert.ok(await seller.isHidden('#a-err'));
    assert.ok(await seller.isHidden('#a-consent'));
    // The visit card did not take the assistant's outcome as its own.
    assert.ok(await seller.isHidden('#v-consent'));
    assert.ok(await seller.isHidden('#consent'));
    assert.equal(await seller.isChecked('#a-enabled'), true);
    assert.equal(await seller.inputValue('#a-greeting'), GREETING, 'the saved settings fill the form');
    assert.equal(await seller.inputValue('#a-where'), WHERE);
    assert.equal(seller.url(), `${stack.worker.base}/`, 'no handle or outcome left in the address bar');
    const subs = (await stack.sim.control('GET', '/_sim/subscriptions')).body.subscriptions.filter((s) => s.user_id === chat1.seller_user_id);
    assert.equal(subs.length, 1, JSON.stringify(subs));
    assert.equal(subs[0].event_resource_id, chat1.post_token);
    assert.ok((await overflowOf(seller)) <= 0);
    await seller.screenshot({ path: artifactPath('assistant-04-on-phone.png'), fullPage: true });
    assert.deepEqual(await cspOf(seller), []);
  });

  test('3. buyer 1 asks the price: one message from the seller\'s side with the greeting and the price', async () => {
    assert.ok(seller, 'the assistant is on');
    // An edit the seller has not saved: the page's refreshes must leave it alone.
    await seller.fill('#a-away', 'ویرایش ذخیره‌نشده');
    await openChat(chat1.conversation_id);
    const { deliveries } = await write('buyer', chat1.conversation_id, 'سلام، قیمت آخرش چنده؟');
    assert.deepEqual(deliveries.map((d) => d.status), [200], 'the event reached the worker once');
    const got = await replies(chat1.conversation_id, 1);
    assert.equal(got.length, 1, JSON.stringify(got.map((m) => m.text)));
    const text = plain(got[0].text);
    assert.ok(text.includes(GREETING) && text.includes(PRICE), text);
    assert.ok(!text.includes(WHEN) && !text.includes(WHERE), `only what was asked: ${text}`);
    assert.equal(got[0].sender_side, 'SELLER', "on the seller's behalf");
    assert.equal(got[0].sender_user_id, chat1.seller_user_id);
    // The buyer's pane shows it as the other side's message, from the add-on.
    const bubble = chatPage.locator('.side[data-side=buyer] .msgs .msg:not(.mine)', { hasText: PRICE });
    await bubble.waitFor({ timeout: 10_000 });
    assert.equal((await bubble.locator('.app').textContent()).trim(), 'از طرف افزونه');
  });

  test('4. buyer 2 on the same post asks if it is still there and when: greeting + both answers, with the visit button', async () => {
    assert.ok(seller, 'the assistant is on');
    const n = (await stack.sim.control('GET', '/_sim/chats')).body.chats.length;
    await chatPage.click('#new-buyer');
    assert.ok(await pollUntil(async () => (await stack.sim.control('GET', '/_sim/chats')).body.chats.length === n + 1, { timeoutMs: 10_000, everyMs: 100 }));
    const chats = (await stack.sim.control('GET', '/_sim/chats')).body.chats;
    chat2 = chats[chats.length - 1];
    assert.equal(chat2.post_token, chat1.post_token, 'the same post');
    assert.equal(chat2.seller_user_id, chat1.seller_user_id);
    assert.notEqual(chat2.buyer_user_id, chat1.buyer_user_id, 'another buyer');
    await chatPage.waitForFunction((cid) => document.querySelector('#chat-select').value === cid, chat2.conversation_id);

    const { deliveries } = await write('buyer', chat2.conversation_id, 'هنوز موجوده؟ کی می‌تونم ببینم؟');
    assert.deepEqual(deliveries.map((d) => d.status), [200]);
    const got = await replies(chat2.conversation_id, 1);
    assert.equal(got.length, 1, JSON.stringify(got.map((m) => m.text)));
    const text = plain(got[0].text);
    assert.ok(text.includes(GREETING) && text.includes(AVAILABLE_DEFAULT) && text.includes(WHEN), text);
    assert.ok(!text.includes(PRICE), text);
    const buttons = got[0].receiver_buttons.rows.flatMap((r) => r.buttons);
    assert.equal(buttons.length, 1, JSON.stringify(got[0].receiver_buttons));
    assert.equal(buttons[0].action.open_server_link.data.v, 'propose', 'the buyer is offered the visit');
    await chatPage
      .locator('.side[data-side=buyer] .msgs .msg:not(.mine)', { hasText: WHEN })
      .getByRole('button', { name: buttons[0].caption, exact: true })
      .waitFor({ timeout: 10_000 });
    assert.equal((await appMessages(chat1.conversation_id)).length, 1, 'nothing new in buyer 1\'s chat');
    await chatPage.screenshot({ path: artifactPath('assistant-05-buyer2-chat-desktop.png') });
  });

  test('5. the seller writes in buyer 1\'s chat by hand: buyer 1\'s «آدرس کجاست؟» gets nothing, buyer 2\'s gets the where-answer', async () => {
    assert.ok(chat2, 'buyer 2 wrote');
    await openChat(chat1.conversation_id);
    await write('seller', chat1.conversation_id, 'سلام، بله در خدمتم.');
    const asked1 = await write('buyer', chat1.conversation_id, 'آدرس کجاست؟');
    assert.deepEqual(asked1.deliveries.map((d) => d.status), [200], 'the worker got buyer 1\'s question');
    // Silence: watched for a few seconds, in the simulator's list of the chat's messages.
    await sleep(SILENCE_MS);
    const in1 = await simMessages(stack.sim, chat1.conversation_id);
    assert.deepEqual(
      in1.map((m) => [m.sender_type, m.sender_side]),
      [['HUMAN', 'BUYER'], ['BOT', 'SELLER'], ['HUMAN', 'SELLER'], ['HUMAN', 'BUYER']],
      JSON.stringify(in1.map((m) => m.text)),
    );

    await openChat(chat2.conversation_id);
    const asked2 = await write('buyer', chat2.conversation_id, 'آدرس کجاست؟');
    assert.deepEqual(asked2.deliveries.map((d) => d.status), [200]);
    const got = await replies(chat2.conversation_id, 2);
    assert.equal(got.length, 2, JSON.stringify(got.map((m) => m.text)));
    const text = plain(got[1].text);
    assert.ok(text.includes(WHERE), text);
    assert.ok(!text.includes(GREETING), `greeted once only: ${text}`);
    assert.equal((await appMessages(chat1.conversation_id)).length, 1, 'still silent in buyer 1\'s chat');
    await chatPage.screenshot({ path: artifactPath('assistant-06-buyer2-where-desktop.png') });
  });

  test('6. the seller\'s page, never reloaded, lists both conversations: last messages, the badge, Persian digits, right to left', async () => {
    assert.ok(chat2, 'both buyers wrote');
    const api = await (
      await fetch(`${stack.worker.base}/api/assistant`, { headers: { authorization: `Bearer ${await seller.evaluate(() => sessionStorage.getItem('kenar-edge.handle'))}` } })
    ).json();
    assert.equal(api.conversations.length, 2, JSON.stringify(api.conversations));
    // The page catches up by itself (it looks again every 5 s).
    await seller.waitForFunction(
      (want) => {
        const lis = document.querySelectorAll('#a-list li');
        return lis.length === 2 && [...lis].every((li, i) => li.querySelector('.message-text').textContent === want[i]);
      },
      api.conversations.map((c) => c.last_text),
      { timeout: 15_000 },
    );
    const list = await pageList();
    const byN = Object.fromEntries(list.map((c) => [c.n, c]));
    assert.deepEqual(Object.keys(byN).sort(), ['1', '2']);
    // Conversation 1: buyer 1's last question, and the seller took over.
    assert.match(byN['1'].head, /^گفتگوی ۱/);
    assert.equal(byN['1'].last, 'آدرس کجاست؟');
    assert.match(byN['1'].head, /خریدار/);
    assert.equal(byN['1'].joined, 'شما وارد گفتگو شدید؛ دستیار ساکت است');
    // Conversation 2: the newest activity, first; no badge.
    assert.match(byN['2'].head, /^گفتگوی ۲/);
    assert.equal(byN['2'].joined, null);
    assert.equal(list[0].n, '2', 'newest activity first');
    const apiTwo = api.conversations.find((c) => c.n === 2);
    assert.equal(byN['2'].last, plain(apiTwo.last_text));
    assert.match(byN['2'].head, new RegExp({ buyer: 'خریدار', seller: 'شما', app: 'دستیار' }[apiTwo.last_from]));
    for (const c of list) {
      assert.equal(c.dir, 'rtl');
      assert.doesNotMatch(c.head, /[0-9]/, `Persian digits only: ${c.head}`);
      assert.match(c.head, /[۰-۹]{2}:[۰-۹]{2}|روز پیش/, `a time: ${c.head}`);
    }
    assert.ok(await seller.isHidden('#a-empty'));
    assert.equal(await seller.inputValue('#a-away'), 'ویرایش ذخیره‌نشده', 'the refreshes left the unsaved edit alone');
    assert.equal(await seller.getAttribute('#a-head', 'data-status'), 'on');

    const page = await seller.evaluate(() => ({
      html: document.documentElement.getAttribute('dir'),
      card: getComputedStyle(document.getElementById('assistant')).direction,
      asciiDigits: (document.getElementById('a-list').textContent.match(/[0-9]/g) || []).length,
    }));
    assert.deepEqual(page, { html: 'rtl', card: 'rtl', asciiDigits: 0 });
    assert.ok((await overflowOf(seller)) <= 0, 'nothing wider than 360 px');
    await seller.locator('#assistant').scrollIntoViewIfNeeded();
    await seller.screenshot({ path: artifactPath('assistant-07-list-phone.png'), fullPage: true });
    await seller.setViewportSize(DESKTOP);
    await seller.screenshot({ path: artifactPath('assistant-08-list-desktop.png'), fullPage: true });
    await seller.setViewportSize(PHONE);
  });

  test('7. the page polls every 5 s while visible and stops while hidden', async () => {
    assert.ok(seller, 'the seller\'s page is open');
    const count = () => assistantGets.length;
    let n = count();
    await sleep(11_000);
    assert.ok(count() - n >= 2 && count() - n <= 3, `two or three looks in 11 s, got ${count() - n}`);
    await seller.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    n = count();
    await sleep(6_000);
    assert.equal(count(), n, 'no look while hidden');
    await seller.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    assert.ok(await pollUntil(() => count() > n, { timeoutMs: 2_000, everyMs: 50 }), 'looks again at once when shown');
    assert.deepEqual(await cspOf(seller), []);
    // Chromium logs each answered 422 as a failed load: exactly the two of step 1, nothing else.
    const rejected = /Failed to load resource.*\b422\b/;
    assert.equal(problems.filter((p) => rejected.test(p)).length, 2, JSON.stringify(problems));
    assert.deepEqual(problems.filter((p) => !rejected.test(p)), [], 'no other console error or page error on our pages');
  });

  test('8. on another post: consent denied, asked again with «اجازه از دیوار»; Divar refuses the subscription: «failing», and «تلاش دوباره» recovers', async () => {
    const { chat, url } = await launchViaSim(stack.sim, { side: 'seller' });
    const page = await context.newPage();
    await page.setViewportSize(PHONE);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const saves = [];
    const starts = [];
    page.on('request', (q) => {
      const path = new URL(q.url()).pathname;
      if (path === '/api/assistant/settings') saves.push(JSON.parse(q.postData()));
      if (path === '/api/oauth/start') starts.push(JSON.parse(q.postData()));
    });
    const fault = await addFault(stack.sim, { endpoint: 'subscriptions', status: 503 });
    try {
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('#assistant:not([hidden])', { timeout: 10_000 });
      await page.fill('#a-greeting', GREETING);
      await page.check('#a-enabled');
      await Promise.all([page.waitForURL((u) => u.href.startsWith(`${stack.sim.base}/oauth2/auth`), { timeout: 15_000 }), page.click('#a-save')]);

      // First the seller says no: back on the page, the refusal in the assistant's card, the
      // status «needs consent» as an error with the button that asks Divar again.
      await Promise.all([page.waitForURL(`${stack.worker.base}/`, { timeout: 15_000 }), page.click('button[value="deny"]')]);
      await page.waitForSelector('#a-err:not([hidden])', { timeout: 15_000 });
      assert.equal(await page.textContent('#a-err'), 'اجازه داده نشد، پس دستیار پاسخی نمی‌دهد. برای روشن کردنش «اجازه از دیوار» را بزنید.');
      assert.equal(await page.getAttribute('#a-err', 'role'), 'alert');
      assert.equal(await page.getAttribute('#a-head', 'data-status'), 'needs_consent');
      assert.equal(await page.textContent('#a-state'), 'دستیار برای پاسخ دادن به اجازهٔ شما در دیوار نیاز دارد.');
      assert.ok(await page.isVisible('#a-consent'));
      assert.equal((await page.textContent('#a-consent')).trim(), 'اجازه از دیوار');
      assert.ok(await page.isHidden('#a-retry'));
      assert.ok(await page.isHidden('#v-consent'), 'not the visit card\'s concern');
      assert.equal(await page.inputValue('#a-greeting'), GREETING, 'the saved settings are back in the form');
      await page.screenshot({ path: artifactPath('assistant-09-denied-phone.png') });
      await Promise.all([page.waitForURL((u) => u.href.startsWith(`${stack.sim.base}/oauth2/auth`), { timeout: 15_000 }), page.click('#a-consent')]);
      assert.equal(saves.length, 1, 'asking again saves nothing');
      assert.deepEqual(starts, [{ purpose: 'assistant' }, { purpose: 'assistant' }]);

      await Promise.all([page.waitForURL(`${stack.worker.base}/`, { timeout: 15_000 }), page.click('button[value="approve"]')]);
      await page.waitForSelector('#a-head[data-status=failing]', { timeout: 15_000 });
      assert.ok(fault.id, 'the fault rule is set');
      assert.equal(await page.textContent('#a-state'), 'دستیار پیام‌های این آگهی را از دیوار دریافت نمی‌کند.');
      assert.ok(await page.isVisible('#a-retry'));
      assert.equal((await page.textContent('#a-retry')).trim(), 'تلاش دوباره');
      assert.ok(await page.isHidden('#a-consent'));
      assert.notEqual(await page.textContent('#a-msg'), 'دستیار روشن شد.', 'not announced as on');
      const color = await page.$eval('#a-head', (e) => getComputedStyle(e).color);
      const [red, green] = color.match(/\d+/g).map(Number);
      assert.ok(red > green + 60, `the notice looks like an error: ${color}`);
      await page.screenshot({ path: artifactPath('assistant-10-failing-phone.png') });
      assert.equal(saves.length, 1);

      await clearFaults(stack.sim, 'subscriptions');
      await page.click('#a-retry');
      await page.waitForSelector('#a-head[data-status=on]', { timeout: 15_000 });
      assert.equal(saves.length, 2, 'the retry saved the settings again');
      assert.equal(saves[1].settings.enabled, true);
      assert.equal(saves[1].settings.greeting, GREETING);
      assert.ok(await page.isHidden('#a-retry'));
      const subs = (await stack.sim.control('GET', '/_sim/subscriptions')).body.subscriptions.filter((x) => x.user_id === chat.seller_user_id);
      assert.equal(subs.length, 1, JSON.stringify(subs));
      assert.deepEqual(errors, []);
      assert.deepEqual(await cspOf(page), []);
    } finally {
      await clearFaults(stack.sim, 'subscriptions').catch(() => {});
      await page.close();
    }
  });
});
