/*
 * kenar-edge webview page: visit scheduling, and the seller's assistant for a seller on their
 * post. ES5 only (Android 5 WebView); what Divar or a person sent goes in as textContent only.
 * The session handle comes in the fragment (#h=…), is kept in sessionStorage and leaves the
 * address bar; a new #h= in an open window (Divar may reuse it) starts the page over. A chat
 * button's data is in extra_data (v = answer|manage|propose, p = proposal id, s = tapped time).
 * A step that posts into the chat is a draft {kind, body} with an idempotency_key, kept in
 * sessionStorage until the worker answers; on `needs_consent`, POST /api/oauth/start gives
 * Divar's consent page (the only off-site navigation), Divar sends the person back to
 * #h=…&oauth=<outcome>[&for=assistant], and the same draft goes again with the same key, also
 * after a reload: one outbox item, never two. What is typed in the form is kept too, so a
 * reload loses nothing. Errors are red, next to what caused them and scrolled into view.
 * The wrapper's body is not indented: the page has a 50 KB budget (bench/page-weight.mjs).
 */
(function () {
'use strict';

var STORAGE_KEY = 'kenar-edge.handle';
var DRAFT_KEY = 'kenar-edge.draft';
var FORM_KEY = 'kenar-edge.form';
var REQUEST_TIMEOUT_MS = 20000;
var MAX_NOTE = 200;
var MAX_SLOTS = 3;
var REFRESH_MS = 20000;
/* While a change is on its way into the chat, look again soon. */
var IN_FLIGHT_REFRESH_MS = 3000;
var DIGITS = '۰۱۲۳۴۵۶۷۸۹';

var TEXT = {
  loading: 'در حال بارگذاری…',
  failed: 'ارتباط با سرور برقرار نشد.',
  unknown: 'نامشخص',
  sending: 'در حال ارسال…',
  toConsent: 'برای ارسال در گفتگو باید در دیوار اجازه بدهید…',
  queued: 'دیوار پاسخ نداد؛ پیام در صف ماند و خودکار دوباره ارسال می‌شود.',
  inFlight: 'تغییر قبلی در حال رسیدن به گفتگو است؛ چند لحظه دیگر این صفحه به‌روز می‌شود.',
  notSent: 'ارسال نشد: ',
  sendFailed: 'ارسال نشد؛ پاسخی از سرور نرسید. اتصال اینترنت را بررسی کنید و دوباره بفرستید.',
  refused: 'سرور این درخواست را نپذیرفت. صفحه را دوباره باز کنید و دوباره تلاش کنید.',
  denied: 'اجازهٔ ارسال در گفتگو داده نشد، پس چیزی ارسال نشد. برای ارسال، «تلاش دوباره» را بزنید و در دیوار اجازه دهید.',
  oauthFailed: 'دریافت اجازه از دیوار انجام نشد. «تلاش دوباره» را بزنید.',
  oauthUnavailable: 'دیوار در دسترس نبود و اجازه ثبت نشد. چند لحظه بعد «تلاش دوباره» را بزنید.',
  stillNeeded: 'هنوز اجازهٔ ارسال در گفتگو ثبت نشده، پس چیزی ارسال نشد. «تلاش دوباره» را بزنید و در دیوار اجازه دهید.',
  visitFailed: 'وضعیت قرار بازدید دریافت نشد.',
  noChat: 'این بخش فقط از داخل یک گفتگوی دیوار کار می‌کند.',
  noTime: 'دست‌کم یک زمان انتخاب کنید.',
  duplicate: 'این زمان را دو بار انتخاب کرده‌اید؛ زمان دیگری انتخاب کنید.',
  longNote: 'یادداشت نباید بیشتر از ۲۰۰ نویسه باشد؛ کوتاه‌ترش کنید.',
  proposed: 'پیشنهاد در گفتگو ارسال شد.',
  confirmedOk: 'قرار بازدید قطعی شد و در گفتگو ارسال شد.',
  answered: 'پاسخ شما در گفتگو ارسال شد.',
  cancelledOk: 'لغو در گفتگو اعلام شد.',
  stale: 'این پیشنهاد دیگر معتبر نیست؛ وضعیت فعلی قرار بازدید را می‌بینید.'
};

/* The worker's 422 reasons (src/services/visit/model.rs), in Persian. */
var REASONS = [
  [/no longer open/, TEXT.stale],
  [/other side can answer/, 'نوبت پاسخ شما نیست؛ منتظر طرف دیگر گفتگو بمانید.'],
  [/side that proposed/, 'فقط پیشنهاددهنده می‌تواند آن را تغییر دهد یا لغو کند.'],
  [/next 60 days/, 'هر زمان باید دست‌کم یک ساعت بعد و در ۶۰ روز پیش رو باشد؛ زمان دیگری انتخاب کنید.'],
  [/different times/, 'یک تا سه زمان متفاوت پیشنهاد دهید.'],
  [/note/, TEXT.longNote],
  [/no such time/, 'این زمان در پیشنهاد نیست.']
];

var FAILED_LABELS = {
  recipient_restricted: 'طرف گفتگو اکنون نمی‌تواند پیام دریافت کند. بعداً دوباره بفرستید.',
  divar_unavailable: 'دیوار در دسترس نبود. چند لحظه بعد دوباره بفرستید.',
  rejected_by_divar: 'دیوار پیام را نپذیرفت.'
};

var SIDE_LABELS = { SUPPLY: 'فروشنده', DEMAND: 'خریدار' };

var state = null;

function newState(gen) {
  return {
    gen: gen, handle: null, oauth: null, fresh: false, busy: false, extra: {}, visit: null,
    editing: false, prefill: null, vtimer: null, oauthFor: null, assistant: null, atimer: null,
    aseq: 0, afilled: false
  };
}

/* ---------- small DOM helpers ---------- */

function byId(id) {
  return document.getElementById(id);
}

function setHidden(e, hidden) {
  if (!e) return;
  if (hidden) e.setAttribute('hidden', '');
  else e.removeAttribute('hidden');
}

function clear(e) {
  while (e.firstChild) e.removeChild(e.firstChild);
}

function setText(e, text) {
  if (e) e.textContent = text;
}

/* el('button', {id: 'x', 'class': 'button', text: 'متن'}, [children]); `on` = click handler. */
function el(tag, props, kids) {
  var e = document.createElement(tag);
  var k;
  for (k in props) {
    if (!props.hasOwnProperty(k) || props[k] === null || props[k] === undefined) continue;
    if (k === 'text') e.textContent = props[k];
    else if (k === 'on') e.onclick = props[k];
    else e.setAttribute(k, props[k]);
  }
  for (k = 0; kids && k < kids.length; k++) if (kids[k]) e.appendChild(kids[k]);
  return e;
}

function fa(s) {
  return String(s).replace(/[0-9]/g, function (d) {
    return DIGITS.charAt(+d);
  });
}

function pad(n) {
  return (n < 10 ? '0' : '') + n;
}

/* Brings `e` into view without jumping further than needed (old WebViews: plain scroll). */
function reveal(e) {
  try {
    e.scrollIntoView({ block: 'center' });
  } catch (x) {
    e.scrollIntoView(false);
  }
}

/* ---------- the session handle ---------- */

/* One parameter of the fragment (#h=…&oauth=…), decoded; null when absent or malformed. */
function fragmentParam(hash, name) {
  var parts = (hash || '').replace(/^#/, '').split('&');
  for (var i = 0; i < parts.length; i++) {
    if (parts[i].indexOf(name + '=') === 0) {
      try {
        return decodeURIComponent(parts[i].substring(name.length + 1)) || null;
      } catch (e) {
        return null;
      }
    }
  }
  return null;
}

function storage() {
  try {
    return window.sessionStorage || null;
  } catch (e) {
    return null; /* storage disabled in this webview */
  }
}

function store(key, value) {
  var s = storage();
  try {
    if (s && value === null) s.removeItem(key);
    else if (s) s.setItem(key, value);
  } catch (e) { /* quota or private mode: memory is enough */ }
}

function stored(key) {
  var s = storage();
  try {
    return s ? s.getItem(key) : null;
  } catch (e) {
    return null;
  }
}

/* Keeps the handle out of the address bar, history and anything copied from it. */
function removeFragment() {
  if (!location.hash) return;
  if (window.history && typeof history.replaceState === 'function') {
    try {
      history.replaceState(null, document.title, location.pathname + location.search);
    } catch (e) { /* leave the fragment rather than break the page */ }
  }
}

function takeHandle() {
  var fromUrl = fragmentParam(location.hash, 'h');
  var outcome = fragmentParam(location.hash, 'oauth');
  state.oauth = /^(granted|denied|failed|unavailable)$/.test(outcome || '') ? outcome : null;
  state.oauthFor = fragmentParam(location.hash, 'for');
  removeFragment();
  if (fromUrl) {
    /* A launch straight from Divar (no OAuth outcome) starts with no leftover draft. */
    state.fresh = !outcome;
    store(STORAGE_KEY, fromUrl);
    return fromUrl;
  }
  return stored(STORAGE_KEY);
}

/* ---------- the draft: {kind, body}, kept across the trip to Divar's consent page ---------- */

var DRAFT_PATHS = {
  propose: '/api/visit/propose',
  answer: '/api/visit/answer',
  cancel: '/api/visit/cancel'
};

function newKey() {
  var bytes = [];
  var c = window.crypto || window.msCrypto;
  var i;
  if (c && typeof c.getRandomValues === 'function' && typeof Uint8Array !== 'undefined') {
    var buf = new Uint8Array(16);
    c.getRandomValues(buf);
    for (i = 0; i < buf.length; i++) bytes.push(buf[i]);
  } else {
    for (i = 0; i < 16; i++) bytes.push(Math.floor(Math.random() * 256));
  }
  var hex = '';
  for (i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return 'm-' + hex;
}

function loadJson(key) {
  try {
    return JSON.parse(stored(key) || 'null');
  } catch (e) {
    return null; /* unreadable: nothing kept */
  }
}

function loadDraft() {
  var d = loadJson(DRAFT_KEY);
  if (d && DRAFT_PATHS.hasOwnProperty(d.kind) && d.body && typeof d.body === 'object' &&
      /^[A-Za-z0-9_-]{8,64}$/.test(d.body.idempotency_key || '')) return d;
  return null;
}

function clearDraft() {
  store(DRAFT_KEY, null);
}

/* ---------- the worker's JSON API ---------- */

/* callback(status, body): status 0 means no answer (network error or timeout). An answer for
   a page that has started over with another handle meanwhile is dropped. */
function api(method, path, callback, payload) {
  var xhr = new XMLHttpRequest();
  var gen = state.gen;
  var finished = false;
  function finish(status, text) {
    if (finished || gen !== state.gen) return;
    finished = true;
    var body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = null;
    }
    callback(status, body);
  }
  xhr.open(method, path, true);
  xhr.setRequestHeader('Accept', 'application/json');
  if (payload !== undefined) xhr.setRequestHeader('Content-Type', 'application/json');
  if (state.handle) xhr.setRequestHeader('Authorization', 'Bearer ' + state.handle);
  try {
    xhr.timeout = REQUEST_TIMEOUT_MS;
  } catch (e) { /* very old engines: no timeout */ }
  xhr.onreadystatechange = function () {
    if (xhr.readyState === 4) finish(xhr.status, xhr.responseText);
  };
  xhr.ontimeout = function () {
    finish(0, null);
  };
  xhr.onerror = function () {
    finish(0, null);
  };
  xhr.send(payload === undefined ? null : JSON.stringify(payload));
}

/* ---------- views ---------- */

var VIEWS = ['view-session', 'view-expired', 'view-error'];

function showView(id, statusText) {
  for (var i = 0; i < VIEWS.length; i++) setHidden(byId(VIEWS[i]), VIEWS[i] !== id);
  setText(byId('status'), statusText);
  document.body.setAttribute('data-state', id || 'loading');
}

function showExpired() {
  state.handle = null;
  store(STORAGE_KEY, null);
  setBusy(false);
  showView('view-expired', '');
}

/* ---------- success and error messages of the visit card ---------- */

/* Success only: errors never go here. */
function say(text) {
  setText(byId('visit-status'), text);
}

function clearError() {
  var e = byId('v-error');
  if (e) e.parentNode.removeChild(e);
  var bad = document.querySelectorAll('#visit [aria-invalid]');
  for (var i = 0; i < bad.length; i++) bad[i].removeAttribute('aria-invalid');
}

/* An error right after what caused it (a field or a button), or at the top of the card. */
function showError(text, near) {
  clearError();
  say('');
  var e = el('p', { id: 'v-error', 'class': 'error', role: 'alert', text: text });
  var box = byId('visit-body');
  if (near && near.parentNode) {
    near.parentNode.insertBefore(e, near.nextSibling);
    if (near.tagName !== 'BUTTON') {
      near.setAttribute('aria-invalid', 'true');
      near.focus();
    }
  } else {
    box.insertBefore(e, box.firstChild);
  }
  reveal(e);
}

/* ---------- posting a draft ---------- */

function setBusy(busy) {
  state.busy = busy;
  var buttons = document.querySelectorAll('#view-session button');
  for (var i = 0; i < buttons.length; i++) buttons[i].disabled = busy;
  byId('app').setAttribute('aria-busy', busy ? 'true' : 'false');
}

function showConsentProblem(kind, message) {
  if (kind === 'assistant') return aSay(message, true);
  say('');
  setText(byId('v-consent-message'), message);
  setHidden(byId('v-consent'), false);
  reveal(byId('v-consent'));
}

function hideConsentProblem() {
  setHidden(byId('v-consent'), true);
}

/* Asks the worker for Divar's consent page and goes there: the only off-site navigation. */
function askConsent(kind) {
  if (state.busy) return;
  setBusy(true);
  hideConsentProblem();
  if (kind !== 'assistant') say(TEXT.toConsent);
  api('POST', '/api/oauth/start', function (status, body) {
    var url = body && typeof body.authorize_url === 'string' ? body.authorize_url : '';
    if (status === 200 && /^https?:\/\//.test(url)) {
      location.assign(url); /* stays busy: the page is leaving */
      return;
    }
    setBusy(false);
    if (status === 401) showExpired();
    else showConsentProblem(kind, TEXT.oauthFailed);
  }, kind === 'assistant' ? { purpose: 'assistant' } : undefined);
}

function reasonText(body) {
  var m = body && typeof body.message === 'string' ? body.message : '';
  for (var i = 0; i < REASONS.length; i++) if (REASONS[i][0].test(m)) return REASONS[i][1];
  return TEXT.refused;
}

/*
 * POSTs the draft. done(delivery, body) runs when the worker answered 200 with a delivery;
 * fail(text) when it did not. `mayAskConsent` is false right after a grant or a reload, so a
 * refusal cannot loop back to Divar: the person is told and asks again with one tap.
 */
function postDraft(draft, mayAskConsent, done, fail) {
  if (state.busy) return;
  setBusy(true);
  hideConsentProblem();
  clearError();
  say(TEXT.sending);
  api('POST', DRAFT_PATHS[draft.kind], function (status, body) {
    setBusy(false);
    var delivery = body && body.delivery;
    if (status === 200 && typeof delivery === 'string') {
      if (delivery === 'needs_consent') {
        if (mayAskConsent) askConsent('visit');
        else showConsentProblem('visit', TEXT.stillNeeded);
        return;
      }
      clearDraft();
      done(delivery, body);
    } else if (status === 401) {
      showExpired();
    } else {
      /* A 422 will not pass as it is; anything else may be retried with the same key. */
      if (status === 422) clearDraft();
      say('');
      fail(status === 422 ? reasonText(body) : status >= 400 && status < 500 ? TEXT.refused : TEXT.sendFailed);
    }
  }, draft.body);
}

/* ---------- the visit service ---------- */

function sideName(side) {
  return SIDE_LABELS[side] || TEXT.unknown;
}

/* The times a proposal names, as a list of full Persian labels. */
function timesList(p, chosen) {
  var ul = el('ul', { id: 'v-times', 'class': 'times' });
  for (var i = 0; i < p.slots.length; i++) {
    if (chosen === undefined || chosen === i) ul.appendChild(el('li', { text: String(p.slots[i].label) }));
  }
  return ul;
}

/* What a person typed, without bidi overrides/isolates that could disguise it. */
function plain(s) {
  return String(s).replace(/[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g, '');
}

function noteBlock(p) {
  if (!p.note) return null;
  return el('p', { 'class': 'note' }, [el('strong', { text: 'یادداشت: ' }), el('span', { id: 'v-note', text: plain(p.note) })]);
}

/* The same step sent again (after an error, say) keeps its key: one item, never two. */
function sendVisit(kind, body) {
  var old = loadDraft();
  body.idempotency_key = old && old.kind === kind ? old.body.idempotency_key : '';
  if (!old || JSON.stringify(old.body) !== JSON.stringify(body)) body.idempotency_key = newKey();
  var draft = { kind: kind, body: body };
  store(DRAFT_KEY, JSON.stringify(draft));
  if (kind === 'propose') store(FORM_KEY, null); /* the draft holds what was typed now */
  postVisit(draft, true);
}

var DONE_TEXT = { propose: TEXT.proposed, answer: TEXT.answered, cancel: TEXT.cancelledOk };

function postVisit(draft, mayAskConsent) {
  postDraft(draft, mayAskConsent, function (delivery, body) {
    if (delivery === 'failed') return visitFailed(draft, TEXT.notSent + (FAILED_LABELS[body.reason] || TEXT.unknown));
    var text = DONE_TEXT[draft.kind];
    if (draft.kind === 'answer' && draft.body.slot !== undefined) text = TEXT.confirmedOk;
    if (delivery === 'waiting' || delivery === 'pending') text = TEXT.queued;
    state.editing = false;
    state.extra = {};
    state.prefill = null;
    loadVisit(function () {
      say(text);
    });
  }, function (text) {
    visitFailed(draft, text);
  });
}

/* Nothing was sent: the person's choice stays on screen, with the error next to it. */
function visitFailed(draft, text) {
  if (draft.kind === 'propose') {
    keepDraft(draft);
    renderVisit();
    showError(text, byId('propose'));
  } else {
    loadVisit(function () {
      showError(text);
    });
  }
}

/* Puts a draft's choice back on screen: the form as typed, or the tapped time. */
function keepDraft(draft) {
  var b = draft.body;
  if (draft.kind === 'propose') {
    state.editing = true;
    state.prefill = { slots: b.slots, note: b.note };
  } else if (draft.kind === 'answer' && b.slot !== undefined) {
    state.extra = { v: 'answer', p: b.proposal_id, s: String(b.slot) };
  }
}

/* The times of day offered, 08:00–21:30 every half hour, none before `earliest`. */
function fillTimes(sel, day, v, keep) {
  clear(sel);
  sel.appendChild(el('option', { value: '', text: 'انتخاب ساعت' }));
  for (var m = 480; m <= 1290; m += 30) {
    if (day.start + m * 60 < v.earliest) continue;
    var o = el('option', { value: String(m), text: fa(pad(Math.floor(m / 60)) + ':' + pad(m % 60)) });
    if (String(m) === String(keep)) o.selected = true;
    sel.appendChild(o);
  }
}

/* One time of the form; `pick` = [day index, minutes] as strings, or null. */
function slotRow(v, i, pick) {
  var days = v.days;
  var daySel = el('select', { id: 'day-' + i, name: 'day' });
  /* Today only while a time is left today. */
  for (var d = days[0].start + 1290 * 60 >= v.earliest ? 0 : 1; d < days.length; d++) {
    var o = el('option', { value: String(d), text: String(days[d].label) });
    if (pick && pick[0] === String(d)) o.selected = true;
    daySel.appendChild(o);
  }
  var timeSel = el('select', { id: 'time-' + i, name: 'time' });
  fillTimes(timeSel, days[+daySel.value], v, pick ? pick[1] : '');
  daySel.onchange = function () {
    fillTimes(timeSel, days[+daySel.value], v, timeSel.value);
  };
  return el('fieldset', { 'class': 'slot' }, [
    el('legend', { text: 'زمان ' + fa(i + 1) }),
    el('label', { 'for': 'day-' + i, text: 'روز' }), daySel,
    el('label', { 'for': 'time-' + i, text: 'ساعت' }), timeSel
  ]);
}

/* What the form starts with: a draft sent back (state.prefill {slots: [unix], note}), else what
   was typed before a reload (FORM_KEY {base, rows: [[day, minutes]], note}), else empty. */
function formStart(v) {
  var pre = state.prefill;
  var rows = [];
  var saved = loadJson(FORM_KEY);
  if (pre) {
    for (var i = 0; i < pre.slots.length; i++) {
      for (var d = 0; d < v.days.length; d++) {
        var m = (pre.slots[i] - v.days[d].start) / 60;
        if (m >= 0 && m < 1440) rows.push([String(d), String(m)]);
      }
    }
    return { rows: rows, note: pre.note || '' };
  }
  if (saved && saved.base === v.days[0].start && saved.rows) return saved;
  return { rows: [], note: '' };
}

function proposeForm(v) {
  var rows = el('div', { id: 'slots' });
  var note = el('textarea', { id: 'note', name: 'note', rows: '2', maxlength: String(MAX_NOTE), 'aria-describedby': 'note-count' });
  var count = el('p', { id: 'note-count', 'class': 'muted' });
  var add = el('button', { id: 'add-slot', 'class': 'button secondary', type: 'button', text: 'افزودن زمان دیگر' });
  var pre = formStart(v);
  var n = 0;
  function addRow(pick) {
    rows.appendChild(slotRow(v, n, pick));
    n++;
    setHidden(add, n >= MAX_SLOTS);
  }
  function counter() {
    count.textContent = fa(note.value.length) + ' از ' + fa(MAX_NOTE) + ' نویسه';
  }
  /* Every keystroke is kept: a reload comes back to this form as it was. A change also makes
     an unsent draft stale: the next «ارسال» sends what is on screen. */
  function keep() {
    var kept = { base: v.days[0].start, rows: [], note: note.value };
    for (var j = 0; j < n; j++) kept.rows.push([byId('day-' + j).value, byId('time-' + j).value]);
    store(FORM_KEY, JSON.stringify(kept));
    clearDraft();
    clearError();
    hideConsentProblem();
    counter();
  }
  for (var i = 0; i < pre.rows.length && i < MAX_SLOTS; i++) addRow(pre.rows[i]);
  if (!n) addRow(null);
  add.onclick = function () {
    if (n < MAX_SLOTS) addRow(null);
    keep();
    byId('day-' + (n - 1)).focus();
  };
  note.value = pre.note;
  counter();
  var form = el('form', { id: 'v-form', 'class': 'compose', action: '/', method: 'post', novalidate: '' }, [
    rows, add,
    el('label', { 'for': 'note', text: 'یادداشت (اختیاری)' }), note, count,
    el('button', { id: 'propose', 'class': 'button', type: 'submit', text: 'ارسال پیشنهاد در گفتگو' }),
    state.editing && v.proposal ? button('edit-cancel', 'انصراف از تغییر', function () {
      state.editing = false;
      state.prefill = null;
      store(FORM_KEY, null);
      clearDraft();
      renderVisit();
    }, true) : null
  ]);
  form.onchange = form.oninput = keep;
  form.onsubmit = function (e) {
    if (e && e.preventDefault) e.preventDefault();
    if (state.busy) return false;
    var slots = [];
    for (var j = 0; j < n; j++) {
      var t = byId('time-' + j);
      if (!t.value) continue;
      var at = v.days[+byId('day-' + j).value].start + (+t.value) * 60;
      for (var k = 0; k < slots.length; k++) if (slots[k] === at) return !!showError(TEXT.duplicate, t);
      slots.push(at);
    }
    var text = note.value.replace(/^\s+|\s+$/g, '');
    if (!slots.length) return !!showError(TEXT.noTime, byId('time-0'));
    if (text.length > MAX_NOTE) return !!showError(TEXT.longNote, note);
    sendVisit('propose', { slots: slots, note: text });
    return false;
  };
  return form;
}

function button(id, text, on, secondary) {
  return el('button', { id: id, 'class': 'button' + (secondary ? ' secondary' : ''), type: 'button', text: text, on: on });
}

function startEditing(p) {
  var slots = [];
  for (var i = 0; p && i < p.slots.length; i++) slots.push(p.slots[i].at);
  state.editing = true;
  state.prefill = { slots: slots, note: p ? p.note : '' };
  renderVisit();
  byId('day-0').focus();
}

/* What this person sees and may do now; one small view per step. */
function renderVisit() {
  var v = state.visit;
  var box = byId('visit-body');
  var p = v.proposal;
  var kind = p && p.status ? p.status.kind : null;
  var x = state.extra;
  /* The tapped time of this proposal, when the page was opened from its button. */
  var tapped = x.v === 'answer' && p && x.p === p.id && kind === 'open' && v.can_answer ? +x.s : -1;
  var stale = x.p && (x.v === 'answer' || x.v === 'manage') && (!p || p.id !== x.p || kind !== 'open');
  var view;
  var kids = [];
  clearError();
  clear(box);
  clearTimeout(state.vtimer);
  state.vtimer = null;
  /* What was typed before a reload comes back as the form. */
  if (!state.editing && v.can_propose && loadJson(FORM_KEY)) state.editing = true;
  if (v.can_propose && (state.editing || !p || (x.v === 'propose' && kind !== 'open'))) {
    view = 'propose';
    kids.push(el('h2', { text: state.editing && kind === 'open' ? 'تغییر زمان‌های پیشنهادی' : 'پیشنهاد زمان بازدید' }),
      el('p', { 'class': 'muted', text: 'تا سه زمان پیشنهاد دهید؛ طرف گفتگو یکی را با یک لمس انتخاب می‌کند.' }), proposeForm(v));
  } else if (tapped >= 0 && tapped < p.slots.length) {
    view = 'answer';
    kids.push(el('h2', { text: 'زمانی که در گفتگو انتخاب کردید' }), timesList(p, tapped), noteBlock(p),
      button('confirm', 'تأیید این زمان', pickHandler(p.id, tapped)),
      button('other-time', 'زمان دیگری را می‌خواهم', function () {
        state.extra = {};
        renderVisit();
      }, true));
  } else if (kind === 'open' && v.can_answer) {
    view = 'answer';
    kids.push(el('h2', { text: sideName(p.proposer) + ' این زمان‌ها را پیشنهاد داده؛ یکی را انتخاب کنید:' }));
    var picks = el('div', { id: 'answer-slots', 'class': 'stack' });
    for (var i = 0; i < p.slots.length; i++) {
      picks.appendChild(button('pick-' + i, 'انتخاب: ' + p.slots[i].label, pickHandler(p.id, i)));
    }
    kids.push(picks, noteBlock(p), button('decline', 'هیچ‌کدام مناسب نیست', function () {
      sendVisit('answer', { proposal_id: p.id, decline: true });
    }, true));
  } else if (kind === 'open') {
    view = 'waiting';
    kids.push(el('h2', { text: p.proposer === v.side ? 'پیشنهاد شما؛ منتظر پاسخ ' + sideName(p.proposer === 'SUPPLY' ? 'DEMAND' : 'SUPPLY') : 'منتظر پاسخ' }), timesList(p), noteBlock(p));
    if (v.can_propose) kids.push(button('change', 'تغییر زمان‌ها', function () {
      startEditing(p);
    }));
    if (v.can_cancel) kids.push(button('cancel-proposal', 'لغو پیشنهاد', cancelHandler(p.id), true));
    state.vtimer = setTimeout(refreshVisit, REFRESH_MS);
  } else if (kind === 'confirmed') {
    view = 'confirmed';
    kids.push(el('h2', { text: 'قرار بازدید قطعی شد' }), timesList(p, p.status.slot), noteBlock(p));
    if (typeof p.ics_url === 'string' && p.ics_url.indexOf(location.protocol + '//' + location.host + '/ics/') === 0) {
      kids.push(el('a', { id: 'ics', 'class': 'button', href: p.ics_url, download: 'visit.ics', text: 'افزودن به تقویم' }));
    }
    if (v.can_propose) kids.push(button('new-proposal', 'پیشنهاد زمان دیگر', function () {
      startEditing(null);
    }, true));
    if (v.can_cancel) kids.push(button('cancel-visit', 'لغو قرار', cancelHandler(p.id), true));
  } else if (kind === 'declined' || kind === 'cancelled') {
    view = kind;
    kids.push(el('p', { id: 'v-ended', text: kind === 'declined' ? 'هیچ‌کدام از زمان‌های پیشنهادی مناسب نبود.' : 'قرار بازدید لغو شد.' }));
    if (v.can_propose) kids.push(button('new-proposal', 'پیشنهاد زمان جدید', function () {
      startEditing(null);
    }));
  } else {
    view = 'none';
    kids.push(el('p', { text: 'طرف گفتگو هنوز زمانی پیشنهاد نداده است.' }));
  }
  if (v.in_flight) {
    /* A change (this side's or the other's) is still being sent: it takes effect once it is in
       the chat, so show that and look again shortly. */
    kids.push(el('p', { id: 'v-in-flight', 'class': 'note', text: TEXT.inFlight }));
    clearTimeout(state.vtimer);
    state.vtimer = setTimeout(refreshVisit, IN_FLIGHT_REFRESH_MS);
  }
  for (var k = 0; k < kids.length; k++) if (kids[k]) box.appendChild(kids[k]);
  box.setAttribute('data-view', view);
  if (stale) {
    state.extra = {};
    showError(TEXT.stale);
  }
}

function refreshVisit() {
  if (!state.busy && !state.editing) loadVisit();
}

function pickHandler(id, i) {
  return function () {
    sendVisit('answer', { proposal_id: id, slot: i });
  };
}

function cancelHandler(id) {
  return function () {
    sendVisit('cancel', { proposal_id: id });
  };
}

/* GET /api/visit and show it; `then` runs once it is on screen. */
function loadVisit(then) {
  api('GET', '/api/visit', function (status, body) {
    if (status === 200 && body && body.days && body.days.length) {
      state.visit = body;
      renderVisit();
      if (then) then();
    } else if (status === 401) {
      showExpired();
    } else {
      var box = byId('visit-body');
      clear(box);
      box.setAttribute('data-view', 'error');
      box.appendChild(el('p', { id: 'v-error', 'class': 'error', role: 'alert', text: status === 422 ? TEXT.noChat : TEXT.visitFailed }));
      if (status !== 422) box.appendChild(button('visit-retry', 'تلاش دوباره', function () {
        loadVisit();
      }));
    }
  });
}
/* ---------- the seller's assistant (/api/assistant) ---------- */

var A_STATE = {
  off: 'دستیار خاموش است.',
  needs_consent: 'دستیار برای پاسخ دادن به اجازهٔ شما در دیوار نیاز دارد.',
  on: 'دستیار روشن است؛ به پیام‌های خریداران این آگهی پاسخ می‌دهد.',
  failing: 'دستیار پیام‌های این آگهی را از دیوار دریافت نمی‌کند.'
};
var A_WHO = { buyer: 'خریدار', seller: 'شما', app: 'دستیار' };
/* What Divar said of the assistant's consent, in its card (its button is «اجازه از دیوار»). */
var A_PROBLEM = {
  denied: 'اجازه داده نشد، پس دستیار پاسخی نمی‌دهد. برای روشن کردنش «اجازه از دیوار» را بزنید.',
  failed: 'دریافت اجازه از دیوار انجام نشد. «اجازه از دیوار» را دوباره بزنید.',
  unavailable: 'دیوار در دسترس نبود و اجازه ثبت نشد. چند لحظه بعد «اجازه از دیوار» را دوباره بزنید.'
};
/* Two texts of the settings, then its four answers; inputs #a-<name>. */
var A_TEXTS = ['greeting', 'away', 'price', 'available', 'where', 'when'];

function aSay(text, error) {
  setText(byId('a-msg'), error ? '' : text);
  setText(byId('a-err'), error ? text : '');
  setHidden(byId('a-err'), !error);
}

function aHours() {
  byId('a-from').disabled = byId('a-to').disabled = !byId('a-hours').checked;
}

function aFill(s) {
  for (var i = 0; i < A_TEXTS.length; i++) byId('a-' + A_TEXTS[i]).value = (i < 2 ? s : s.answers || {})[A_TEXTS[i]] || '';
  byId('a-enabled').checked = !!s.enabled;
  byId('a-hours').checked = !!s.hours;
  byId('a-from').value = s.hours ? s.hours.from : '09:00';
  byId('a-to').value = s.hours ? s.hours.to : '21:00';
  aHours();
  state.afilled = true;
}

function aForm() {
  var s = { enabled: byId('a-enabled').checked, answers: {}, hours: null };
  for (var i = 0; i < A_TEXTS.length; i++) (i < 2 ? s : s.answers)[A_TEXTS[i]] = byId('a-' + A_TEXTS[i]).value;
  if (byId('a-hours').checked) s.hours = { from: byId('a-from').value, to: byId('a-to').value };
  return s;
}

/* HH:MM within a day, else «۲ روز پیش». */
function ago(ms) {
  var d = new Date(ms);
  var days = Math.floor((new Date().getTime() - ms) / 864e5);
  return fa(days > 0 ? days + ' روز پیش' : pad(d.getHours()) + ':' + pad(d.getMinutes()));
}

function aRender(v) {
  var st = String(v.status);
  var line = A_STATE[st] || '';
  var list = byId('a-list');
  var convs = v.conversations || [];
  state.assistant = v;
  byId('a-head').setAttribute('data-status', st);
  if (byId('a-state').textContent !== line) setText(byId('a-state'), line); /* announced once */
  setHidden(byId('a-consent'), st !== 'needs_consent');
  setHidden(byId('a-retry'), st !== 'failing');
  clear(list);
  for (var i = 0; i < convs.length; i++) {
    var c = convs[i];
    list.appendChild(el('li', { 'class': 'message', 'data-n': String(c.n) }, [
      el('p', { 'class': 'muted' }, [
        el('strong', { text: 'گفتگوی ' + fa(c.n) }),
        el('span', { text: ' · ' + (A_WHO[c.last_from] || TEXT.unknown) + ' · ' + ago(+c.last_at_ms) })
      ]),
      el('p', { 'class': 'message-text note', text: plain(c.last_text || '') }),
      c.seller_joined ? el('p', { 'class': 'badge', text: 'شما وارد گفتگو شدید؛ دستیار ساکت است' }) : null,
      c.visit && c.visit.label ? el('p', { 'class': 'a-visit', text: String(c.visit.label) }) : null
    ]));
  }
  setHidden(byId('a-empty'), convs.length > 0);
  setHidden(byId('assistant'), false);
}

function aStop() {
  clearTimeout(state.atimer);
}

/* Again every 5 s while the card is on screen; never touching the form. */
function aSchedule() {
  aStop();
  if (state.assistant && document.hidden !== true && !byId('view-session').hasAttribute('hidden')) {
    state.atimer = setTimeout(aLoad, 5000);
  }
}

/* `outcome`: what Divar said of the assistant's consent, to show once. */
function aLoad(outcome) {
  var seq = state.aseq;
  api('GET', '/api/assistant', function (status, body) {
    if (status === 401) return showExpired();
    if (seq !== state.aseq) return; /* a save's newer view came meanwhile */
    if (status === 200 && body && body.available === true) {
      if (!state.afilled) aFill(body.settings || {});
      aRender(body);
      if (typeof outcome === 'string') {
        if (outcome !== 'granted') aSay(A_PROBLEM[outcome] || A_PROBLEM.denied, true);
        else if (body.status === 'on') aSay('دستیار روشن شد.');
        else if (body.status === 'needs_consent') aSay(A_PROBLEM.denied, true);
        byId('assistant').scrollIntoView(true);
      }
    } else if (status === 200 || !state.assistant) {
      /* Not a seller on a post, or no answer at first: no assistant. */
      state.assistant = null;
      setHidden(byId('assistant'), true);
    }
    aSchedule();
  });
}

/* A 422 next to the field it names (settings.answers.price → #a-price). */
function aFieldError(body) {
  var m = body && typeof body.message === 'string' ? body.message : '';
  var f = body && typeof body.field === 'string' ? body.field : (/invalid field (\S+):/.exec(m) || [])[1];
  var input = f && byId('a-' + f.split('.').pop());
  var err = byId('a-field-error');
  var text = /longer/.test(m) ? 'این متن نباید بیشتر از ۵۰۰ نویسه باشد.' :
    /hours are set/.test(m) ? 'با ساعت کاری، این پیام لازم است.' : 'این مقدار پذیرفته نشد.';
  if (!input || !byId('a-form').contains(input)) return aSay(text, true);
  input.parentNode.insertBefore(err, input.nextSibling);
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', 'a-field-error');
  setText(err, text);
  setHidden(err, false);
  input.focus();
  err.scrollIntoView(false);
}

function aSave(e) {
  if (e && e.preventDefault) e.preventDefault();
  if (state.busy) return false;
  var bad = document.querySelectorAll('#a-form [aria-invalid]');
  for (var i = 0; i < bad.length; i++) bad[i].removeAttribute('aria-invalid');
  setHidden(byId('a-field-error'), true);
  setBusy(true);
  aSay('در حال ذخیره…');
  state.aseq++;
  api('POST', '/api/assistant/settings', function (status, body) {
    setBusy(false);
    if (status === 200 && body && body.available === true) {
      aFill(body.settings || {});
      aRender(body);
      aSay('تنظیمات ذخیره شد.');
      if (body.settings && body.settings.enabled && body.status === 'needs_consent') askConsent('assistant');
      aSchedule();
    } else if (status === 401) {
      showExpired();
    } else if (status === 422) {
      aSay('');
      aFieldError(body);
    } else {
      aSay(status && status < 500 ? TEXT.refused : TEXT.sendFailed, true);
    }
  }, { idempotency_key: newKey(), settings: aForm() });
  return false;
}

/* ---------- the page's flow ---------- */

function oauthProblem(outcome) {
  return { denied: TEXT.denied, failed: TEXT.oauthFailed, unavailable: TEXT.oauthUnavailable }[outcome || ''];
}

/*
 * After the session is shown: a draft still here was sent and not yet answered (the page came
 * back from Divar's consent page, or was reloaded meanwhile), so it goes again with its key;
 * when Divar said no, its choice stays on screen with the notice and «تلاش دوباره».
 */
function resume() {
  if (state.fresh) {
    clearDraft();
    store(FORM_KEY, null);
  }
  var draft = loadDraft();
  var forAssistant = state.oauthFor === 'assistant';
  var problem = forAssistant ? null : oauthProblem(state.oauth);
  /* Consent asked for the assistant: its outcome is shown in the assistant's card only. */
  aLoad(forAssistant ? state.oauth : null);
  if (draft) keepDraft(draft);
  if (draft && !problem) state.editing = false;
  loadVisit(function () {
    if (problem && draft) showConsentProblem('visit', problem);
    else if (draft) postVisit(draft, false);
  });
}

function loadSession() {
  if (!state.handle) return showExpired();
  showView(null, TEXT.loading);
  api('GET', '/api/session', function (status, body) {
    if (status === 200 && body && body.context) {
      var extra = body.context.extra_data;
      state.extra = extra && typeof extra === 'object' ? extra : {};
      showView('view-session', '');
      resume();
    } else if (status === 401) {
      showExpired();
    } else {
      showView('view-error', TEXT.failed);
    }
  });
}

/* The page starts over: on load, and when Divar points an open window at a new #h=. */
function boot() {
  if (state) {
    clearTimeout(state.vtimer);
    aStop();
  }
  state = newState(state ? state.gen + 1 : 0);
  state.handle = takeHandle();
  clear(byId('visit-body'));
  say('');
  hideConsentProblem();
  setHidden(byId('assistant'), true);
  setBusy(false);
  loadSession();
}

function start() {
  byId('retry').onclick = loadSession;
  byId('v-consent-retry').onclick = function () {
    askConsent('visit');
  };
  byId('a-form').onsubmit = aSave;
  byId('a-retry').onclick = aSave;
  byId('a-hours').onchange = aHours;
  byId('a-consent').onclick = function () {
    askConsent('assistant');
  };
  document.addEventListener('visibilitychange', function () {
    if (document.hidden === true) aStop();
    else if (state.assistant && state.handle) aLoad(null);
  }, false);
  window.addEventListener('pagehide', aStop, false);
  window.addEventListener('hashchange', function () {
    if (fragmentParam(location.hash, 'h')) boot();
  }, false);
  boot();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, false);
else start();
})();
