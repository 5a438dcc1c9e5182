// Visit scheduling (قرار بازدید) in headless Chromium, driven through the simulator's chat UI the
// way a person would use Divar: the buyer opens the add-on from the chat (a pop-up window, set
// to phone size), proposes two times with a note, goes through Divar's consent page and back;
// the proposal appears in the chat with the seller's one-tap buttons; the seller taps one with
// no permission yet (the page opens, consent, answer there), and in a second round with one tap
// once permission exists; both sides see the confirmation in the chat and on the page; the .ics
// file holds the chosen time; a hostile note stays plain text; an old button is stale.
// Screenshots go to tests/artifacts/; KENAR_UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  artifactPath,
  jsonCall,
  launchBrowser,
  PHONE_VIEWPORT,
  ROOT,
  startStack,
} from '../lib/harness.mjs';
import { cspOf, handleOf, openChatUi, waitFor } from '../lib/chat_ui.mjs';

const DOCS = path.join(ROOT, 'docs', 'screenshots');
const STALE_TOAST = 'این پیشنهاد دیگر معتبر نیست؛ آخرین پیام گفتگو را ببینید.';
const OPEN_PAGE_TOAST = 'برای پاسخ، افزونه را باز کنید.';
const HOSTILE_NOTE = '<script>window.__pwned=1</script> <img src=x onerror=window.__pwned=1> \u202Eغیرعادی\u202E';

describe('visit scheduling through the simulator\'s chat UI', () => {
  let stack;
  let browser;
  let context;
  let chatPage;
  let chat;
  let ui; // the chat UI: panes, messages, toasts, pop-ups (tests/lib/chat_ui.mjs)
  let problems; // console errors and page errors of our own pages
  let step = 0;

  before(async () => {
    stack = await startStack();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1100, height: 800 }, locale: 'fa-IR' });
    ui = await openChatUi(stack, context);
    ({ chatPage, chat, problems } = ui);
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
  });

  // ---------------------------------------------------------------------------------------
  // helpers

  async function shot(page, name, opts = {}) {
    step++;
    const file = artifactPath(`visit-${String(step).padStart(2, '0')}-${name}.png`);
    if (opts.locator) await opts.locator.screenshot({ path: file });
    else await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  /** A screenshot good for the docs: small enough always; copied to docs/screenshots/ on request. */
  function toDocs(file, name) {
    assert.ok(statSync(file).size < 150_000, `${name} is ${statSync(file).size} bytes`);
    if (process.env.KENAR_UPDATE_SCREENSHOTS !== '1') return;
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(file, path.join(DOCS, name));
  }

  /** The add-on's pop-up opened by `click` in the chat UI, at phone size. */
  const popupFrom = (click) => ui.popupFrom(click, PHONE_VIEWPORT);
  const pane = (side) => ui.pane(side);
  const proposalMsgs = (side) => pane(side).locator('.msg', { hasText: 'برای بازدید این زمان‌ها را پیشنهاد داد' });

  const messages = () => ui.messages();

  async function visitState(handle) {
    const r = await jsonCall(`${stack.worker.base}/api/visit`, { headers: { authorization: `Bearer ${handle}` } });
    assert.equal(r.status, 200, r.text);
    return r.body;
  }

  const toast = (re) => ui.toast(re);

  /** Fills the propose form: [[day index into `days`, minutes after midnight], …]. */
  async function fillProposal(page, picks, note) {
    for (let i = 0; i < picks.length; i++) {
      if (i > 0) await page.click('#add-slot');
      await page.selectOption(`#day-${i}`, String(picks[i][0]));
      await page.selectOption(`#time-${i}`, String(picks[i][1]));
    }
    await page.fill('#note', note);
  }

  function utcStamp(at) {
    return new Date(at * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  }

  // ---------------------------------------------------------------------------------------

  let round1; // { id, slots, chosen, ics }

  test('1. the buyer proposes two times with a note: consent, back, sent; the seller gets one-tap buttons', async () => {
    const popup = await popupFrom(() => chatPage.click('.side[data-side=buyer] .addons'));
    const posts = [];
    popup.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/api/visit/propose') && posts.push(JSON.parse(r.postData())));
    await popup.waitForSelector('#visit-body[data-view="propose"]');
    assert.equal(await popup.textContent('#propose'), 'ارسال پیشنهاد در گفتگو');
    assert.equal(await popup.textContent('label[for="day-0"]'), 'روز');
    assert.equal(await popup.textContent('label[for="time-0"]'), 'ساعت');
    assert.equal(await popup.textContent('label[for="note"]'), 'یادداشت (اختیاری)');
    const times = await popup.$$eval('#time-0 option', (os) => os.map((o) => o.textContent));
    assert.equal(times[0], 'انتخاب ساعت');
    assert.ok(times.slice(1).every((t) => /^[۰-۹]{2}:[۰-۹]{2}$/.test(t)), times.join(','));

    // Client-side checks, in Persian, before anything is sent.
    // Errors are red alerts next to the field at fault, never in the success line.
    await popup.click('#propose');
    assert.equal(await popup.textContent('#v-error'), 'دست‌کم یک زمان انتخاب کنید.');
    assert.equal(await popup.evaluate(() => document.getElementById('v-error').previousElementSibling.id), 'time-0');
    assert.equal(await popup.textContent('#visit-status'), '');
    await fillProposal(popup, [[1, 600], [1, 600]], '');
    await popup.click('#propose');
    assert.equal(await popup.textContent('#v-error'), 'این زمان را دو بار انتخاب کرده‌اید؛ زمان دیگری انتخاب کنید.');
    assert.equal(await popup.evaluate(() => document.getElementById('v-error').previousElementSibling.id), 'time-1');
    assert.equal(posts.length, 0);
    assert.ok(await popup.isVisible('#add-slot'));
    await popup.click('#add-slot');
    assert.ok(await popup.isHidden('#add-slot'), 'three times at most');

    const handle = await handleOf(popup);
    const { days } = await visitState(handle);
    assert.equal(days.length, 14);
    await popup.selectOption('#day-1', '2');
    await popup.selectOption('#time-1', '990');
    const note = 'لطفاً زنگ واحد ۳ را بزنید.';
    await popup.fill('#note', note);
    const fa = (n) => String(n).replace(/[0-9]/g, (d) => '۰۱۲۳۴۵۶۷۸۹'[d]);
    assert.equal(await popup.textContent('#note-count'), `${fa(note.length)} از ۲۰۰ نویسه`);
    const slots = [days[1].start + 600 * 60, days[2].start + 990 * 60];
    const overflow = await popup.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
    toDocs(await shot(popup, 'propose-form'), 'visit-1-propose-form.png');

    await Promise.all([popup.waitForURL((u) => u.href.startsWith(`${stack.sim.base}/oauth2/auth`)), popup.click('#propose')]);
    assert.equal(posts.length, 1);
    assert.deepEqual(posts[0].slots, slots);
    assert.equal(posts[0].note, note);
    await popup.waitForSelector('button[value="approve"]');
    toDocs(await shot(popup, 'consent'), 'visit-2-consent.png');
    await Promise.all([popup.waitForURL(`${stack.worker.base}/`), popup.click('button[value="approve"]')]);
    await popup.waitForSelector('#visit-body[data-view="waiting"]', { timeout: 15_000 });
    assert.equal(await popup.textContent('#visit-status'), 'پیشنهاد در گفتگو ارسال شد.');
    assert.equal(posts.length, 2, 'the draft was posted again after the grant');
    assert.equal(posts[1].idempotency_key, posts[0].idempotency_key, 'with the same key');
    assert.equal(await popup.evaluate(() => sessionStorage.getItem('kenar-edge.draft')), null);
    assert.equal(await popup.textContent('#v-note'), note);
    assert.equal(await popup.$$eval('#v-times li', (l) => l.length), 2);
    assert.equal(await popup.textContent('#change'), 'تغییر زمان‌ها');
    assert.equal(await popup.textContent('#cancel-proposal'), 'لغو پیشنهاد');
    await shot(popup, 'waiting');

    const state = await visitState(handle);
    assert.equal(state.proposal.status.kind, 'open');
    assert.deepEqual(state.proposal.slots.map((s) => s.at), slots);
    assert.deepEqual(await cspOf(popup), []);
    await popup.close();

    // In the chat: one proposal, with the seller's one-tap buttons and the buyer's «تغییر یا لغو».
    const msgs = (await messages()).filter((m) => m.text.startsWith('📅'));
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].sender_user_id, chat.buyer_user_id);
    assert.ok(msgs[0].text.includes(note));
    const picks = msgs[0].receiver_buttons.rows[0].buttons;
    assert.deepEqual(picks.map((b) => b.caption), state.proposal.slots.map((s) => s.short));
    assert.ok(picks.every((b) => b.action.get_dynamic_action), JSON.stringify(picks));
    await proposalMsgs('seller').first().waitFor();
    for (const s of state.proposal.slots) {
      await proposalMsgs('seller').first().getByRole('button', { name: s.short, exact: true }).waitFor();
    }
    await proposalMsgs('seller').first().getByRole('button', { name: 'هیچ‌کدام', exact: true }).waitFor();
    await proposalMsgs('buyer').first().getByRole('button', { name: 'تغییر یا لغو', exact: true }).waitFor();
    toDocs(await shot(chatPage, 'proposal-in-chat', { locator: chatPage.locator('main') }), 'visit-3-proposal-in-chat.png');
    round1 = { id: state.proposal.id, slots: state.proposal.slots };
  });

  test('2a. the seller taps a time with no permission: the page opens with that time, one «تأیید», consent, confirmed', async () => {
    assert.ok(round1, 'round 1 ran');
    const chosen = 1;
    const before = (await messages()).length;
    // The toast and the pop-up come together; the toast only stays 3.5 s, so watch both at once.
    const [popup, shown] = await Promise.all([
      popupFrom(() => proposalMsgs('seller').first().getByRole('button', { name: round1.slots[chosen].short, exact: true }).click()),
      toast(/افزونه را باز کنید/),
    ]);
    assert.equal(shown, OPEN_PAGE_TOAST);
    assert.equal((await messages()).length, before, 'nothing posted without permission');
    // The tapped time is carried through: only it, and one button to confirm it.
    await popup.waitForSelector('#visit-body[data-view="answer"] #confirm');
    assert.deepEqual(await popup.$$eval('#v-times li', (l) => l.map((x) => x.textContent)), [round1.slots[chosen].label]);
    assert.equal(await popup.textContent('#confirm'), 'تأیید این زمان');
    assert.equal(await popup.$('#answer-slots'), null, 'no second choice among all the times');
    await shot(popup, 'answer');

    const answers = [];
    popup.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/api/visit/answer') && answers.push(JSON.parse(r.postData())));
    await Promise.all([popup.waitForURL((u) => u.href.startsWith(`${stack.sim.base}/oauth2/auth`)), popup.click('#confirm')]);
    await Promise.all([popup.waitForURL(`${stack.worker.base}/`), popup.click('button[value="approve"]')]);
    await popup.waitForSelector('#visit-body[data-view="confirmed"]', { timeout: 15_000 });
    assert.equal(await popup.textContent('#visit-status'), 'قرار بازدید قطعی شد و در گفتگو ارسال شد.');
    assert.deepEqual(await popup.$$eval('#v-times li', (l) => l.map((x) => x.textContent)), [round1.slots[chosen].label]);
    assert.deepEqual(answers.map((a) => a.slot), [chosen, chosen], 'the same answer before and after consent, no other choice');
    assert.equal(answers[0].idempotency_key, answers[1].idempotency_key);
    assert.equal(await popup.textContent('#ics'), 'افزودن به تقویم');
    // Plans change on both sides: the side that picked the time may call it off too.
    assert.ok(await popup.$('#cancel-visit'), 'either side may call off an agreed visit');
    const ics = await popup.getAttribute('#ics', 'href');
    assert.ok(ics.startsWith(`${stack.worker.base}/ics/`), ics);
    const sellerHandle = await handleOf(popup);
    const s = await visitState(sellerHandle);
    assert.deepEqual(s.proposal.status, { kind: 'confirmed', slot: chosen, by: 'SUPPLY' });
    assert.deepEqual(await cspOf(popup), []);
    await popup.close();
    round1.chosen = chosen;
    round1.ics = ics;
    round1.sellerHandle = sellerHandle;
  });

  test('3–4. both panes show the confirmation; the buyer\'s page too; the .ics holds the chosen time', async () => {
    assert.ok(round1 && round1.ics, 'round 1 was confirmed');
    const conf = (await messages()).filter((m) => m.text.startsWith('✅ قرار بازدید قطعی شد'));
    assert.equal(conf.length, 1);
    assert.equal(conf[0].sender_user_id, chat.seller_user_id, 'posted on behalf of the seller');
    assert.ok(conf[0].text.includes(round1.slots[round1.chosen].label), conf[0].text);
    for (const grid of [conf[0].sender_buttons, conf[0].receiver_buttons]) {
      assert.equal(grid.rows[0].buttons[0].caption, 'افزودن به تقویم');
      assert.equal(grid.rows[0].buttons[0].action.open_direct_link, round1.ics);
    }
    for (const side of ['seller', 'buyer']) {
      const msg = pane(side).locator('.msg', { hasText: '✅ قرار بازدید قطعی شد' });
      await msg.getByRole('button', { name: 'افزودن به تقویم', exact: true }).waitFor();
    }
    toDocs(await shot(chatPage, 'confirmed-in-chat', { locator: chatPage.locator('main') }), 'visit-4-confirmed-in-chat.png');

    // The buyer opens the add-on again: the confirmed visit, the calendar link, «لغو قرار».
    const popup = await popupFrom(() => chatPage.click('.side[data-side=buyer] .addons'));
    await popup.waitForSelector('#visit-body[data-view="confirmed"]');
    assert.equal(await popup.getAttribute('#ics', 'href'), round1.ics);
    assert.equal(await popup.textContent('#cancel-visit'), 'لغو قرار');
    assert.equal(await popup.textContent('#v-note'), 'لطفاً زنگ واحد ۳ را بزنید.');
    toDocs(await shot(popup, 'confirmed-page'), 'visit-5-confirmed-page.png');
    const buyerHandle = await handleOf(popup);
    for (const h of [buyerHandle, round1.sellerHandle]) {
      const v = await visitState(h);
      assert.equal(v.proposal.status.kind, 'confirmed');
      assert.equal(v.proposal.ics_url, round1.ics);
    }
    assert.deepEqual(await cspOf(popup), []);
    await popup.close();

    // The calendar file, as the button's direct link fetches it.
    const r = await fetch(round1.ics);
    const text = await r.text();
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/calendar/);
    assert.match(r.headers.get('content-disposition') || '', /attachment/);
    assert.ok(text.startsWith('BEGIN:VCALENDAR'), text);
    const at = round1.slots[round1.chosen].at;
    assert.ok(text.includes(`DTSTART:${utcStamp(at)}`), `DTSTART:${utcStamp(at)} in\n${text}`);
    assert.match(text, /END:VCALENDAR\s*$/);
  });

  let round2;

  test('5. a second proposal with a hostile note: plain text on the page, bidi override gone, no CSP violation', async () => {
    assert.ok(round1 && round1.ics, 'round 1 was confirmed');
    const popup = await popupFrom(() => chatPage.click('.side[data-side=buyer] .addons'));
    await popup.waitForSelector('#visit-body[data-view="confirmed"]');
    await popup.click('#new-proposal');
    await popup.waitForSelector('#visit-body[data-view="propose"]');
    assert.equal(await popup.evaluate(() => document.activeElement && document.activeElement.id), 'day-0');
    await fillProposal(popup, [[3, 660], [4, 1260]], HOSTILE_NOTE);
    await popup.click('#propose');
    await popup.waitForFunction(() => document.querySelector('#visit-status').textContent === 'پیشنهاد در گفتگو ارسال شد.', null, { timeout: 15_000 });
    await popup.waitForSelector('#visit-body[data-view="waiting"]');
    const expected = HOSTILE_NOTE.replace(/\u202E/g, '');
    assert.equal(await popup.textContent('#v-note'), expected);
    const page = await popup.evaluate(() => ({
      pwned: window.__pwned,
      images: document.querySelectorAll('img').length,
      scripts: [...document.querySelectorAll('script')].map((s) => s.getAttribute('src')),
      rlo: document.body.textContent.indexOf('\u202E'),
    }));
    assert.deepEqual(page, { pwned: undefined, images: 0, scripts: ['/app.js'], rlo: -1 });
    await shot(popup, 'hostile-note');
    const handle = await handleOf(popup);
    const v = await visitState(handle);
    assert.equal(v.proposal.note.replace(/\u202E/g, ''), expected);
    assert.notEqual(v.proposal.id, round1.id);
    assert.deepEqual(await cspOf(popup), []);
    assert.deepEqual(problems, [], 'no console error or page error on our pages');
    await popup.close();
    const inChat = (await messages()).filter((m) => m.text.startsWith('📅'));
    assert.equal(inChat.length, 2);
    round2 = { id: v.proposal.id, slots: v.proposal.slots, handle, text: inChat[1].text };
  });

  test('5b. the worker strips bidi controls from a visit note (state and chat message)', async () => {
    assert.ok(round2, 'round 2 was proposed');
    const v = await visitState(round2.handle);
    assert.ok(!v.proposal.note.includes('\u202E'), JSON.stringify(v.proposal.note));
    assert.ok(!round2.text.includes('\u202E'), 'the chat message has no RTL override');
  });

  test('2b. with permission, the seller\'s one tap confirms at once («✅ ثبت شد…»), in both panes', async () => {
    assert.ok(round2, 'round 2 was proposed');
    const before = (await messages()).length;
    const pages = context.pages().length;
    await proposalMsgs('seller').nth(1).getByRole('button', { name: round2.slots[0].short, exact: true }).click();
    const t = await toast(/^✅ ثبت شد/);
    assert.ok(t.includes(round2.slots[0].label), t);
    await waitFor(async () => (await messages()).length === before + 1, 'the confirmation in the chat');
    const last = (await messages()).pop();
    assert.ok(last.text.startsWith('✅ قرار بازدید قطعی شد'), last.text);
    assert.equal(last.sender_user_id, chat.seller_user_id);
    assert.equal(context.pages().length, pages, 'no page was opened');
    for (const side of ['seller', 'buyer']) {
      await pane(side).locator('.msg', { hasText: '✅ قرار بازدید قطعی شد' }).nth(1).waitFor();
    }
    const v = await visitState(round1.sellerHandle);
    assert.deepEqual(v.proposal.status, { kind: 'confirmed', slot: 0, by: 'SUPPLY' });
    const r = await fetch(v.proposal.ics_url);
    assert.ok((await r.text()).includes(`DTSTART:${utcStamp(round2.slots[0].at)}`));
    await shot(chatPage, 'one-tap-confirmed', { locator: chatPage.locator('main') });
  });

  test('6. an old proposal\'s button after a confirmation: the stale toast, nothing posted', async () => {
    assert.ok(round2, 'round 2 was proposed');
    const before = await messages();
    await proposalMsgs('seller').first().getByRole('button', { name: round1.slots[0].short, exact: true }).click();
    assert.equal(await toast(/معتبر نیست/), STALE_TOAST);
    await shot(chatPage, 'stale-toast');
    // The round-2 buttons are stale too, now that it is confirmed (hide the first toast first).
    await chatPage.evaluate(() => {
      document.querySelector('#toast').hidden = true;
    });
    await proposalMsgs('seller').nth(1).getByRole('button', { name: round2.slots[1].short, exact: true }).click();
    assert.equal(await toast(/معتبر نیست/), STALE_TOAST);
    const after = await messages();
    assert.equal(after.length, before.length, 'nothing new in the chat');
    const v = await visitState(round1.sellerHandle);
    assert.deepEqual(v.proposal.status, { kind: 'confirmed', slot: 0, by: 'SUPPLY' }, 'still the same visit');
  });
  test('7. the proposer cancels the visit, proposes again, changes the times (prefilled) and withdraws', async () => {
    assert.ok(round2, 'round 2 was confirmed');
    const popup = await popupFrom(() => chatPage.click('.side[data-side=buyer] .addons'));
    const posts = [];
    popup.on('request', (r) => r.method() === 'POST' && /\/api\/visit\//.test(r.url()) && posts.push([new URL(r.url()).pathname, JSON.parse(r.postData())]));
    await popup.waitForSelector('#visit-body[data-view="confirmed"]');
    await popup.click('#cancel-visit');
    await popup.waitForSelector('#visit-body[data-view="cancelled"]', { timeout: 15_000 });
    assert.equal(await popup.textContent('#visit-status'), 'لغو در گفتگو اعلام شد.');
    assert.equal(await popup.textContent('#v-ended'), 'قرار بازدید لغو شد.');
    assert.deepEqual(posts[0], ['/api/visit/cancel', { proposal_id: round2.id, idempotency_key: posts[0][1].idempotency_key }]);

    await popup.click('#new-proposal');
    await fillProposal(popup, [[5, 540], [6, 570]], 'بار سوم');
    await popup.click('#propose');
    await popup.waitForSelector('#visit-body[data-view="waiting"]', { timeout: 15_000 });
    const handle = await handleOf(popup);
    const third = (await visitState(handle)).proposal;

    // «تغییر زمان‌ها»: the form again, with the same days, times and note.
    await popup.click('#change');
    await popup.waitForSelector('#visit-body[data-view="propose"]');
    assert.deepEqual(
      await popup.evaluate(() => [0, 1].map((i) => [document.getElementById(`day-${i}`).value, document.getElementById(`time-${i}`).value])),
      [['5', '540'], ['6', '570']],
    );
    assert.equal(await popup.inputValue('#note'), 'بار سوم');
    await popup.selectOption('#time-1', '600');
    await popup.click('#propose');
    await popup.waitForFunction(() => document.querySelector('#visit-body').getAttribute('data-view') === 'waiting' && document.querySelector('#visit-status').textContent === 'پیشنهاد در گفتگو ارسال شد.', null, { timeout: 15_000 });
    const changed = (await visitState(handle)).proposal;
    assert.notEqual(changed.id, third.id, 'a change is a new proposal that replaces the old one');
    assert.equal(changed.slots[0].at, third.slots[0].at);
    assert.equal(changed.slots[1].at, third.slots[1].at + 30 * 60);

    await popup.click('#cancel-proposal');
    await popup.waitForSelector('#visit-body[data-view="cancelled"]', { timeout: 15_000 });
    assert.equal((await visitState(round1.sellerHandle)).proposal.status.kind, 'cancelled');
    assert.equal(await popup.textContent('#new-proposal'), 'پیشنهاد زمان جدید');
    await shot(popup, 'cancelled');
    const texts = (await messages()).map((m) => m.text);
    // Each says who did what: the agreed visit called off, then a proposal withdrawn.
    const off = texts.filter((t) => t.startsWith('❌ '));
    assert.equal(off.length, 2, JSON.stringify(off));
    assert.match(off[0], /^❌ (خریدار|فروشنده) قرار بازدید .+ را لغو کرد\.$/);
    assert.match(off[1], /^❌ (خریدار|فروشنده) پیشنهاد زمان بازدید را پس گرفت\.$/);
    assert.deepEqual(await cspOf(popup), []);
    assert.deepEqual(problems, []);
    await popup.close();
  });
});
