// The chat UI drives the simulator only through the /_sim control API, so everything it does
// is something a test can do too.
'use strict';
const $ = (sel, el) => (el || document).querySelector(sel);
let chats = [];
let current = null;
let botConv = null;
let since = { d: 0, r: 0 };

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
    o.value = c.conversation_id; o.textContent = 'آگهی ' + c.post_token + ' — ' + c.conversation_id.slice(0, 8);
    sel.appendChild(o);
  }
  if (selectId) sel.value = selectId;
  current = chats.find(c => c.conversation_id === sel.value) || null;
  for (const side of ['seller', 'buyer']) {
    $('.side[data-side=' + side + '] .uid').textContent = current ? current[side + '_user_id'] : '';
  }
  await refreshMessages();
}

function renderMessage(m, viewerId, isBot) {
  const div = document.createElement('div');
  const mine = isBot ? m.sender_type === 'HUMAN' : m.sender_user_id === viewerId;
  div.className = 'msg' + (mine ? ' mine' : '');
  if (m.sender_type === 'BOT') {
    const a = document.createElement('span'); a.className = 'app'; a.textContent = 'از طرف افزونه';
    div.appendChild(a);
  }
  div.appendChild(document.createTextNode(m.text));
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
          const win = (a.open_direct_link || a.open_server_link) ? popup() : null;
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
  if (botConv) {
    const { messages } = await api('GET', '/_sim/conversations/' + botConv + '/messages');
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
      logRow('دیوار ← افزونه', x.kind, x.url, x.status, x.latency_ms,
        'req: ' + JSON.stringify(x.request_body) + '\nres: ' + (x.response_body || x.error || ''), !x.status || x.status >= 300);
    }
    const r = (await api('GET', '/_sim/requests?since=' + since.r)).requests;
    for (const x of r) {
      since.r = Math.max(since.r, x.id);
      const v = x.violations.length ? '\nviolations: ' + x.violations.join('; ') : '';
      logRow('افزونه ← دیوار', x.endpoint, x.method + ' ' + x.path, x.status, null,
        'req: ' + JSON.stringify(x.request_body) + '\nres: ' + JSON.stringify(x.response_body) + v + (x.fault ? '\nfault: ' + x.fault : ''), x.status >= 300);
    }
    if (d.length || r.length) await refreshMessages();
  } catch (e) { /* the simulator may be restarting */ }
}

function wire() {
  $('#new-chat').onclick = async () => { const c = await api('POST', '/_sim/chats', {}); await loadChats(c.conversation_id); };
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
    };
    $('.revoke', el).onclick = async () => {
      if (!current) return;
      const r = await api('POST', '/_sim/users/revoke', { user_id: current[side + '_user_id'] });
      toast('دسترسی لغو شد (' + r.revoked_grants + ')');
    };
    $('.compose', el).onsubmit = async (ev) => {
      ev.preventDefault();
      if (!current) return;
      const input = $('input', ev.target);
      await api('POST', '/_sim/chats/' + current.conversation_id + '/messages', { side, text: input.value });
      input.value = '';
      await refreshMessages();
    };
  }
  $('.side[data-side=buyer] .bot').onclick = async () => {
    if (!current) return;
    const pane = $('.bot-pane');
    pane.hidden = false;
    pane.dataset.user = current.buyer_user_id;
    $('.uid', pane).textContent = current.buyer_user_id;
    const list = (await api('GET', '/_sim/bot/conversations')).conversations;
    const c = list.find(x => x.user_id === current.buyer_user_id);
    botConv = c ? c.conversation_id : null;
    await refreshMessages();
  };
  $('.bot-pane .compose').onsubmit = async (ev) => {
    ev.preventDefault();
    const input = $('input', ev.target);
    const r = await api('POST', '/_sim/bot/messages', { user_id: $('.bot-pane').dataset.user, text: input.value });
    botConv = r.conversation_id;
    input.value = '';
    await refreshMessages();
  };
}

wire();
loadChats().then(() => setInterval(pollLog, 1000));
pollLog();
