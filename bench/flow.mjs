#!/usr/bin/env node
// kenar-edge: the extra latency the OAuth round trip, sending a chat message, a one-tap
// answer (dynamic action) and Divar's event webhook (a bot chat message, its acknowledgement
// and the reply the bot sends on its object's alarm) add on top of a launch, per step, with
// the worker in Miniflare
// (workerd, no inspector, wrangler.toml's Durable Objects when it declares any) talking to
// divar-sim over loopback. Client-side timings (performance.now() around fetch + body read),
// sequential, one request in flight at a time. See bench/README.md, "Flow latency".
//
//   node bench/flow.mjs                      # 200 iterations after 10 warm-up ones, ~15 s
//   node bench/flow.mjs --iterations 50 --out -
//
// Flags (or env): --iterations (FLOW_ITERATIONS, 200), --warmup (FLOW_WARMUP, 10), --out
// (FLOW_OUT, default bench/results/flow-latest.md, `-` for none), --no-build (FLOW_NO_BUILD=1),
// --max-failures (FLOW_MAX_FAILURES, 20: stop early once this many checks failed),
// --worker-var NAME=VALUE (override a worker binding; repeatable), --bot-conversations
// (FLOW_BOT_CONVERSATIONS, 4: the bot chats the events go to, in turn), --poll-ms (FLOW_POLL_MS,
// 1: pause between two looks at the sim's request log while waiting for the bot's reply).
// FLOW_SIM_TARGET_DIR: cargo's target dir for divar-sim's release build (default
// divar-sim/target, as `cargo build` uses).
//
// Every timed answer is checked (status, body, redirect, what reached the simulator); a failed
// check is counted, its timing dropped, the rest of that iteration skipped, and the exit code
// is 1 if anything failed: a broken worker must never produce a fast-looking number.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { BENCH, ROOT, SESSION_BODY, buildWorker, cli, commitLabel, importMiniflare, localBindings, workerOptions } from './lib.mjs';

// Miniflare from the repo's node_modules; BENCH_NODE_MODULES points elsewhere (e.g. another
// checkout's) when this one's is being reinstalled.
const { Miniflare, version: MINIFLARE_VERSION } = await importMiniflare();

// ---- options --------------------------------------------------------------------------------
const { argv, opt, flag } = cli();
const ITERATIONS = Number(opt('iterations', 'FLOW_ITERATIONS', '200'));
const WARMUP = Number(opt('warmup', 'FLOW_WARMUP', '10'));
const MAX_FAILURES = Number(opt('max-failures', 'FLOW_MAX_FAILURES', '20'));
const OUT = opt('out', 'FLOW_OUT', join(BENCH, 'results/flow-latest.md'));
const NO_BUILD = flag('no-build', 'FLOW_NO_BUILD');
const SIM_TARGET = resolve(process.env.FLOW_SIM_TARGET_DIR || join(ROOT, 'divar-sim/target'));
const SIM_BIN = join(SIM_TARGET, 'release/divar-sim');
const REQ_TIMEOUT_MS = 15_000;
const BOT_CONVERSATIONS = Number(opt('bot-conversations', 'FLOW_BOT_CONVERSATIONS', '4'));
const POLL_MS = Number(opt('poll-ms', 'FLOW_POLL_MS', '1'));
// how long the bot's reply may take to reach the sim before the iteration fails
const REPLY_TIMEOUT_MS = 5_000;
// --worker-var NAME=VALUE (repeatable): override one of the worker's bindings, e.g. to check
// that a misconfigured worker fails the run instead of producing numbers.
const WORKER_VARS = {};
for (let i = 0; i < argv.length; i++) {
  if (argv[i] !== '--worker-var') continue;
  const [k, ...v] = argv[i + 1].split('=');
  WORKER_VARS[k] = v.join('=');
}

const log = (...a) => console.error('[flow]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- config (as bench/run.mjs: wrangler.toml's [vars], then .dev.vars.example) --------------
const DEV = localBindings();

// ---- processes ------------------------------------------------------------------------------
function build() {
  if (NO_BUILD) return;
  buildWorker(log);
  log(`cargo build --release divar-sim (CARGO_TARGET_DIR=${SIM_TARGET.replace(ROOT + '/', '')})`);
  const r = spawnSync('cargo', ['build', '--release', '--quiet', '--manifest-path', join(ROOT, 'divar-sim/Cargo.toml')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CARGO_TARGET_DIR: SIM_TARGET },
  });
  if (r.status !== 0) throw new Error(`cargo build of divar-sim failed (${r.status})`);
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

let simChild = null;
process.on('exit', () => {
  if (simChild && simChild.exitCode === null) {
    try {
      process.kill(-simChild.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

async function startSim(appBase) {
  if (!existsSync(SIM_BIN)) throw new Error(`${SIM_BIN} missing (run without --no-build)`);
  const args = ['--port', '0', '--app-base', appBase,
    '--identification-key', DEV.DIVAR_IDENTIFICATION_KEY, '--api-key', DEV.KENAR_API_KEY,
    '--oauth-client-secret', DEV.KENAR_OAUTH_CLIENT_SECRET, '--app-slug', DEV.KENAR_APP_SLUG];
  simChild = spawn(SIM_BIN, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let out = '';
  const m = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`divar-sim did not start within 20 s:\n${out}`)), 20_000);
    const on = (b) => {
      if (out.length < 65536) out += b.toString();
      const mm = out.match(/divar-sim listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (mm) {
        clearTimeout(timer);
        res(mm);
      }
    };
    simChild.stdout.on('data', on);
    simChild.stderr.on('data', on);
    simChild.on('exit', (c) => rej(new Error(`divar-sim exited ${c}:\n${out}`)));
  });
  return m[1];
}

async function stopSim() {
  if (!simChild || simChild.exitCode !== null) return;
  const exited = new Promise((r) => simChild.once('exit', r));
  try {
    process.kill(-simChild.pid, 'SIGTERM');
  } catch {
    return;
  }
  await Promise.race([exited, sleep(3000)]);
  if (simChild.exitCode === null) {
    try {
      process.kill(-simChild.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

const runtimeLines = { count: 0, sample: '' };
let durableObjectBindings = [];
async function startWorker(port, simBase) {
  const base = `http://127.0.0.1:${port}`;
  const bindings = {
    ...DEV,
    // every launch written to KV, as in the figures measured before (wrangler.toml: on-demand)
    SESSION_PERSIST: 'launch',
    PUBLIC_BASE_URL: base,
    KENAR_API_BASE: simBase,
    KENAR_OAUTH_BASE: simBase,
    DIVAR_COMPLETION_URL: `${simBase}/completion`,
    ...WORKER_VARS,
  };
  const scriptPath = join(ROOT, 'build/index.js');
  // No inspector; KV; wrangler.toml's Durable Objects (SQLite-backed) when it declares any; the
  // worker reaches divar-sim on loopback through Miniflare's outbound service (see lib.mjs).
  const options = workerOptions({
    scriptPath,
    port,
    bindings,
    log,
    onOutput(text) {
      runtimeLines.count += text.split('\n').length - 1;
      if (runtimeLines.sample.length < 8192) runtimeLines.sample += text;
    },
  });
  durableObjectBindings = Object.entries(options.durableObjects ?? {}).map(([b, o]) => `${b}→${o.className}${o.useSQLite ? ' (SQLite)' : ''}`);
  const mf = new Miniflare(options);
  const url = await mf.ready;
  return { mf, base: url.href.replace(/\/$/, ''), bindings };
}

// ---- HTTP -----------------------------------------------------------------------------------
/** One request, timed client-side from before fetch() to the last byte of the body. */
async function timed(url, { method = 'GET', headers = {}, body } = {}) {
  const t = performance.now();
  const r = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQ_TIMEOUT_MS) });
  const text = await r.text();
  const ms = performance.now() - t;
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { ms, status: r.status, headers: r.headers, text, json };
}
const postJson = (url, obj, headers = {}) =>
  timed(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(obj ?? {}) });

class CheckFailed extends Error {}
const check = (cond, what) => {
  if (!cond) throw new CheckFailed(what);
};
const short = (r) => `${r.status} ${r.text.slice(0, 300)}`;

// ---- statistics -----------------------------------------------------------------------------
const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return { n, p50: NaN, p95: NaN, p99: NaN, mean: NaN, min: NaN, max: NaN };
  return { n, p50: pct(s, 0.5), p95: pct(s, 0.95), p99: pct(s, 0.99), mean: s.reduce((a, b) => a + b, 0) / n, min: s[0], max: s[n - 1] };
}
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

// ---- the flow -------------------------------------------------------------------------------
// Timed steps, in the order one iteration runs them. `sim:` rows are divar-sim called directly
// from Node with the same requests the worker makes (its share of the worker's steps).
const STEPS = [
  ['healthz', 'GET /healthz (floor: client + workerd + wasm entry, no work)'],
  ['session-init', 'POST /divar/session-init (Divar launches the add-on)'],
  ['session', 'GET /api/session (the page reads its launch)'],
  ['msg-consent', 'POST /api/messages, no grant yet → `needs_consent`'],
  ['oauth-start', 'POST /api/oauth/start'],
  ['oauth-callback', 'GET /oauth/callback?state&code → 303 (code exchange with the sim)'],
  ['msg-sent', 'POST /api/messages, granted → `sent`'],
  ['msg-refresh', 'POST /api/messages, token expired at Divar → 401, refresh, retry → `sent`'],
  ['visit-propose', 'POST /api/visit/propose, granted → `sent` (buyer; the proposal with its buttons)'],
  ['tap-confirm', 'POST /divar/dynamic-action, one-tap pick on that open proposal, granted → confirmed, `sent`'],
  ['tap-repeat', 'POST /divar/dynamic-action, the same button again (already answered: a toast, nothing posted)'],
  ['event-ack', 'POST /divar/events, `NEW_CHATBOT_MESSAGE` «منو» in a bot chat → `answered` (the ack; the reply is queued)'],
  ['event-reply', 'the same event → the bot\'s reply recorded by the sim (`bot_send`), from before the POST, polled'],
  ['event-reply-sim', '↳ the same by the clocks: the sim\'s `at_ms` for the reply − wall clock before the POST (1 ms steps)'],
  ['event-repeat', 'POST /divar/events, the same envelope again (same message id) → `duplicate`, no second reply'],
  ['sim-token-code', 'sim: POST /oauth2/token (authorization_code, PKCE), direct'],
  ['sim-send', 'sim: POST /v2/open-platform/conversations/{cid}/messages, direct'],
  ['sim-token-refresh', 'sim: POST /oauth2/token (refresh_token), direct'],
];
const times = Object.fromEntries(STEPS.map(([k]) => [k, []]));
const failures = Object.fromEntries(STEPS.map(([k]) => [k, 0]));
const failureSamples = [];
let setupFailures = 0;
// per-iteration sums, only for iterations where every step succeeded
const perIter = [];
// what the worker answered to the repeated tap (toast text -> count)
const repeatToasts = new Map();

async function main() {
  const t0 = Date.now();
  build();
  const port = await freePort();
  const workerBase = `http://127.0.0.1:${port}`;
  const simBase = await startSim(workerBase);
  log(`divar-sim at ${simBase}`);
  let worker;
  try {
    worker = await startWorker(port, simBase);
    check(worker.base === workerBase, `Miniflare listens on ${worker.base}, not ${workerBase}`);
    log(`worker (Miniflare) at ${worker.base}`);
    const W = worker.base;
    const S = simBase;
    const control = (method, path, body) =>
      method === 'GET' ? timed(S + path) : postJson(S + path, body);

    const h = await timed(`${W}/healthz`);
    check(h.status === 200 && h.json?.ok === true, `healthz ${short(h)}`);
    // The sim does not list token-endpoint calls under /_sim/requests. tests/e2e count them with
    // a pass-through fault rule, but the sim's token handler then always runs
    // `tokio::time::sleep(latency_ms)`, and a 0 ms tokio sleep still waits for the next 1 ms
    // timer tick: it would add ~1 ms to every token call. Count issued tokens instead.
    const tokenCount = async (user) => {
      const r = await control('GET', `/_sim/tokens?user_id=${encodeURIComponent(user)}`);
      check(r.status === 200 && Array.isArray(r.json?.tokens), `/_sim/tokens ${short(r)}`);
      return r.json.tokens.length;
    };
    let lastReq = 0;
    const simRequests = async (endpoint) => {
      const r = await control('GET', `/_sim/requests?since=${lastReq}&endpoint=${endpoint}`);
      check(r.status === 200, `/_sim/requests ${short(r)}`);
      const rs = r.json.requests.filter((x) => x.id > lastReq);
      return rs;
    };
    const bumpLastReq = async () => {
      const r = await control('GET', `/_sim/requests?since=${lastReq}`);
      for (const x of r.json.requests) lastReq = Math.max(lastReq, x.id);
    };
    const prefix = `${W}/#h=`;
    const verifyHandle = (jwt) => {
      const [hd, pl, sig] = jwt.split('.');
      const expect = createHmac('sha256', DEV.SESSION_SIGNING_KEY).update(`${hd}.${pl}`).digest('base64url');
      check(sig === expect, 'a handle does not verify with SESSION_SIGNING_KEY');
      return JSON.parse(Buffer.from(pl, 'base64url'));
    };
    let keySeq = 0;
    const newKey = () => `bench-${process.pid}-${++keySeq}`;
    const bearer = (handle) => ({ authorization: `Bearer ${handle}` });

    /** Untimed: the consent round for `userId` from the page of `handle`; the handle Divar sends back. */
    const grantVia = async (handle, userId) => {
      const st = await timed(`${W}/api/oauth/start`, { method: 'POST', headers: bearer(handle) });
      check(st.status === 200 && typeof st.json?.authorize_url === 'string', `oauth/start ${short(st)}`);
      const au = new URL(st.json.authorize_url);
      check((await timed(au.href)).status === 200, 'consent page');
      const pending = await control('GET', '/_sim/oauth/authorizations?status=pending');
      const auth = pending.json.authorizations.find((a) => a.state === au.searchParams.get('state'));
      check(auth, 'no pending authorization for our state');
      const ok = await control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/approve`, { user_id: userId });
      check(ok.status === 200, `approve ${short(ok)}`);
      const cb = await timed(ok.json.redirect_url);
      const loc = cb.headers.get('location') || '';
      check(cb.status === 303 && loc.startsWith(prefix) && loc.endsWith('&oauth=granted'), `callback ${cb.status} location ${loc.replace(/#h=[^&]+/, '#h=<handle>')}`);
      return decodeURIComponent(loc.slice(prefix.length).split('&')[0]);
    };
    const launchVia = async (cid, side) => {
      const l = await control('POST', `/_sim/chats/${encodeURIComponent(cid)}/launch`, { side });
      check(l.status === 200 && l.json.status === 200 && l.json.url?.startsWith(prefix), `launch ${side} ${short(l)}`);
      return decodeURIComponent(l.json.url.slice(prefix.length).split('&')[0]);
    };

    // The one-tap answer needs an open proposal each time (a tap confirms it, after which the
    // button is spent) and grants on both sides (the proposer's to post the proposal, the
    // tapper's to post the confirmation). One chat for it, set up here, untimed: the buyer
    // proposes every iteration (allowed once the previous proposal is confirmed) and the seller
    // taps the first time slot on the posted message, then taps the same button again.
    const visit = await (async () => {
      const chat = await control('POST', '/_sim/chats', {});
      check(chat.status === 200, `POST /_sim/chats ${short(chat)}`);
      const { conversation_id: cid, post_token: postToken, seller_user_id: seller, buyer_user_id: buyer } = chat.json;
      const buyerHandle = await grantVia(await launchVia(cid, 'buyer'), buyer);
      await grantVia(await launchVia(cid, 'seller'), seller);
      return { cid, postToken, seller, buyerHandle };
    })();
    log(`visit chat ${visit.cid}: buyer and seller granted`);
    const dynamicAction = (body) => postJson(`${W}/divar/dynamic-action`, body, { authorization: DEV.DIVAR_IDENTIFICATION_KEY });

    // Divar's events: a few bot conversations the sim knows (it refuses a bot send to one it
    // did not open), used in turn so no one conversation's object and queue carries them all.
    // `POST /_sim/bot/conversations` opens one and sends nothing; a sim without it opens one on
    // a person's first bot message (`POST /_sim/bot/messages`, whose reply is then waited for).
    // Each event is a fresh message id; the bot's replies are followed through the sim's request
    // log (`endpoint=bot_send`) with a cursor of their own, so every reply the worker sends is
    // accounted for: one per answered event, none for a repeated one.
    let lastBot = 0;
    const botSends = async () => {
      const r = await control('GET', `/_sim/requests?since=${lastBot}&endpoint=bot_send`);
      check(r.status === 200 && Array.isArray(r.json?.requests), `/_sim/requests (bot_send) ${short(r)}`);
      return r.json.requests.filter((x) => x.id > lastBot);
    };
    const takeBotSends = (rs) => {
      for (const x of rs) lastBot = Math.max(lastBot, x.id);
    };
    const botConvs = [];
    for (let i = 0; i < BOT_CONVERSATIONS; i++) {
      const chat = await control('POST', '/_sim/chats', {});
      check(chat.status === 200, `POST /_sim/chats ${short(chat)}`);
      const user = chat.json.buyer_user_id;
      let open = await control('POST', '/_sim/bot/conversations', { user_id: user });
      if (open.status === 404 || open.status === 405) {
        open = await control('POST', '/_sim/bot/messages', { user_id: user, text: 'سلام' });
        check(open.status === 200 && open.json?.deliveries?.[0]?.status === 200, `POST /_sim/bot/messages ${short(open)}`);
        for (const until = performance.now() + REPLY_TIMEOUT_MS; !(await botSends()).length && performance.now() < until;) await sleep(5);
      }
      check(open.status === 200 && typeof open.json?.conversation_id === 'string', `open a bot conversation ${short(open)}`);
      botConvs.push(open.json.conversation_id);
    }
    await sleep(50);
    takeBotSends(await botSends());
    log(`bot conversations: ${botConvs.length}`);
    const postEvent = (env) => postJson(`${W}/divar/events`, env, { authorization: DEV.DIVAR_IDENTIFICATION_KEY });
    const botSendSummary = (rs) => JSON.stringify(rs.map((x) => [x.status, x.valid, x.path.split('/').at(-2)]));

    const total = WARMUP + ITERATIONS;
    let failed = 0;
    for (let it = 0; it < total && failed < MAX_FAILURES; it++) {
      const record = it >= WARMUP;
      const got = {};
      let step = 'setup';
      const time = (k, r) => {
        got[k] = r.ms;
      };
      try {
        // 0. the floor: what any request to the worker costs from this client
        step = 'healthz';
        const hz = await timed(`${W}/healthz`);
        check(hz.status === 200 && hz.json?.ok === true, `healthz ${short(hz)}`);
        time(step, hz);

        // 1. session-init, as bench/run.mjs sends it
        step = 'session-init';
        const si = await postJson(`${W}/divar/session-init`, JSON.parse(SESSION_BODY), { authorization: DEV.DIVAR_IDENTIFICATION_KEY });
        check(si.status === 200 && si.json?.status === '200' && si.json?.message === 'success', `session-init ${short(si)}`);
        check(typeof si.json.url === 'string' && si.json.url.startsWith(prefix), `session-init url ${si.json.url}`);
        verifyHandle(si.json.url.slice(prefix.length));
        time(step, si);

        // untimed: a fresh chat in the sim, launched by its seller (the sim calls session-init)
        step = 'setup';
        const chat = await control('POST', '/_sim/chats', {});
        check(chat.status === 200, `POST /_sim/chats ${short(chat)}`);
        const cid = chat.json.conversation_id;
        const seller = chat.json.seller_user_id;
        const launch = await control('POST', `/_sim/chats/${encodeURIComponent(cid)}/launch`, { side: 'seller' });
        check(launch.status === 200 && launch.json.status === 200 && launch.json.url?.startsWith(prefix), `launch ${short(launch)}`);
        const handle = decodeURIComponent(launch.json.url.slice(prefix.length).split('&')[0]);
        const claims = verifyHandle(handle);
        check(claims.ctx?.conversation_id === cid, `launch context ${JSON.stringify(claims.ctx)}`);

        // 2. the page reads its session
        step = 'session';
        const ss = await timed(`${W}/api/session`, { headers: { authorization: `Bearer ${handle}` } });
        check(ss.status === 200 && ss.json?.context?.conversation_id === cid, `GET /api/session ${short(ss)}`);
        time(step, ss);

        // 3. the page's first POST: no permission yet
        step = 'msg-consent';
        const key1 = newKey();
        const text1 = `bench ${it} first`;
        const m1 = await postJson(`${W}/api/messages`, { text: text1, idempotency_key: key1 }, { authorization: `Bearer ${handle}` });
        check(m1.status === 200 && m1.json?.item?.state === 'needs_consent', `messages (no grant) ${short(m1)}`);
        time(step, m1);

        // 4. start
        step = 'oauth-start';
        const st = await timed(`${W}/api/oauth/start`, { method: 'POST', headers: { authorization: `Bearer ${handle}` } });
        check(st.status === 200 && typeof st.json?.authorize_url === 'string', `oauth/start ${short(st)}`);
        const au = new URL(st.json.authorize_url);
        check(au.origin + au.pathname === `${S}/oauth2/auth`, `authorize url ${au}`);
        check(au.searchParams.get('redirect_uri') === `${W}/oauth/callback`, `redirect_uri ${au.searchParams.get('redirect_uri')}`);
        check(au.searchParams.get('code_challenge_method') === 'S256' && (au.searchParams.get('state') || '').length === 43, `state/PKCE in ${au}`);
        time(step, st);

        // untimed: the consent page (creates the pending authorization) and the approval
        step = 'setup';
        const page = await timed(au.href);
        check(page.status === 200, `consent page ${page.status}`);
        const pending = await control('GET', '/_sim/oauth/authorizations?status=pending');
        const auth = pending.json.authorizations.find((a) => a.state === au.searchParams.get('state'));
        check(auth, 'no pending authorization for our state');
        const ok = await control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/approve`, { user_id: seller });
        check(ok.status === 200 && ok.json.redirect_url.startsWith(`${W}/oauth/callback?`), `approve ${short(ok)}`);

        // 5. the callback: state lookup + delete, code exchange at the sim, sealed grant, 303
        step = 'oauth-callback';
        const tokensBefore = await tokenCount(seller);
        const cb = await timed(ok.json.redirect_url);
        const loc = cb.headers.get('location') || '';
        check(cb.status === 303 && loc.startsWith(prefix) && loc.endsWith('&oauth=granted'), `callback ${cb.status} location ${loc.replace(/#h=[^&]+/, '#h=<handle>')}`);
        check((await tokenCount(seller)) === tokensBefore + 1, 'the callback did not obtain exactly one token');
        const handle2 = decodeURIComponent(loc.slice(prefix.length).split('&')[0]);
        check(verifyHandle(handle2).sid === claims.sid, 'the callback handle names another session');
        time(step, cb);

        // 6. a message with the grant: outbox write, send, state write
        step = 'msg-sent';
        await bumpLastReq();
        const text2 = `bench ${it} granted`;
        const m2 = await postJson(`${W}/api/messages`, { text: text2, idempotency_key: newKey() }, { authorization: `Bearer ${handle2}` });
        check(m2.status === 200 && m2.json?.item?.state === 'sent', `messages (granted) ${short(m2)}`);
        const sends2 = await simRequests('conversation_send');
        check(sends2.length === 1 && sends2[0].status === 200 && sends2[0].valid && sends2[0].path.includes(cid),
          `sim saw ${JSON.stringify(sends2.map((x) => [x.status, x.valid, x.violations]))} for the granted send`);
        const sentBody = sends2[0].request_body;
        check(sentBody?.message === text2, 'the sim did not receive our text');
        time(step, m2);

        // 7. the same with the access token expired at Divar (the worker's clock still says valid)
        step = 'setup';
        const ex = await control('POST', '/_sim/users/expire-tokens', { user_id: seller });
        check(ex.status === 200 && ex.json.expired >= 1, `expire-tokens ${short(ex)}`);
        await bumpLastReq();
        step = 'msg-refresh';
        const tokens3 = await tokenCount(seller);
        const text3 = `bench ${it} refreshed`;
        const m3 = await postJson(`${W}/api/messages`, { text: text3, idempotency_key: newKey() }, { authorization: `Bearer ${handle2}` });
        check(m3.status === 200 && m3.json?.item?.state === 'sent', `messages (expired) ${short(m3)}`);
        const sends3 = await simRequests('conversation_send');
        check(sends3.length === 2 && sends3[0].status === 401 && sends3[1].status === 200,
          `expected sends 401 then 200, sim saw ${JSON.stringify(sends3.map((x) => x.status))}`);
        check((await tokenCount(seller)) === tokens3 + 1, 'the expired path did not refresh exactly once');
        time(step, m3);

        // 8. the visit chat: the buyer proposes (granted), the seller answers with one tap
        step = 'setup';
        await bumpLastReq();
        step = 'visit-propose';
        const now = Math.floor(Date.now() / 1000);
        const vp = await postJson(`${W}/api/visit/propose`, { slots: [now + 86_400, now + 2 * 86_400], note: '', idempotency_key: newKey() },
          bearer(visit.buyerHandle));
        check(vp.status === 200 && vp.json?.delivery === 'sent' && typeof vp.json?.proposal?.id === 'string', `visit/propose ${short(vp)}`);
        const sendsP = await simRequests('conversation_send');
        check(sendsP.length === 1 && sendsP[0].status === 200 && sendsP[0].valid, `sim saw ${JSON.stringify(sendsP.map((x) => x.status))} for the proposal`);
        time(step, vp);

        // untimed: the posted message's receiver button for the first slot, as Divar holds it,
        // and the body Divar sends when the seller taps it (divar-sim's webhooks::dynamic_action)
        step = 'setup';
        const pid = vp.json.proposal.id;
        const listed = await control('GET', `/_sim/conversations/${encodeURIComponent(visit.cid)}/messages`);
        check(listed.status === 200, `messages ${short(listed)}`);
        const pickData = listed.json.messages
          .map((m) => m.receiver_buttons?.rows?.[0]?.buttons?.[0]?.action?.get_dynamic_action?.data)
          .findLast((d) => d?.p === pid);
        check(pickData, `no one-tap button for proposal ${pid} in the chat`);
        const tapBody = {
          touchpoint: 'CHAT', post_token: visit.postToken, conversation_id: visit.cid,
          user_side: 'SUPPLY', extra_data: pickData, user_id: visit.seller,
        };
        await bumpLastReq();

        step = 'tap-confirm';
        const tc1 = await dynamicAction(tapBody);
        check(tc1.status === 200 && typeof tc1.json?.text_message === 'string' && tc1.json.text_message.startsWith('✅') && !tc1.json.action,
          `tap (confirm) ${short(tc1)}`);
        const sendsT = await simRequests('conversation_send');
        check(sendsT.length === 1 && sendsT[0].status === 200 && sendsT[0].valid && String(sendsT[0].request_body?.message ?? '').startsWith('✅'),
          `sim saw ${JSON.stringify(sendsT.map((x) => [x.status, x.valid, String(x.request_body?.message ?? '').slice(0, 20)]))} for the confirmation`);
        time(step, tc1);

        step = 'setup';
        await bumpLastReq();
        step = 'tap-repeat';
        const tc2 = await dynamicAction(tapBody);
        check(tc2.status === 200 && typeof tc2.json?.text_message === 'string' && !tc2.json.action, `tap (repeat) ${short(tc2)}`);
        const sendsR = await simRequests('conversation_send');
        check(sendsR.length === 0, `a repeated tap posted ${sendsR.length} message(s)`);
        time(step, tc2);
        if (record) repeatToasts.set(tc2.json.text_message, (repeatToasts.get(tc2.json.text_message) ?? 0) + 1);

        // 9. Divar's event webhook: a person writes «منو» in their bot chat. The worker records
        // the message id and queues the reply in the conversation's object, answers at once, and
        // the object's alarm sends the reply (`POST /v1/open-platform/chat/bot/conversations/{id}/messages`).
        step = 'event-repeat';
        // nothing may have reached the sim since the last accounted reply (e.g. a late reply to
        // the previous iteration's repeated delivery)
        const stray = await botSends();
        check(stray.length === 0, `the bot sent ${stray.length} reply(ies) nobody asked for (after a repeated delivery?): ${botSendSummary(stray)}`);
        step = 'event-ack';
        const botCid = botConvs[it % botConvs.length];
        const envelope = {
          type: 'NEW_CHATBOT_MESSAGE',
          new_chatbot_message: {
            id: randomUUID(), conversation: { id: botCid, type: 'BOT' }, sender: { type: 'HUMAN' },
            type: 'TEXT', sent_at: Date.now() * 1000, text: 'منو',
          },
        };
        const evStart = performance.now();
        const sentWallMs = performance.timeOrigin + evStart;
        const ev = await postEvent(envelope);
        check(ev.status === 200 && ev.json?.outcome === 'answered', `event ${short(ev)}`);
        time(step, ev);

        step = 'event-reply';
        let replies = [];
        let replyAt = 0;
        for (const until = evStart + REPLY_TIMEOUT_MS; ;) {
          replies = await botSends();
          replyAt = performance.now();
          if (replies.length || replyAt > until) break;
          await sleep(POLL_MS);
        }
        takeBotSends(replies);
        check(replies.length === 1, `expected one bot reply within ${REPLY_TIMEOUT_MS} ms, the sim saw ${botSendSummary(replies)}`);
        const reply = replies[0];
        check(reply.status === 200 && reply.valid && reply.path === `/v1/open-platform/chat/bot/conversations/${botCid}/messages`,
          `bot reply ${reply.status} valid=${reply.valid} ${reply.path} ${JSON.stringify(reply.violations)}`);
        check(typeof reply.request_body?.text_message === 'string' && reply.request_body.text_message.length > 0, 'the bot reply has no text');
        got[step] = replyAt - evStart;
        got['event-reply-sim'] = reply.at_ms - sentWallMs;

        step = 'event-repeat';
        const ev2 = await postEvent(envelope);
        check(ev2.status === 200 && ev2.json?.outcome === 'duplicate', `repeated event ${short(ev2)}`);
        const again = await botSends();
        check(again.length === 0, `a repeated delivery sent ${again.length} reply(ies): ${botSendSummary(again)}`);
        time(step, ev2);

        // 10. divar-sim's share, measured directly: the same code exchange, send and refresh
        step = 'sim-token-code';
        const verifier = randomBytes(32).toString('base64url');
        const challenge = createHash('sha256').update(verifier).digest('base64url');
        const state = randomBytes(32).toString('base64url');
        const q = new URLSearchParams({
          response_type: 'code', client_id: DEV.KENAR_APP_SLUG, redirect_uri: `${W}/oauth/callback`,
          scope: `CONVERSATION_SEND_MESSAGE.${cid} offline_access`, state, code_challenge: challenge, code_challenge_method: 'S256',
        });
        const page2 = await timed(`${S}/oauth2/auth?${q}`);
        check(page2.status === 200, `direct consent page ${short(page2)}`);
        const pending2 = await control('GET', '/_sim/oauth/authorizations?status=pending');
        const auth2 = pending2.json.authorizations.find((a) => a.state === state);
        check(auth2, 'no pending authorization for the direct exchange');
        const ok2 = await control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth2.id)}/approve`, { user_id: seller });
        check(ok2.status === 200 && ok2.json.code, `direct approve ${short(ok2)}`);
        const form = (o) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(o).toString() });
        const tc = await timed(`${S}/oauth2/token`, form({
          grant_type: 'authorization_code', code: ok2.json.code, redirect_uri: `${W}/oauth/callback`,
          client_id: DEV.KENAR_APP_SLUG, client_secret: DEV.KENAR_OAUTH_CLIENT_SECRET, code_verifier: verifier,
        }));
        check(tc.status === 200 && tc.json?.access_token && tc.json?.refresh_token, `direct code exchange ${short(tc)}`);
        time(step, tc);

        step = 'sim-send';
        const sd = await postJson(`${S}/v2/open-platform/conversations/${encodeURIComponent(cid)}/messages`, sentBody, {
          'x-api-key': DEV.KENAR_API_KEY,
          authorization: `Bearer ${tc.json.access_token}`,
        });
        check(sd.status === 200, `direct send ${short(sd)}`);
        time(step, sd);

        step = 'sim-token-refresh';
        const tr = await timed(`${S}/oauth2/token`, form({
          grant_type: 'refresh_token', refresh_token: tc.json.refresh_token,
          client_id: DEV.KENAR_APP_SLUG, client_secret: DEV.KENAR_OAUTH_CLIENT_SECRET,
        }));
        check(tr.status === 200 && tr.json?.access_token, `direct refresh ${short(tr)}`);
        time(step, tr);
      } catch (e) {
        failed++;
        if (step === 'setup') setupFailures++;
        else failures[step]++;
        if (failureSamples.length < 10) failureSamples.push(`iteration ${it}, ${step}: ${e instanceof CheckFailed ? e.message : e.stack || e}`);
        log(`FAIL iteration ${it} at ${step}: ${e.message}`);
        continue; // this iteration's timings are dropped entirely
      }
      if (record) {
        for (const [k, v] of Object.entries(got)) times[k].push(v);
        perIter.push(got);
      }
      if ((it + 1) % 50 === 0) log(`${it + 1}/${total} iterations`);
    }

    // No bot reply may arrive after the last accounted one: the last repeated delivery is given
    // a moment to (wrongly) send.
    await sleep(250);
    const late = await botSends();
    if (late.length) {
      failures['event-repeat']++;
      failureSamples.push(`${late.length} bot reply(ies) after the last answered event: ${botSendSummary(late)}`);
    }

    // Every call the worker made to the sim must have passed its OpenAPI checks.
    const all = await control('GET', '/_sim/requests');
    const invalid = all.json.requests.filter((x) => !x.valid);
    if (invalid.length) {
      setupFailures++;
      failureSamples.push(`${invalid.length} worker calls broke the sim's OpenAPI checks: ${JSON.stringify(invalid[0].violations)}`);
    }

    report({ t0, simBase, workerBase: W });
  } finally {
    if (worker) await worker.mf.dispose().catch(() => {});
    await stopSim();
  }
}

function report({ t0 }) {
  const st = Object.fromEntries(STEPS.map(([k]) => [k, stats(times[k])]));
  const sum = (keys) => stats(perIter.map((g) => keys.reduce((a, k) => a + g[k], 0)));
  const diff = (k, minus) => stats(perIter.map((g) => g[k] - minus.reduce((a, [m, f]) => a + f * g[m], 0)));
  const totalFailures = setupFailures + Object.values(failures).reduce((a, b) => a + b, 0);
  const commit = commitLabel();
  const L = [];
  L.push(`# kenar-edge flow latency — ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`, '');
  const storage = durableObjectBindings.length ? `local KV, Durable Objects ${durableObjectBindings.join(', ')}` : 'local KV, no Durable Objects';
  L.push(`Commit ${commit}; \`build/\` in Miniflare ${MINIFLARE_VERSION} (workerd, no inspector, ${storage}) against divar-sim ` +
    `(release build) on loopback; ${ITERATIONS} iterations after ${WARMUP} warm-up, one request in flight; client-side ` +
    `times (fetch to last body byte, keep-alive) in ms; ${cpus().length} CPUs, node ${process.version}. Each iteration ` +
    'runs every step once, in the order below, on a fresh chat (the visit steps on one chat set up before the loop, ' +
    `a fresh proposal each iteration; the events in turn to ${BOT_CONVERSATIONS} bot chats, the reply looked for in the ` +
    `sim's request log every ${POLL_MS} ms + one look's round trip); a failed check drops the whole iteration.`, '');
  const headline = [
    ['session-init', 'session-init'],
    ['tap-confirm', 'one-tap answer, confirms an open proposal (granted, posts the confirmation)'],
    ['tap-repeat', 'one-tap answer, repeated on the answered proposal (nothing posted)'],
    ['msg-sent', 'message send, granted'],
    ['event-ack', 'Divar event (bot chat message), acknowledged'],
    ['event-reply', 'Divar event → the bot\'s reply recorded by the sim'],
    ['event-repeat', 'Divar event delivered again (duplicate, nothing sent)'],
  ];
  L.push('| headline (ms) | p50 | p99 |', '|---|---:|---:|');
  for (const [k, label] of headline) L.push(`| ${label} | ${f2(st[k].p50)} | ${f2(st[k].p99)} |`);
  L.push('');
  L.push('| step | n | p50 | p95 | p99 | mean | failures |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const [k, label] of STEPS) {
    const s = st[k];
    L.push(`| ${label} | ${s.n} | ${f2(s.p50)} | ${f2(s.p95)} | ${f2(s.p99)} | ${f2(s.mean)} | ${failures[k]} |`);
  }
  L.push('');
  const base = st['session-init'];
  const rows = [
    ['OAuth round trip, worker: start + callback', sum(['oauth-start', 'oauth-callback'])],
    ['  of which divar-sim (direct code exchange)', st['sim-token-code']],
    ['  worker\'s own share: start + callback − sim code exchange', diff('oauth-callback', [['sim-token-code', 1], ['oauth-start', -1]])],
    ['Sending, granted: messages POST', st['msg-sent']],
    ['  worker\'s own share: − sim send', diff('msg-sent', [['sim-send', 1]])],
    ['Sending, token expired at Divar: messages POST', st['msg-refresh']],
    ['  worker\'s own share: − (2 × sim send + sim refresh)', diff('msg-refresh', [['sim-send', 2], ['sim-token-refresh', 1]])],
    ['The page\'s whole first send (no grant → start → callback → send), worker time', sum(['msg-consent', 'oauth-start', 'oauth-callback', 'msg-sent'])],
    ['One-tap answer confirming a proposal (dynamic action, granted)', st['tap-confirm']],
    ['  worker\'s own share: − sim send', diff('tap-confirm', [['sim-send', 1]])],
    ['One-tap answer repeated on the answered proposal', st['tap-repeat']],
    ['Divar event (bot chat message) acknowledged', st['event-ack']],
    ['Divar event → the bot\'s reply at the sim (ack, alarm, send; polled)', st['event-reply']],
    ['  after the ack: reply − ack', diff('event-reply', [['event-ack', 1]])],
    ['Divar event delivered again (duplicate)', st['event-repeat']],
  ];
  L.push('## Extra latency relative to session-init', '');
  L.push(`Session-init alone: p50 ${f2(base.p50)} / p95 ${f2(base.p95)} / p99 ${f2(base.p99)} ms. Rows are per-iteration sums/differences ` +
    '(percentiles of those, so p95 of a sum is not the sum of p95s); "× s-i" is the row\'s p50 over session-init\'s p50. ' +
    'The person\'s time on Divar\'s consent page is not included.', '');
  L.push('| what | p50 | p95 | p99 | mean | × s-i p50 |', '|---|---:|---:|---:|---:|---:|');
  for (const [label, s] of rows) {
    L.push(`| ${label.replace(/^ {2}/, '↳ ')} | ${f2(s.p50)} | ${f2(s.p95)} | ${f2(s.p99)} | ${f2(s.mean)} | ${f1(s.p50 / base.p50)} |`);
  }
  L.push('');
  if (totalFailures || failureSamples.length) {
    L.push(`**FAILED: ${totalFailures} check(s) failed (setup ${setupFailures}); these figures are not valid.**`, '');
    for (const s of failureSamples) L.push(`- ${s.split('\n')[0]}`);
    L.push('');
  } else {
    L.push('All checks passed: every status, body, redirect and handle as expected; every send reached the sim once ' +
      '(the expired path: 401, one refresh, 200; a confirming tap: one confirmation; a repeated tap: none); every ' +
      'event answered `answered` and got exactly one bot reply in its conversation, every repeated one `duplicate` and ' +
      'none (checked right after it, before the next event, and 250 ms after the last); every worker call passed the ' +
      'sim\'s OpenAPI checks.', '');
  }
  if (repeatToasts.size) {
    L.push(`The repeated tap answered: ${[...repeatToasts].map(([t, n]) => `"${t}" ×${n}`).join('; ')}.`, '');
  }
  L.push(`Worker console lines drained: ${runtimeLines.count}. Wall time ${Math.round((Date.now() - t0) / 1000)} s.`, '');
  const md = L.join('\n');
  console.log(md);
  if (OUT !== '-') {
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, md);
    log(`wrote ${OUT}`);
  }
  if (totalFailures || failureSamples.length || perIter.length === 0) process.exitCode = 1;
}

try {
  await main();
} catch (e) {
  log(`error: ${e.stack || e}`);
  if (runtimeLines.sample) log(`worker output:\n${runtimeLines.sample.slice(0, 4000)}`);
  process.exitCode = 1;
}
