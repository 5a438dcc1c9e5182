/*
 * kenar-edge webview page. ES5 only (Android 5 WebView): var, function, XMLHttpRequest.
 * Data from the server is only ever written with textContent, never as HTML.
 *
 * Flow: take the signed session handle from the URL fragment (#h=...), keep it in memory and
 * sessionStorage (the fragment is removed from the address bar, and a reload finds the handle
 * there), then GET /api/session with it and show the launch context.
 *
 * Messaging: the person writes a message; it is kept as a draft {text, key} in sessionStorage
 * (key = a random idempotency key) and POSTed to /api/messages. When the worker answers
 * `needs_consent`, POST /api/oauth/start gives Divar's consent page, the only off-site
 * navigation. Divar sends the person back to #h=<handle>&oauth=<outcome>; on `granted` the same
 * draft is posted again with the same key, so it is the same outbox item, never a second one.
 */
(function () {
  'use strict';

  var STORAGE_KEY = 'kenar-edge.handle';
  var DRAFT_KEY = 'kenar-edge.draft';
  var REQUEST_TIMEOUT_MS = 20000;
  var MAX_TEXT = 1000;
  var REFRESH_MS = 20000;

  var TEXT = {
    loading: 'در حال بارگذاری…',
    ready: 'اطلاعات گفتگو بارگذاری شد.',
    expired: 'نشست نامعتبر است یا منقضی شده.',
    failed: 'ارتباط با سرور برقرار نشد.',
    unknown: 'نامشخص',
    empty: '—',
    sending: 'در حال ارسال پیام…',
    toConsent: 'برای ارسال پیام باید در دیوار اجازه بدهید…',
    sentOk: 'پیام در گفتگو ارسال شد.',
    queued: 'دیوار پاسخ نداد؛ پیام در صف ماند و دوباره ارسال می‌شود.',
    notSent: 'پیام ارسال نشد.',
    emptyText: 'لطفاً متن پیام را بنویسید.',
    longText: 'پیام نباید بیشتر از ۱۰۰۰ نویسه باشد.',
    sendFailed: 'ارسال انجام نشد. اتصال را بررسی کنید و دوباره تلاش کنید.',
    refused: 'سرور این پیام را نپذیرفت.',
    denied: 'اجازه ارسال پیام داده نشد.',
    oauthFailed: 'دریافت اجازه از دیوار انجام نشد.',
    oauthUnavailable: 'دیوار در دسترس نبود و اجازه ثبت نشد.',
    stillNeeded: 'اجازه ارسال پیام هنوز ثبت نشده است.'
  };

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

  var state = { handle: null, oauth: null, fresh: false, busy: false, items: [], timer: null };

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

  function handleFromFragment(hash) {
    return fragmentParam(hash, 'h');
  }

  function storage() {
    try {
      return window.sessionStorage || null;
    } catch (e) {
      return null; /* storage disabled in this webview */
    }
  }

  function saveHandle(handle) {
    var s = storage();
    try {
      if (s) s.setItem(STORAGE_KEY, handle);
    } catch (e) { /* quota or private mode: memory is enough */ }
  }

  function loadSavedHandle() {
    var s = storage();
    try {
      return s ? s.getItem(STORAGE_KEY) : null;
    } catch (e) {
      return null;
    }
  }

  function forgetHandle() {
    state.handle = null;
    var s = storage();
    try {
      if (s) s.removeItem(STORAGE_KEY);
    } catch (e) { /* nothing to do */ }
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
    var fromUrl = handleFromFragment(location.hash);
    var outcome = fragmentParam(location.hash, 'oauth');
    state.oauth = /^(granted|denied|failed|unavailable)$/.test(outcome || '') ? outcome : null;
    if (fromUrl) {
      /* A launch straight from Divar (no OAuth outcome) starts with no leftover draft. */
      state.fresh = !outcome;
      saveHandle(fromUrl);
      removeFragment();
      return fromUrl;
    }
    removeFragment();
    return loadSavedHandle();
  }

  /* ---------- the draft: {text, key}, kept across the trip to Divar's consent page ---------- */

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
    var s = storage();
    try {
      var d = s ? JSON.parse(s.getItem(DRAFT_KEY) || 'null') : null;
      if (d && typeof d.text === 'string' && typeof d.key === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(d.key)) return d;
    } catch (e) { /* unreadable: no draft */ }
    return null;
  }

  function saveDraft(draft) {
    var s = storage();
    try {
      if (s) s.setItem(DRAFT_KEY, JSON.stringify(draft));
    } catch (e) { /* memory only */ }
  }

  function clearDraft() {
    var s = storage();
    try {
      if (s) s.removeItem(DRAFT_KEY);
    } catch (e) { /* nothing to do */ }
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

  function showLoading() {
    showView(null, TEXT.loading);
  }

  function showExpired() {
    forgetHandle();
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
    var dt = document.createElement('dt');
    var dd = document.createElement('dd');
    dt.textContent = label;
    dd.textContent = value;
    if (code) {
      dd.className = 'code';
      dd.setAttribute('dir', 'ltr');
    }
    if (key) dd.setAttribute('data-field', key);
    list.appendChild(dt);
    list.appendChild(dd);
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
    renderExtra(ctx.extra_data);
  }

  function renderExtra(extra) {
    var list = byId('extra');
    clear(list);
    var keys = extra && typeof extra === 'object' ? Object.keys(extra) : [];
    for (var i = 0; i < keys.length; i++) addFact(list, keys[i], displayValue(extra[keys[i]]), true, null);
    setHidden(byId('extra-block'), keys.length === 0);
  }

  /* ---------- the page's flow ---------- */

  /* ---------- messages ---------- */

  function stateLabel(item) {
    if (item.state === 'failed' && FAILED_LABELS[item.reason]) return FAILED_LABELS[item.reason];
    return STATE_LABELS[item.state] || TEXT.unknown;
  }

  function isFinal(item) {
    return item.state === 'sent' || item.state === 'failed';
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
      var li = document.createElement('li');
      var text = document.createElement('p');
      var label = document.createElement('span');
      li.className = 'message';
      li.setAttribute('data-id', String(item.id));
      li.setAttribute('data-state', String(item.state));
      text.className = 'message-text';
      text.textContent = item.text;
      label.className = 'message-state state-' + String(item.state).replace(/[^a-z_]/g, '');
      label.textContent = stateLabel(item);
      li.appendChild(text);
      li.appendChild(label);
      list.appendChild(li);
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

  function composeStatus(text) {
    setText(byId('compose-status'), text);
  }

  function setBusy(busy) {
    state.busy = busy;
    var send = byId('send');
    if (send) send.disabled = busy;
    var again = byId('consent-retry');
    if (again) again.disabled = busy;
    var form = byId('compose');
    if (form) form.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function showConsentProblem(message) {
    setText(byId('consent-message'), message);
    setHidden(byId('consent'), false);
    composeStatus('');
  }

  function hideConsentProblem() {
    setHidden(byId('consent'), true);
  }

  /* Asks the worker for Divar's consent page and goes there: the only off-site navigation. */
  function askConsent() {
    if (state.busy) return;
    setBusy(true);
    hideConsentProblem();
    composeStatus(TEXT.toConsent);
    api('POST', '/api/oauth/start', function (status, body) {
      var url = body && typeof body.authorize_url === 'string' ? body.authorize_url : '';
      if (status === 200 && /^https?:\/\//.test(url)) {
        location.assign(url); /* stays busy: the page is leaving */
        return;
      }
      setBusy(false);
      if (status === 401) showExpired();
      else showConsentProblem(TEXT.oauthFailed);
    });
  }

  /* POSTs the draft; `mayAskConsent` is false right after a grant, so a refusal cannot loop. */
  function sendDraft(draft, mayAskConsent) {
    if (state.busy) return;
    setBusy(true);
    hideConsentProblem();
    composeStatus(TEXT.sending);
    api('POST', '/api/messages', function (status, body) {
      var item = body && body.item;
      if (status === 200 && item && typeof item.state === 'string') {
        upsertItem(item);
        renderItems();
        if (isFinal(item)) {
          clearDraft();
          var field = byId('text');
          if (field && field.value.replace(/^\s+|\s+$/g, '') === draft.text) field.value = '';
        }
        setBusy(false);
        if (item.state === 'needs_consent') {
          if (mayAskConsent) askConsent();
          else showConsentProblem(TEXT.stillNeeded);
        } else if (item.state === 'sent') {
          composeStatus(TEXT.sentOk);
        } else if (item.state === 'failed') {
          composeStatus(TEXT.notSent + ' ' + stateLabel(item));
        } else {
          composeStatus(TEXT.queued);
        }
        return;
      }
      setBusy(false);
      if (status === 401) showExpired();
      else if (status >= 400 && status < 500) composeStatus(TEXT.refused);
      else composeStatus(TEXT.sendFailed);
    }, { text: draft.text, idempotency_key: draft.key });
  }

  function onSubmit(e) {
    if (e && e.preventDefault) e.preventDefault();
    if (state.busy) return false;
    var field = byId('text');
    var text = field.value.replace(/^\s+|\s+$/g, '');
    if (!text) {
      composeStatus(TEXT.emptyText);
      field.focus();
      return false;
    }
    if (text.length > MAX_TEXT) {
      composeStatus(TEXT.longText);
      field.focus();
      return false;
    }
    /* The same text as the saved draft keeps its key: a retry is the same item, not a second. */
    var draft = loadDraft();
    if (!draft || draft.text !== text) draft = { text: text, key: newKey() };
    saveDraft(draft);
    sendDraft(draft, true);
    return false;
  }

  /* After the session is shown: the list, the draft, and what Divar said about the grant. */
  function resumeMessaging() {
    if (state.fresh) {
      clearDraft();
      state.fresh = false;
    }
    var draft = loadDraft();
    var field = byId('text');
    if (draft && field && !field.value) field.value = draft.text;
    var outcome = state.oauth;
    state.oauth = null;
    if (outcome === 'granted' && draft) {
      sendDraft(draft, false);
    } else if (outcome === 'denied') {
      showConsentProblem(TEXT.denied);
    } else if (outcome === 'failed') {
      showConsentProblem(TEXT.oauthFailed);
    } else if (outcome === 'unavailable') {
      showConsentProblem(TEXT.oauthUnavailable);
    }
    loadItems();
  }

  function loadSession() {
    if (!state.handle) {
      showExpired();
      return;
    }
    showLoading();
    api('GET', '/api/session', function (status, body) {
      if (status === 200 && body && body.context) {
        renderContext(body.context);
        showView('view-session', TEXT.ready);
        resumeMessaging();
      } else if (status === 401) {
        showExpired();
      } else {
        showError();
      }
    });
  }

  function start() {
    state.handle = takeHandle();
    var retry = byId('retry');
    if (retry) retry.onclick = loadSession;
    var form = byId('compose');
    if (form) form.onsubmit = onSubmit;
    var again = byId('consent-retry');
    if (again) again.onclick = askConsent;
    loadSession();
  }

  /* A small surface for later features built on the same session. */
  window.KenarPage = { api: api, reload: loadSession, showExpired: showExpired, showError: showError };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, false);
  else start();
})();
