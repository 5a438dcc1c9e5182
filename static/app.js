/*
 * kenar-edge webview page. ES5 only (Android 5 WebView): var, function, XMLHttpRequest.
 * Data from the server is only ever written with textContent, never as HTML.
 *
 * Flow: take the signed session handle from the URL fragment (#h=...), keep it in memory and
 * sessionStorage (the fragment is removed from the address bar, and a reload finds the handle
 * there), then GET /api/session with it and show the launch context.
 */
(function () {
  'use strict';

  var STORAGE_KEY = 'kenar-edge.handle';
  var REQUEST_TIMEOUT_MS = 15000;

  var TEXT = {
    loading: 'در حال بارگذاری…',
    ready: 'اطلاعات گفتگو بارگذاری شد.',
    expired: 'نشست نامعتبر است یا منقضی شده.',
    failed: 'ارتباط با سرور برقرار نشد.',
    unknown: 'نامشخص',
    empty: '—'
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

  var state = { handle: null };

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

  function handleFromFragment(hash) {
    var parts = (hash || '').replace(/^#/, '').split('&');
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].indexOf('h=') === 0) {
        try {
          return decodeURIComponent(parts[i].substring(2)) || null;
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
    if (fromUrl) {
      saveHandle(fromUrl);
      removeFragment();
      return fromUrl;
    }
    return loadSavedHandle();
  }

  /* ---------- the worker's JSON API ---------- */

  /* callback(status, body): status 0 means no answer (network error or timeout). */
  function api(method, path, callback) {
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
    xhr.send(null);
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
    loadSession();
  }

  /* A small surface for later features (OAuth, services) built on the same session. */
  window.KenarPage = { api: api, reload: loadSession, showExpired: showExpired, showError: showError };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, false);
  else start();
})();
