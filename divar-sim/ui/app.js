// The chat UI drives the simulator only through the /_sim control API, so everything it does
// is something a test can do too.
'use strict';
const $ = (sel, el) => (el || document).querySelector(sel);
let chats = [];
let current = null;
// The open chatbot conversation: whose it is and its id (null while the pane is closed).
let bot = { user: null, conv: null };
let since = { d: 0, r: 0 };
const TOUCHPOINT_NEEDS = { MY_POST: 'post', DEMAND_POST: 'post', CHAT: 'chat', MY_DIVAR: null, DIVAR_PRO: null };

function short(id) { return id ? id.slice(0, 10) + '…' : ''; }

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || r.status);
  return j;
}

function toast(text) {
  const t = $('#toast');
  t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}

// Divar's web client opens add-ons in a phone-sized pop-up; the window must be opened in the
// click handler itself or the browser blocks it, so it starts blank and is pointed later.
function popup() {
  return window.open('about:blank', 'kenar-addon', 'popup,width=400,height=760');
}

function follow(win, result) {
  if (!result) { if (win) win.close(); return; }
  if (result.kind === 'open_direct_link' || (result.kind === 'open_server_link' && result.url)) {
    if (win) win.location = result.url; else window.open(result.url, 'kenar-addon', 'popup,width=400,height=760');
    return;
  }
  if (win) win.close();
  if (result.kind === 'open_server_link') toast('افزونه آدرسی برنگرداند (وضعیت ' + result.status + ')');
  else if (result.kind === 'get_dynamic_action') {
    if (result.text_message) toast(result.text_message);
    else if (result.status !== 200) toast('خطای اکشن پویا: ' + (result.status || result.error));
    if (result.follow_up) follow(null, result.follow_up);
  } else if (result.kind) toast(result.kind + ' ' + JSON.stringify(result.post_token || ''));
}

async function loadChats(selectId) {
  chats = (await api('GET', '/_sim/chats')).chats;
  const sel = $('#chat-select');
  sel.innerHTML = '';
  for (const c of chats) {
    const o = document.createElement('option');
    o.value = c.conversation_id; o.textContent = 'آگهی ' + c.post_token + ' — خریدار ' + short(c.buyer_user_id);
    sel.appendChild(o);
  }
  if (selectId) sel.value = selectId;
  current = chats.find(c => c.conversation_id === sel.value) || null;
  for (const side of ['seller', 'buyer']) {
    $('.side[data-side=' + side + '] .uid').textContent = current ? current[side + '_user_id'] : '';
  }
  await refreshMessages();
  await refreshPanels();
}

// The seller's view of the current post (one row per buyer's conversation) and the users list.
async function refreshPanels() {
  const { posts } = await api('GET', '/_sim/posts');
  const post = current && posts.find(p => p.post_token === current.post_token);
  $('#seller-view .post').textContent = post ? post.post_token + ' (فروشنده ' + short(post.seller_user_id) + ')' : '';
  const tb = $('#seller-view tbody');
  tb.innerHTML = '';
  for (const c of (post ? post.conversations : [])) {
    const tr = document.createElement('tr');
    if (current && c.conversation_id === current.conversation_id) tr.className = 'current';
    const last = c.last_message ? (c.last_message.sender_type === 'BOT' ? '[افزونه] ' : '') + c.last_message.text : '—';
    for (const [text, cls] of [[short(c.buyer_user_id), 'ltr'], [String(c.message_count), ''], [last, '']]) {
      const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
    }
    const td = document.createElement('td');
    const open = document.createElement('button'); open.textContent = 'باز کردن';
    open.onclick = () => loadChats(c.conversation_id);
    td.appendChild(open); tr.appendChild(td);
    tb.appendChild(tr);
  }
  const { users } = await api('GET', '/_sim/users');
  const ub = $('#users tbody');
  ub.innerHTML = '';
  for (const u of users) {
    const tr = document.createElement('tr');
    if (bot.user === u.user_id) tr.className = 'current';
    for (const [text, cls] of [[u.name, ''], [u.user_id, 'ltr'], [u.phone, 'ltr'], [u.blocked ? 'مسدود' : 'فعال', '']]) {
      const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
    }
    const td = document.createElement('td');
    const add = (label, fn) => { const b = document.createElement('button'); b.textContent = label; b.onclick = fn; td.appendChild(b); };
    add('چت‌بات', () => openBot(u.user_id));
    add('لغو دسترسی', () => revoke(u.user_id));
    add(u.blocked ? 'رفع مسدودی' : 'مسدود کردن', async () => {
      await api('POST', '/_sim/users/' + (u.blocked ? 'unblock' : 'block'), { user_id: u.user_id });
      await refreshPanels();
    });
    tr.appendChild(td);
    ub.appendChild(tr);
  }
}

async function revoke(userId) {
  try {
    const r = await api('POST', '/_sim/users/revoke', { user_id: userId });
    toast('دسترسی لغو شد (' + r.revoked_grants + ' مجوز)؛ ' +
      (r.notified ? 'رویداد USER_ACCESS_REVOCATION فرستاده شد' : 'رویدادی فرستاده نشد (مجوز NOTIFICATION_ACCESS_REVOCATION و USER_ID نبود)'));
  } catch (e) { toast('خطا: ' + e.message); }
}

// Opening the bot is per person: Divar's bot chat is addon_{slug}, one per user.
async function openBot(userId) {
  const c = await api('POST', '/_sim/bot/conversations', { user_id: userId });
  bot = { user: userId, conv: c.conversation_id };
  const pane = $('.bot-pane');
  pane.hidden = false;
  $('.uid', pane).textContent = userId;
  fillStartResource();
  await refreshMessages();
  await refreshPanels();
}

// The /start id that fits the touchpoint: the current post, or the current conversation.
function fillStartResource() {
  const need = TOUCHPOINT_NEEDS[$('.bot-pane .touchpoint').value];
  const input = $('.bot-pane .resource');
  input.value = !current || !need ? '' : (need === 'post' ? current.post_token : current.conversation_id);
  input.disabled = !need;
}

function renderMessage(m, viewerId, isBot) {
  const div = document.createElement('div');
  const mine = isBot ? m.sender_type === 'HUMAN' : m.sender_user_id === viewerId;
  div.className = 'msg' + (mine ? ' mine' : '');
  div.dir = 'rtl';
  if (m.sender_type === 'BOT') {
    const a = document.createElement('span'); a.className = 'app'; a.textContent = 'از طرف افزونه';
    div.appendChild(a);
  }
  const text = document.createElement('div'); text.className = 'text'; text.textContent = m.text;
  div.appendChild(text);
  const grid = isBot ? m.buttons : (mine ? m.sender_buttons : m.receiver_buttons);
  if (grid && grid.rows) {
    const g = document.createElement('div'); g.className = 'grid';
    grid.rows.forEach((row, ri) => {
      const r = document.createElement('div'); r.className = 'row';
      (row.buttons || []).forEach((b, bi) => {
        const btn = document.createElement('button');
        btn.textContent = b.caption || '؟';
        btn.onclick = async () => {
          const a = b.action || {};
          // An add-on page opens in the add-on's window; a direct link (a calendar file, say)
          // in a window of its own, as Divar hands it to the browser: never over an open page.
          const win = a.open_server_link ? popup() : a.open_direct_link ? window.open('about:blank', '_blank') : null;
          try {
            const side = isBot ? undefined : (viewerId === current.seller_user_id ? 'seller' : 'buyer');
            follow(win, await api('POST', '/_sim/messages/' + m.id + '/press', { side, row: ri, button: bi, version: $('#v1').checked ? 1 : 2 }));
          } catch (e) { if (win) win.close(); toast('خطا: ' + e.message); }
        };
        r.appendChild(btn);
      });
      g.appendChild(r);
    });
    div.appendChild(g);
  }
  const t = document.createElement('div'); t.className = 'time';
  t.textContent = new Date(m.sent_at / 1000).toLocaleTimeString('fa-IR');
  div.appendChild(t);
  return div;
}

async function refreshMessages() {
  if (current) {
    const { messages } = await api('GET', '/_sim/conversations/' + current.conversation_id + '/messages');
    for (const side of ['seller', 'buyer']) {
      const box = $('.side[data-side=' + side + '] .msgs');
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 5;
      box.innerHTML = '';
      for (const m of messages) box.appendChild(renderMessage(m, current[side + '_user_id'], false));
      if (atBottom) box.scrollTop = box.scrollHeight;
    }
  }
  if (bot.conv) {
    const { messages } = await api('GET', '/_sim/conversations/' + bot.conv + '/messages');
    const box = $('.bot-pane .msgs');
    box.innerHTML = '';
    for (const m of messages) box.appendChild(renderMessage(m, null, true));
    box.scrollTop = box.scrollHeight;
  }
}

function logRow(dir, kind, path, status, ms, detail, bad) {
  const tr = document.createElement('tr');
  const cells = [dir, kind, path, status == null ? '—' : status, ms == null ? '' : ms + 'ms'];
  for (const [i, c] of cells.entries()) {
    const td = document.createElement('td'); td.textContent = c;
    if (i === 2) td.className = 'ltr';
    if (i === 3 && bad) td.className = 'bad';
    tr.appendChild(td);
  }
  const td = document.createElement('td');
  const pre = document.createElement('pre'); pre.textContent = detail; td.appendChild(pre);
  tr.appendChild(td);
  $('#log tbody').prepend(tr);
}

async function pollLog() {
  try {
    const d = (await api('GET', '/_sim/deliveries?since=' + since.d)).deliveries;
    for (const x of d) {
      since.d = Math.max(since.d, x.id);
      logRow('دیوار ← افزونه', x.event_type ? x.kind + ' ' + x.event_type + ' #' + x.event_id : x.kind, x.url, x.status, x.latency_ms,
        'req: ' + JSON.stringify(x.request_body) + '\nres: ' + (x.response_body || x.error || '') + (x.fault ? '\nfault: ' + x.fault : ''),
        !x.status || x.status >= 300);
    }
    const r = (await api('GET', '/_sim/requests?since=' + since.r)).requests;
    for (const x of r) {
      since.r = Math.max(since.r, x.id);
      const v = x.violations.length ? '\nviolations: ' + x.violations.join('; ') : '';
      logRow('افزونه ← دیوار', x.endpoint, x.method + ' ' + x.path, x.status, null,
        'req: ' + JSON.stringify(x.request_body) + '\nres: ' + JSON.stringify(x.response_body) + v + (x.fault ? '\nfault: ' + x.fault : ''), x.status >= 300);
    }
    if (d.length || r.length) { await refreshMessages(); await refreshPanels(); }
  } catch (e) { /* the simulator may be restarting */ }
}

function wire() {
  $('#new-chat').onclick = async () => { const c = await api('POST', '/_sim/chats', {}); await loadChats(c.conversation_id); };
  $('#new-buyer').onclick = async () => {
    if (!current) return toast('ابتدا یک گفتگو بسازید');
    const c = await api('POST', '/_sim/chats', { post_token: current.post_token });
    await loadChats(c.conversation_id);
  };
  for (const id of ['sent-at-format', 'human-sender-type']) {
    $('#' + id).onchange = async () => {
      const s = (await api('POST', '/_sim/settings', {
        sent_at_format: $('#sent-at-format').value, human_sender_type: $('#human-sender-type').value,
      })).settings;
      toast('رویدادها از این پس: sent_at=' + s.sent_at_format + '، sender.type=' + s.human_sender_type);
    };
  }
  $('#chat-select').onchange = () => loadChats($('#chat-select').value);
  $('#clear-log').onclick = () => { $('#log tbody').innerHTML = ''; };
  for (const side of ['seller', 'buyer']) {
    const el = $('.side[data-side=' + side + ']');
    $('.addons', el).onclick = async () => {
      if (!current) return toast('ابتدا یک گفتگو بسازید');
      const win = popup();
      try {
        const r = await api('POST', '/_sim/chats/' + current.conversation_id + '/launch', { side, version: $('#v1').checked ? 1 : 2 });
        follow(win, Object.assign({ kind: 'open_server_link' }, r));
      } catch (e) { win && win.close(); toast('خطا: ' + e.message); }
    };
    $('.block', el).onclick = async () => {
      if (!current) return;
      await api('POST', '/_sim/users/block', { user_id: current[side + '_user_id'] });
      toast('دریافت پیام برای این کاربر مسدود شد');
      await refreshPanels();
    };
    $('.revoke', el).onclick = async () => {
      if (!current) return;
      await revoke(current[side + '_user_id']);
    };
    $('.bot', el).onclick = async () => {
      if (!current) return toast('ابتدا یک گفتگو بسازید');
      await openBot(current[side + '_user_id']);
    };
    $('.compose', el).onsubmit = async (ev) => {
      ev.preventDefault();
      if (!current) return;
      const input = $('input', ev.target);
      try {
        await api('POST', '/_sim/chats/' + current.conversation_id + '/messages', { side, text: input.value });
        input.value = '';
        await refreshMessages();
        await refreshPanels();
      } catch (e) { toast('خطا: ' + e.message); }
    };
  }
  $('.bot-pane .close').onclick = () => { bot = { user: null, conv: null }; $('.bot-pane').hidden = true; refreshPanels(); };
  $('.bot-pane .touchpoint').onchange = fillStartResource;
  $('.bot-pane .start-btn').onclick = async () => {
    if (!bot.user) return;
    try {
      await api('POST', '/_sim/bot/start', {
        user_id: bot.user, touchpoint: $('.bot-pane .touchpoint').value, resource_id: $('.bot-pane .resource').value || undefined,
      });
      await refreshMessages();
    } catch (e) { toast('خطا: ' + e.message); }
  };
  $('.bot-pane .compose').onsubmit = async (ev) => {
    ev.preventDefault();
    if (!bot.user) return toast('ابتدا چت‌بات یک کاربر را باز کنید');
    const input = $('input', ev.target);
    try {
      const r = await api('POST', '/_sim/bot/messages', { user_id: bot.user, text: input.value });
      bot.conv = r.conversation_id;
      input.value = '';
      await refreshMessages();
    } catch (e) { toast('خطا: ' + e.message); }
  };
}

async function loadSettings() {
  const s = (await api('GET', '/_sim/settings')).settings;
  $('#sent-at-format').value = s.sent_at_format;
  $('#human-sender-type').value = s.human_sender_type;
}

wire();
loadSettings();
loadChats().then(() => setInterval(pollLog, 1000));
pollLog();
