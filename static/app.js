/*
 * kenar-edge webview page: visit scheduling, and the seller's assistant for a seller on their
 * post. ES5 only (Android 5 WebView); what Divar or a person sent goes in as textContent only.
 * The session handle comes in the fragment (#h=…), is kept in sessionStorage and leaves the
 * address bar; a message button's data is in extra_data (v = answer|manage|propose, p = id).
 * A step that posts into the chat is a draft {kind, body} with an idempotency_key, kept in
 * sessionStorage; on `needs_consent`, POST /api/oauth/start gives Divar's consent page (the only
 * off-site navigation), Divar sends the person back to #h=…&oauth=<outcome>[&for=assistant], and
 * on `granted` the same draft goes again with the same key: one outbox item, never two.
 * The wrapper's body is not indented: the page has a 50 KB budget (bench/page-weight.mjs).
 */
(function () {
'use strict';

var STORAGE_KEY = 'kenar-edge.handle';
var DRAFT_KEY = 'kenar-edge.draft';
var REQUEST_TIMEOUT_MS = 20000;
var MAX_TEXT = 1000;
var MAX_NOTE = 200;
var MAX_SLOTS = 3;
var REFRESH_MS = 20000;
/* While a change is on its way into the chat, look again soon. */
var IN_FLIGHT_REFRESH_MS = 3000;
var DIGITS = '۰۱۲۳۴۵۶۷۸۹';

var TEXT = {
  loading: 'در حال بارگذاری…',
  ready: 'اطلاعات گفتگو بارگذاری شد.',
  expired: 'نشست نامعتبر است یا منقضی شده.',
  failed: 'ارتباط با سرور برقرار نشد.',
  unknown: 'نامشخص',
  empty: '—',
  sending: 'در حال ارسال…',
  toConsent: 'برای ارسال در گفتگو باید در دیوار اجازه بدهید…',
  sentOk: 'پیام در گفتگو ارسال شد.',
  queued: 'دیوار پاسخ نداد؛ پیام در صف ماند و دوباره ارسال می‌شود.',
  inFlight: 'تغییر قبلی در حال رسیدن به گفتگو است؛ چند لحظه دیگر این صفحه به‌روز می‌شود.',
  notSent: 'ارسال نشد.',
  emptyText: 'لطفاً متن پیام را بنویسید.',
  longText: 'پیام نباید بیشتر از ۱۰۰۰ نویسه باشد.',
  sendFailed: 'ارسال انجام نشد. اتصال را بررسی کنید و دوباره تلاش کنید.',
  refused: 'سرور این پیام را نپذیرفت.',
  denied: 'اجازه ارسال پیام داده نشد.',
  oauthFailed: 'دریافت اجازه از دیوار انجام نشد.',
  oauthUnavailable: 'دیوار در دسترس نبود و اجازه ثبت نشد.',
  stillNeeded: 'اجازه ارسال پیام هنوز ثبت نشده است.',
  visitFailed: 'وضعیت قرار بازدید دریافت نشد.',
  noChat: 'این بخش فقط از داخل یک گفتگوی دیوار کار می‌کند.',
  noTime: 'دست‌کم یک زمان انتخاب کنید.',
  duplicate: 'یک زمان را دو بار انتخاب کرده‌اید.',
  longNote: 'یادداشت نباید بیشتر از ۲۰۰ نویسه باشد.',
  proposed: 'پیشنهاد در گفتگو ارسال شد.',
  confirmedOk: 'قرار بازدید قطعی شد و در گفتگو ارسال شد.',
  answered: 'پاسخ شما در گفتگو ارسال شد.',
  cancelledOk: 'لغو در گفتگو اعلام شد.',
  stale: 'این پیشنهاد دیگر معتبر نیست؛ وضعیت فعلی را می‌بینید.'
};

/* The worker's 422 reasons (src/visit/model.rs), in Persian. */
var REASONS = [
  [/no longer open/, TEXT.stale],
  [/other side can answer/, 'نوبت پاسخ شما نیست؛ منتظر طرف دیگر گفتگو بمانید.'],
  [/side that proposed/, 'فقط پیشنهاددهنده می‌تواند آن را تغییر دهد یا لغو کند.'],
  [/next 60 days/, 'زمان‌ها باید در آینده و در ۶۰ روز پیش رو باشند.'],
  [/different times/, 'یک تا سه زمان متفاوت پیشنهاد دهید.'],
  [/note/, TEXT.longNote],
  [/no such time/, 'این زمان در پیشنهاد نیست.']
];

var STATE_LABELS = {
  pending: 'در حال ارسال',
  sent: 'ارسال شد',
  waiting: 'در صف ارسال؛ دوباره تلاش می‌کنیم',
  needs_consent: 'منتظر اجازه شما',
  failed: 'ارسال نشد'
};

var FAILED_LABELS = {
  recipient_restricted: 'گیرنده نمی‌تواند پیام دریافت کند',
  divar_unavailable: 'دیوار در دسترس نبود',
  rejected_by_divar: 'دیوار پیام را نپذیرفت'
};

var SIDE_LABELS = { SUPPLY: 'فروشنده', DEMAND: 'خریدار' };

var SOURCE_LABELS = {
  CHAT: 'منوی افزونه‌های گفتگو',
  CHAT_MESSAGE_ACTION: 'دکمهٔ یک پیام در گفتگو',
  POST_ADDON: 'افزونهٔ آگهی',
  LEGACY: 'گفتگو (نسخهٔ قدیمی دیوار)'
};

/* The facts shown about a launch, in order: [context key, Persian label, formatter]. */
var FIELDS = [
  ['source', 'ورود از', sourceLabel],
  ['user_side', 'نقش شما در گفتگو', sideLabel],
  ['post_token', 'شناسهٔ آگهی', null],
  ['conversation_id', 'شناسهٔ گفتگو', null]
];

var state = {
  handle: null, oauth: null, fresh: false, busy: false, items: [], timer: null,
  extra: {}, visit: null, editing: false, prefill: null, vtimer: null,
  oauthFor: null, assistant: null, atimer: null, aseq: 0, afilled: false
};

/* ---------- small DOM helpers ---------- */

function byId(id) {
  return document.getElementById(id);
}

function setHidden(el, hidden) {
  if (!el) return;
  if (hidden) el.setAttribute('hidden', '');
  else el.removeAttribute('hidden');
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

function setText(el, text) {
  if (el) el.textContent = text;
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

function forgetHandle() {
  state.handle = null;
  store(STORAGE_KEY, null);
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
  message: '/api/messages',
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

function loadDraft() {
  try {
    var d = JSON.parse(stored(DRAFT_KEY) || 'null');
    if (d && DRAFT_PATHS.hasOwnProperty(d.kind) && d.body && typeof d.body === 'object' &&
        /^[A-Za-z0-9_-]{8,64}$/.test(d.body.idempotency_key || '')) return d;
  } catch (e) { /* unreadable: no draft */ }
  return null;
}

function saveDraft(draft) {
  store(DRAFT_KEY, JSON.stringify(draft));
}

function clearDraft() {
  store(DRAFT_KEY, null);
}

/* ---------- the worker's JSON API ---------- */

/* callback(status, body): status 0 means no answer (network error or timeout). */
function api(method, path, callback, payload) {
  var xhr = new XMLHttpRequest();
  var finished = false;
  function finish(status, text) {
    if (finished) return;
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
  forgetHandle();
  setBusy(false);
  showView('view-expired', TEXT.expired);
}

function showError() {
  showView('view-error', TEXT.failed);
}

function sideLabel(value) {
  return SIDE_LABELS[value] || TEXT.unknown;
}

function sourceLabel(value) {
  return SOURCE_LABELS[value] || String(value);
}

function displayValue(value) {
  if (value === null || value === undefined || value === '') return TEXT.empty;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch (e) {
    return String(value);
  }
}

/* Appends one <dt>label</dt><dd>value</dd>; `code` marks machine values (left to right). */
function addFact(list, label, value, code, key) {
  list.appendChild(el('dt', { text: label }));
  list.appendChild(el('dd', { text: value, 'class': code ? 'code' : null, dir: code ? 'ltr' : null, 'data-field': key }));
}

function renderContext(ctx) {
  var list = byId('context');
  clear(list);
  for (var i = 0; i < FIELDS.length; i++) {
    var key = FIELDS[i][0];
    var format = FIELDS[i][2];
    var raw = ctx[key];
    var missing = raw === null || raw === undefined || raw === '';
    var value = format && !missing ? format(raw) : displayValue(raw);
    if (format && missing) value = TEXT.unknown;
    addFact(list, FIELDS[i][1], value, !format && !missing, key);
  }
  var extra = ctx.extra_data && typeof ctx.extra_data === 'object' ? ctx.extra_data : {};
  state.extra = extra;
  list = byId('extra');
  clear(list);
  var keys = Object.keys(extra);
  for (i = 0; i < keys.length; i++) addFact(list, keys[i], displayValue(extra[keys[i]]), true, null);
  setHidden(byId('extra-block'), keys.length === 0);
}

/* ---------- posting a draft (shared by the visit steps and the free message) ---------- */

function setBusy(busy) {
  state.busy = busy;
  var buttons = document.querySelectorAll('#view-session button');
  for (var i = 0; i < buttons.length; i++) {
    if (buttons[i].getAttribute('data-keep') !== 'on') buttons[i].disabled = busy;
  }
  byId('app').setAttribute('aria-busy', busy ? 'true' : 'false');
}

function say(kind, text) {
  setText(byId(kind === 'message' ? 'compose-status' : kind === 'assistant' ? 'a-msg' : 'visit-status'), text);
}

function showConsentProblem(kind, message) {
  if (kind === 'assistant') return aSay(message, true);
  var pre = kind === 'message' ? '' : 'v-';
  setText(byId(pre + 'consent-message'), message);
  setHidden(byId(pre + 'consent'), false);
  say(kind, '');
}

function hideConsentProblems() {
  setHidden(byId('consent'), true);
  setHidden(byId('v-consent'), true);
}

/* Asks the worker for Divar's consent page and goes there: the only off-site navigation. */
function askConsent(kind) {
  if (state.busy) return;
  setBusy(true);
  hideConsentProblems();
  say(kind, TEXT.toConsent);
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
 * POSTs the draft. done(delivery, body) runs once the worker answered 200 with a delivery
 * that is final or queued. `mayAskConsent` is false right after a grant, so a refusal cannot
 * loop back to Divar.
 */
function postDraft(draft, mayAskConsent, done) {
  if (state.busy) return;
  setBusy(true);
  hideConsentProblems();
  say(draft.kind, TEXT.sending);
  api('POST', DRAFT_PATHS[draft.kind], function (status, body) {
    setBusy(false);
    var delivery = body && (draft.kind === 'message' ? body.item && body.item.state : body.delivery);
    if (status === 200 && typeof delivery === 'string') {
      if (delivery === 'needs_consent') {
        done(delivery, body);
        if (mayAskConsent) askConsent(draft.kind);
        else showConsentProblem(draft.kind, TEXT.stillNeeded);
        return;
      }
      if (delivery !== 'waiting' || draft.kind !== 'message') clearDraft();
      done(delivery, body);
      return;
    }
    if (status === 401) return showExpired();
    if (draft.kind === 'message') {
      say('message', status >= 400 && status < 500 ? TEXT.refused : TEXT.sendFailed);
    } else if (status === 422) {
      clearDraft();
      state.editing = false;
      loadVisit(reasonText(body));
    } else {
      say(draft.kind, status >= 400 && status < 500 ? TEXT.refused : TEXT.sendFailed);
    }
  }, draft.body);
}

/* ---------- the visit service ---------- */

function mine(v) {
  return !!(v.proposal && v.proposal.proposer === v.side);
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

function sendVisit(kind, body) {
  var draft = { kind: kind, body: body };
  body.idempotency_key = newKey();
  saveDraft(draft);
  postVisit(draft, true);
}

var DONE_TEXT = { propose: TEXT.proposed, answer: TEXT.answered, cancel: TEXT.cancelledOk };

function postVisit(draft, mayAskConsent) {
  postDraft(draft, mayAskConsent, function (delivery, body) {
    if (delivery === 'needs_consent') return;
    var text = DONE_TEXT[draft.kind];
    if (draft.kind === 'answer' && draft.body.slot !== undefined) text = TEXT.confirmedOk;
    if (delivery === 'waiting' || delivery === 'pending') text = TEXT.queued;
    if (delivery === 'failed') text = TEXT.notSent + ' ' + (FAILED_LABELS[body.reason] || '');
    if (delivery !== 'failed') {
      state.editing = false;
      state.extra = {};
      state.prefill = null;
      state.prefillNote = '';
    }
    loadVisit(text);
  });
}

/* Day and time of a slot, for prefilling the form: {day index, minutes} or null. */
function slotParts(at, days) {
  for (var i = 0; i < days.length; i++) {
    var m = (at - days[i].start) / 60;
    if (m >= 0 && m < 1440) return { day: i, min: m };
  }
  return null;
}

/* The times of day offered, 08:00–21:30 every half hour, in minutes after midnight. */
function fillTimes(sel, day, v, keep) {
  clear(sel);
  sel.appendChild(el('option', { value: '', text: 'انتخاب ساعت' }));
  for (var m = 480; m <= 1290; m += 30) {
    if (day.start + m * 60 <= v.now + 60) continue;
    var o = el('option', { value: String(m), text: fa(pad(Math.floor(m / 60)) + ':' + pad(m % 60)) });
    if (String(m) === String(keep)) o.selected = true;
    sel.appendChild(o);
  }
}

function slotRow(v, i, pick) {
  var days = v.days;
  var daySel = el('select', { id: 'day-' + i, name: 'day' });
  /* Today only while a time is left today. */
  for (var d = days[0].start + 1290 * 60 > v.now + 60 ? 0 : 1; d < days.length; d++) {
    var o = el('option', { value: String(d), text: String(days[d].label) });
    if (pick && pick.day === d) o.selected = true;
    daySel.appendChild(o);
  }
  var timeSel = el('select', { id: 'time-' + i, name: 'time' });
  fillTimes(timeSel, days[+daySel.value], v, pick ? pick.min : '');
  daySel.onchange = function () {
    fillTimes(timeSel, days[+daySel.value], v, timeSel.value);
  };
  var row = el('fieldset', { 'class': 'slot' }, [
    el('legend', { text: 'زمان ' + fa(i + 1) }),
    el('label', { 'for': 'day-' + i, text: 'روز' }), daySel,
    el('label', { 'for': 'time-' + i, text: 'ساعت' }), timeSel
  ]);
  return row;
}

function proposeForm(v) {
  var rows = el('div', { id: 'slots' });
  var note = el('textarea', { id: 'note', name: 'note', rows: '2', maxlength: String(MAX_NOTE), 'aria-describedby': 'note-count' });
  var count = el('p', { id: 'note-count', 'class': 'muted' });
  var add = el('button', { id: 'add-slot', 'class': 'button secondary', type: 'button', text: 'افزودن زمان دیگر' });
  var pre = state.prefill || [];
  var n = 0;
  function addRow(pick) {
    rows.appendChild(slotRow(v, n, pick));
    n++;
    setHidden(add, n >= MAX_SLOTS);
  }
  function counter() {
    count.textContent = fa(note.value.length) + ' از ' + fa(MAX_NOTE) + ' نویسه';
  }
  for (var i = 0; i < pre.length && i < MAX_SLOTS; i++) {
    var part = slotParts(pre[i], v.days);
    if (part) addRow(part);
  }
  if (!n) addRow(null);
  add.onclick = function () {
    if (n < MAX_SLOTS) addRow(null);
    byId('day-' + (n - 1)).focus();
  };
  note.value = state.prefillNote || '';
  note.oninput = counter;
  counter();
  var form = el('form', { id: 'v-form', 'class': 'compose', action: '/', method: 'post', novalidate: '' }, [
    el('p', { 'class': 'muted', text: 'تا سه زمان برای بازدید پیشنهاد دهید؛ طرف دیگر یکی را با یک لمس انتخاب می‌کند.' }),
    rows, add,
    el('label', { 'for': 'note', text: 'یادداشت (اختیاری)' }), note, count,
    el('button', { id: 'propose', 'class': 'button', type: 'submit', text: 'ارسال پیشنهاد در گفتگو' }),
    state.editing && v.proposal ? el('button', {
      id: 'edit-cancel', 'class': 'button secondary', type: 'button', text: 'انصراف از تغییر',
      on: function () {
        state.editing = false;
        renderVisit('');
      }
    }) : null
  ]);
  form.onchange = function () {
    say('propose', '');
  };
  form.onsubmit = function (e) {
    if (e && e.preventDefault) e.preventDefault();
    if (state.busy) return false;
    var slots = [];
    for (var j = 0; j < n; j++) {
      var t = byId('time-' + j);
      if (!t.value) continue;
      var at = v.days[+byId('day-' + j).value].start + (+t.value) * 60;
      for (var k = 0; k < slots.length; k++) {
        if (slots[k] === at) {
          say('propose', TEXT.duplicate);
          t.focus();
          return false;
        }
      }
      slots.push(at);
    }
    var text = note.value.replace(/^\s+|\s+$/g, '');
    if (!slots.length) {
      say('propose', TEXT.noTime);
      byId('time-0').focus();
      return false;
    }
    if (text.length > MAX_NOTE) {
      say('propose', TEXT.longNote);
      note.focus();
      return false;
    }
    sendVisit('propose', { slots: slots, note: text });
    return false;
  };
  return form;
}

function button(id, text, on, secondary) {
  return el('button', { id: id, 'class': 'button' + (secondary ? ' secondary' : ''), type: 'button', text: text, on: on });
}

function startEditing(p) {
  state.editing = true;
  state.prefill = [];
  for (var i = 0; p && i < p.slots.length; i++) state.prefill.push(p.slots[i].at);
  state.prefillNote = p ? p.note : '';
  renderVisit('');
  var first = byId('day-0');
  if (first) first.focus();
}

/* What this person sees and may do now; one small view per step. */
function renderVisit(statusText) {
  var v = state.visit;
  var box = byId('visit-body');
  var p = v.proposal;
  var kind = p && p.status ? p.status.kind : null;
  var view;
  var kids = [];
  clear(box);
  if (state.vtimer) clearTimeout(state.vtimer);
  state.vtimer = null;
  if (state.extra.p && (state.extra.v === 'answer' || state.extra.v === 'manage') &&
      (!p || p.id !== state.extra.p || kind !== 'open') && !statusText) {
    statusText = TEXT.stale;
  }
  if (v.can_propose && (state.editing || !p || (state.extra.v === 'propose' && kind !== 'open'))) {
    view = 'propose';
    kids.push(el('h3', { text: state.editing && kind === 'open' ? 'تغییر زمان‌های پیشنهادی' : 'پیشنهاد زمان بازدید' }), proposeForm(v));
  } else if (kind === 'open' && v.can_answer) {
    view = 'answer';
    kids.push(el('h3', { text: 'طرف گفتگو این زمان‌ها را پیشنهاد داده؛ یکی را انتخاب کنید:' }));
    var picks = el('div', { id: 'answer-slots', 'class': 'stack' });
    for (var i = 0; i < p.slots.length; i++) {
      picks.appendChild(button('pick-' + i, 'انتخاب: ' + p.slots[i].label, pickHandler(p.id, i)));
    }
    kids.push(picks, noteBlock(p), button('decline', 'هیچ‌کدام مناسب نیست', function () {
      sendVisit('answer', { proposal_id: p.id, decline: true });
    }, true));
  } else if (kind === 'open') {
    view = 'waiting';
    kids.push(el('h3', { text: mine(v) ? 'پیشنهاد شما؛ منتظر پاسخ طرف گفتگو' : 'منتظر پاسخ' }), timesList(p), noteBlock(p));
    if (v.can_propose) kids.push(button('change', 'تغییر زمان‌ها', function () {
      startEditing(p);
    }));
    if (v.can_cancel) kids.push(button('cancel-proposal', 'لغو پیشنهاد', cancelHandler(p.id), true));
    state.vtimer = setTimeout(function () {
      if (!state.busy && !state.editing) loadVisit('');
    }, REFRESH_MS);
  } else if (kind === 'confirmed') {
    view = 'confirmed';
    kids.push(el('h3', { text: 'قرار بازدید قطعی شد' }), timesList(p, p.status.slot), noteBlock(p));
    if (typeof p.ics_url === 'string' && p.ics_url.indexOf(location.protocol + '//' + location.host + '/ics/') === 0) {
      kids.push(el('a', { id: 'ics', 'class': 'button', href: p.ics_url, download: 'visit.ics', text: 'افزودن به تقویم' }));
    }
    if (v.can_cancel) kids.push(button('cancel-visit', 'لغو قرار', cancelHandler(p.id), true));
    if (v.can_propose) kids.push(button('new-proposal', 'پیشنهاد زمان جدید', function () {
      startEditing(null);
    }, true));
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
    if (state.vtimer) clearTimeout(state.vtimer);
    state.vtimer = setTimeout(function () {
      if (!state.busy && !state.editing) loadVisit('');
    }, IN_FLIGHT_REFRESH_MS);
  }
  for (var k = 0; k < kids.length; k++) if (kids[k]) box.appendChild(kids[k]);
  box.setAttribute('data-view', view);
  if (statusText !== undefined) say('visit', statusText);
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

/* GET /api/visit and show it; `statusText` is what to announce afterwards. */
function loadVisit(statusText, then) {
  say('visit', statusText ? statusText : TEXT.loading);
  api('GET', '/api/visit', function (status, body) {
    if (status === 200 && body && body.days && body.days.length) {
      state.visit = body;
      renderVisit(statusText || '');
      if (then) then();
    } else if (status === 401) {
      showExpired();
    } else {
      var box = byId('visit-body');
      clear(box);
      box.setAttribute('data-view', 'error');
      say('visit', status === 422 ? TEXT.noChat : TEXT.visitFailed);
      if (status !== 422) box.appendChild(button('visit-retry', 'تلاش دوباره', function () {
        loadVisit('');
      }));
    }
  });
}

/* ---------- the free message ---------- */

function stateLabel(item) {
  if (item.state === 'failed' && FAILED_LABELS[item.reason]) return FAILED_LABELS[item.reason];
  return STATE_LABELS[item.state] || TEXT.unknown;
}

function upsertItem(item) {
  for (var i = 0; i < state.items.length; i++) {
    if (state.items[i].id === item.id) {
      state.items[i] = item;
      return;
    }
  }
  state.items.push(item);
}

function renderItems() {
  var list = byId('messages');
  clear(list);
  var waiting = false;
  for (var i = 0; i < state.items.length; i++) {
    var item = state.items[i];
    if (!item || typeof item.text !== 'string') continue;
    list.appendChild(el('li', { 'class': 'message', 'data-id': String(item.id), 'data-state': String(item.state) }, [
      el('p', { 'class': 'message-text', text: plain(item.text) }),
      el('span', { 'class': 'message-state state-' + String(item.state).replace(/[^a-z_]/g, ''), text: stateLabel(item) })
    ]));
    if (item.state === 'waiting' || item.state === 'pending') waiting = true;
  }
  setHidden(byId('messages-empty'), list.childNodes.length > 0);
  /* Items waiting for the worker's retries: look again now and then. */
  if (state.timer) clearTimeout(state.timer);
  state.timer = waiting ? setTimeout(loadItems, REFRESH_MS) : null;
}

function loadItems() {
  api('GET', '/api/messages', function (status, body) {
    if (status === 200 && body && body.items && body.items.length !== undefined) {
      state.items = [];
      for (var i = 0; i < body.items.length; i++) upsertItem(body.items[i]);
      renderItems();
    } else if (status === 401) {
      showExpired();
    }
  });
}

function sendMessage(draft, mayAskConsent) {
  byId('free').open = true;
  postDraft(draft, mayAskConsent, function (delivery, body) {
    upsertItem(body.item);
    renderItems();
    if (delivery === 'sent' || delivery === 'failed') {
      var field = byId('text');
      if (field.value.replace(/^\s+|\s+$/g, '') === draft.body.text) field.value = '';
    }
    if (delivery === 'sent') say('message', TEXT.sentOk);
    else if (delivery === 'failed') say('message', TEXT.notSent + ' ' + stateLabel(body.item));
    else if (delivery === 'waiting') say('message', TEXT.queued);
  });
}

function onSubmit(e) {
  if (e && e.preventDefault) e.preventDefault();
  if (state.busy) return false;
  var field = byId('text');
  var text = field.value.replace(/^\s+|\s+$/g, '');
  var problem = !text ? TEXT.emptyText : text.length > MAX_TEXT ? TEXT.longText : '';
  if (problem) {
    say('message', problem);
    field.focus();
    return false;
  }
  /* The same text as the saved draft keeps its key: a retry is the same item, not a second. */
  var draft = loadDraft();
  if (!draft || draft.kind !== 'message' || draft.body.text !== text) {
    draft = { kind: 'message', body: { text: text, idempotency_key: newKey() } };
  }
  saveDraft(draft);
  sendMessage(draft, true);
  return false;
}

/* ---------- the seller's assistant (/api/assistant) ---------- */

var A_STATE = {
  off: 'دستیار خاموش است.',
  needs_consent: 'دستیار برای پاسخ دادن به اجازهٔ شما در دیوار نیاز دارد.',
  on: 'دستیار روشن است؛ به پیام‌های خریداران این آگهی پاسخ می‌دهد.',
  failing: 'دستیار پیام‌های این آگهی را از دیوار دریافت نمی‌کند.'
};
var A_WHO = { buyer: 'خریدار', seller: 'شما', app: 'دستیار' };
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
        if (oauthProblem(outcome)) aSay(oauthProblem(outcome), true);
        else if (body.status === 'on') aSay('دستیار روشن شد.');
        else if (body.status === 'needs_consent') aSay(TEXT.stillNeeded, true);
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

/* After the session is shown: the draft, and what Divar said about the grant. */
function resume() {
  if (state.fresh) {
    clearDraft();
    state.fresh = false;
  }
  var draft = loadDraft();
  var outcome = state.oauth;
  state.oauth = null;
  /* Consent asked for the assistant: its outcome is shown in the assistant's card only. */
  aLoad(state.oauthFor === 'assistant' ? outcome : null);
  if (state.oauthFor === 'assistant') outcome = null;
  state.oauthFor = null;
  var problem = oauthProblem(outcome);
  if (draft && draft.kind === 'message') {
    byId('free').open = true;
    if (!byId('text').value) byId('text').value = draft.body.text;
  } else if (draft && draft.kind === 'propose') {
    state.editing = true;
    state.prefill = draft.body.slots;
    state.prefillNote = draft.body.note;
  }
  loadItems();
  loadVisit('', function () {
    if (!draft) return;
    if (outcome === 'granted') {
      if (draft.kind === 'message') sendMessage(draft, false);
      else postVisit(draft, false);
    } else if (problem) {
      showConsentProblem(draft.kind, problem);
    }
  });
}

function loadSession() {
  if (!state.handle) {
    showExpired();
    return;
  }
  showView(null, TEXT.loading);
  api('GET', '/api/session', function (status, body) {
    if (status === 200 && body && body.context) {
      renderContext(body.context);
      showView('view-session', TEXT.ready);
      resume();
    } else if (status === 401) {
      showExpired();
    } else {
      showError();
    }
  });
}

function start() {
  state.handle = takeHandle();
  byId('retry').onclick = loadSession;
  byId('compose').onsubmit = onSubmit;
  byId('consent-retry').onclick = function () {
    askConsent('message');
  };
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
  loadSession();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, false);
else start();
})();
