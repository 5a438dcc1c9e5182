// End-to-end harness: the built worker under `wrangler dev` talking to the Divar simulator
// (divar-sim), both on loopback with free ports. Reusable by every e2e test file:
//
//   const stack = await startStack();            // sim + worker, wired to each other
//   after(() => stack.stop());                   // always; also safe when start failed halfway
//   const { url, handle } = await launchViaSim(stack.sim, { side: 'seller' });
//
// Every child process runs in its own process group (wrangler -> node -> workerd) and is
// stopped by killing the group; an exit hook kills whatever a crashed test left behind.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SIM_BIN = path.join(ROOT, 'divar-sim', 'target', 'debug', 'divar-sim');
export const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
const WRANGLER_JS = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const LOG_LIMIT = 200_000;

// ---------------------------------------------------------------------------------------------
// Processes

const live = new Set(); // process-group leaders still running

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

process.on('exit', () => {
  for (const pid of live) killGroup(pid, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
    process.exit(130);
  });
}

/**
 * Spawns `cmd args` detached in its own process group, capturing stdout+stderr into `log()`.
 * Returns { child, pid, log(), waitFor(regex, ms), stop() }.
 */
export function spawnGroup(cmd, args, { cwd = ROOT, env = {}, name = cmd } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let exited = null;
  const listeners = new Set();
  const append = (chunk) => {
    log += chunk.toString();
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
    for (const fn of listeners) fn();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  live.add(child.pid);
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      for (const fn of listeners) fn();
      resolve(exited);
    });
  });
  child.on('error', (e) => append(`\n[spawn error] ${e.message}\n`));

  const proc = {
    name,
    child,
    pid: child.pid,
    log: () => log,
    exited: () => exited,
    /** Resolves with the first match of `re` in the log; rejects on exit or timeout. */
    waitFor(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = log.match(re);
          if (m) return done(null, m);
          if (exited) return done(new Error(`${name} exited (${JSON.stringify(exited)}) before ${re}\n--- log ---\n${log}`));
        };
        const timer = setTimeout(() => done(new Error(`${name}: no ${re} within ${ms} ms\n--- log ---\n${log}`)), ms);
        function done(err, m) {
          clearTimeout(timer);
          listeners.delete(check);
          err ? reject(err) : resolve(m);
        }
        listeners.add(check);
        check();
      });
    },
    /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when the group is gone. */
    async stop(graceMs = 5_000) {
      if (!live.has(child.pid)) return;
      killGroup(child.pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (groupAlive(child.pid) && Date.now() < deadline) await sleep(50);
      if (groupAlive(child.pid)) {
        killGroup(child.pid, 'SIGKILL');
        while (groupAlive(child.pid)) await sleep(20);
      }
      if (!exited) await Promise.race([exitPromise, sleep(1_000)]);
      live.delete(child.pid);
    },
  };
  return proc;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Builds

let workerBuilt = false;
/** `bash scripts/build.sh` (a no-op when build/ is newer than src/). Once per process. */
export function ensureWorkerBuilt({ force = false } = {}) {
  if (workerBuilt && !force) return;
  const r = spawnSync('bash', ['scripts/build.sh'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`scripts/build.sh failed (${r.status})\n${r.stdout}\n${r.stderr}`);
  workerBuilt = true;
}

let simBuilt = false;
/** `cargo build` of divar-sim (debug), once per process. Returns the binary path. */
export function ensureSimBuilt() {
  if (!simBuilt) {
    const r = spawnSync('cargo', ['build', '--quiet', '--manifest-path', 'divar-sim/Cargo.toml'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    if (r.status !== 0) throw new Error(`cargo build of divar-sim failed (${r.status})\n${r.stderr}`);
    simBuilt = true;
  }
  return SIM_BIN;
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** The development values from .dev.vars.example, as { NAME: value } (empty values kept). */
export function devVars() {
  const text = readFileSync(path.join(ROOT, '.dev.vars.example'), 'utf8');
  const vars = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=(.*)$/);
    if (m) vars[m[1]] = m[2].trim().replace(/^"(.*)"$/, '$1');
  }
  return vars;
}

// ---------------------------------------------------------------------------------------------
// The simulator

/**
 * Starts divar-sim on a free port.
 *   appBase   the worker's base URL (required: the sim's calls to the app go there)
 *   vars      the worker config, so the keys match (default devVars())
 *   args      extra command-line flags
 * Returns { base, port, proc, log(), control(method, path, body), stop() }.
 */
export async function startSim({ appBase, vars = devVars(), args = [], timeoutMs = 30_000 } = {}) {
  if (!appBase) throw new Error('startSim: appBase is required');
  const bin = ensureSimBuilt();
  const flags = ['--port', '0', '--app-base', appBase];
  const pairs = [
    ['--identification-key', vars.DIVAR_IDENTIFICATION_KEY],
    ['--api-key', vars.KENAR_API_KEY],
    ['--oauth-client-secret', vars.KENAR_OAUTH_CLIENT_SECRET],
    ['--app-slug', vars.KENAR_APP_SLUG],
  ];
  for (const [flag, value] of pairs) if (value) flags.push(flag, value);
  const proc = spawnGroup(bin, [...flags, ...args], { name: 'divar-sim', env: { RUST_LOG: process.env.RUST_LOG || 'warn' } });
  let m;
  try {
    m = await proc.waitFor(/divar-sim listening on (http:\/\/127\.0\.0\.1:(\d+))/, timeoutMs);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  const base = m[1];
  return {
    base,
    port: Number(m[2]),
    proc,
    log: proc.log,
    /** JSON call to the control API; returns { status, body }. */
    control: (method, p, body) => jsonCall(base + p, { method, body }),
    stop: () => proc.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// The worker under wrangler dev

/**
 * Starts `wrangler dev` on the built worker with every setting passed as --var (the repo's
 * .dev.vars, if any, is ignored: --env-file points at an empty file).
 *   port, inspectorPort  default: free ports
 *   persistTo            KV directory (default: a fresh temp dir, removed by stop({ clean: true }))
 *   simBase              the simulator's base URL: KENAR_API_BASE, KENAR_OAUTH_BASE, completion
 *   vars                 overrides on top of devVars() + the above; a value of null drops the var
 *   timeoutMs            how long to wait for GET /healthz → 200 (default 60 s)
 * Returns { base, port, inspectorPort, persistTo, vars, proc, log(), stop(opts), restart({ whileDown }) }.
 */
export async function startWorker({
  port,
  inspectorPort,
  persistTo,
  simBase,
  vars = {},
  timeoutMs = 60_000,
} = {}) {
  ensureWorkerBuilt();
  port = port ?? (await freePort());
  inspectorPort = inspectorPort ?? (await freePort());
  const ownDir = !persistTo;
  persistTo = persistTo ?? mkdtempSync(path.join(os.tmpdir(), 'kenar-kv-'));
  const base = `http://127.0.0.1:${port}`;
  // Tests and benchmarks hammer one address; the rate-limit test turns the limits back on.
  const all = { ...devVars(), KENAR_RATE_LIMITS: 'off', PUBLIC_BASE_URL: base };
  if (simBase) {
    all.KENAR_API_BASE = simBase;
    all.KENAR_OAUTH_BASE = simBase;
    all.DIVAR_COMPLETION_URL = `${simBase}/completion`;
  }
  for (const [k, v] of Object.entries(vars)) {
    if (v === null || v === undefined) delete all[k];
    else all[k] = String(v);
  }
  const envFile = path.join(persistTo, '.empty.env');
  writeFileSync(envFile, '');

  const worker = {
    base,
    port,
    inspectorPort,
    persistTo,
    vars: all,
    proc: null,
    log: () => (worker.proc ? worker.proc.log() : ''),
    async start() {
      const args = [
        WRANGLER_JS, 'dev',
        '--ip', '127.0.0.1',
        '--port', String(port),
        '--inspector-port', String(inspectorPort),
        '--persist-to', persistTo,
        '--env-file', envFile,
        '--show-interactive-dev-session=false',
      ];
      for (const [k, v] of Object.entries(all)) args.push('--var', `${k}:${v}`);
      worker.proc = spawnGroup(process.execPath, args, {
        name: 'wrangler dev',
        env: {
          WRANGLER_SEND_METRICS: 'false',
          CLOUDFLARE_CF_FETCH_ENABLED: 'false',
          CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
          NO_COLOR: '1',
          FORCE_COLOR: '0',
          CI: '1',
        },
      });
      try {
        await waitHealthy(worker, timeoutMs);
      } catch (e) {
        await worker.proc.stop();
        throw e;
      }
      return worker;
    },
    /** Stops wrangler (the whole group). `clean: true` also removes a temp persist dir. */
    async stop({ clean = true } = {}) {
      if (worker.proc) await worker.proc.stop();
      if (clean && ownDir) rmSync(persistTo, { recursive: true, force: true });
    },
    /**
     * Stop and start again on the same port and the same --persist-to directory.
     * `whileDown` (optional): an async function awaited while no worker runs (e.g. to change
     * the simulator's faults, or to check that nothing reaches it meanwhile).
     */
    async restart({ whileDown } = {}) {
      await worker.proc.stop();
      await waitPortFree(port);
      if (whileDown) await whileDown();
      return worker.start();
    },
  };
  return worker.start();
}

async function waitHealthy(worker, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (worker.proc.exited()) {
      throw new Error(`wrangler dev exited (${JSON.stringify(worker.proc.exited())})\n--- log ---\n${worker.proc.log()}`);
    }
    try {
      const r = await fetch(`${worker.base}/healthz`, { signal: AbortSignal.timeout(3_000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.cause?.code || e.message;
    }
    await sleep(200);
  }
  throw new Error(`wrangler dev: /healthz not 200 within ${timeoutMs} ms (last: ${last})\n--- log ---\n${worker.proc.log()}`);
}

async function waitPortFree(port, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return;
    await sleep(100);
  }
  throw new Error(`port ${port} still busy after ${ms} ms`);
}

// ---------------------------------------------------------------------------------------------
// The two together

/**
 * Starts the simulator and a worker wired to each other (the worker's port is chosen first so
 * the sim's --app-base can name it). Options go to startWorker ({ vars, persistTo, ... }).
 * Returns { sim, worker, stop() }; stop() is safe to call twice and after a failed start.
 */
export async function startStack(workerOpts = {}) {
  const port = workerOpts.port ?? (await freePort());
  const stack = { sim: null, worker: null };
  stack.stop = async () => {
    const w = stack.worker;
    const s = stack.sim;
    stack.worker = stack.sim = null;
    if (w) await w.stop();
    if (s) await s.stop();
  };
  try {
    const vars = { ...devVars(), ...(workerOpts.vars || {}) };
    stack.sim = await startSim({ appBase: `http://127.0.0.1:${port}`, vars });
    stack.worker = await startWorker({ ...workerOpts, port, simBase: stack.sim.base });
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

/**
 * fetch with a JSON body (objects are serialised; strings/Buffers sent as they are).
 * Returns { status, headers, text, body } where body is the parsed JSON or null.
 */
export async function jsonCall(url, { method = 'GET', body, headers = {}, timeoutMs = 20_000, redirect = 'manual' } = {}) {
  const h = { ...headers };
  let payload = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    payload = JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const r = await fetch(url, { method, headers: h, body: payload, redirect, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, text, body: parsed };
}

/** POST /divar/session-init as Divar would (the identification key by default). */
export function sessionInit(worker, body, { key = worker.vars.DIVAR_IDENTIFICATION_KEY, headers = {}, ...opts } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key !== null) h.authorization = key;
  return jsonCall(`${worker.base}/divar/session-init`, { method: 'POST', body, headers: h, ...opts });
}

/** GET /api/session with the handle as a bearer token (null: no Authorization header). */
export function getSession(worker, handle) {
  const headers = handle === null ? {} : { authorization: `Bearer ${handle}` };
  return jsonCall(`${worker.base}/api/session`, { headers });
}

/** The handle in a session-init answer's URL (`…/#h=<handle>`). */
export function handleFromUrl(url) {
  const m = /#h=([^&]+)/.exec(url || '');
  if (!m) throw new Error(`no #h= in ${url}`);
  return decodeURIComponent(m[1]);
}

/** The (unverified) JWT claims of a handle, for assertions about what it carries. */
export function handleClaims(handle) {
  const part = handle.split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * Divar's real caller: creates a chat in the sim (or reuses `chat`) and launches the add-on
 * from one side. Returns { chat, launch, url, handle } (throws if the launch did not succeed).
 */
export async function launchViaSim(sim, { side = 'seller', version = 2, extra_data, chat } = {}) {
  if (!chat) {
    const c = await sim.control('POST', '/_sim/chats', {});
    if (c.status !== 200) throw new Error(`POST /_sim/chats: ${c.status} ${c.text}`);
    chat = c.body;
  }
  const req = { side, version };
  if (extra_data !== undefined) req.extra_data = extra_data;
  const l = await sim.control('POST', `/_sim/chats/${encodeURIComponent(chat.conversation_id)}/launch`, req);
  if (l.status !== 200) throw new Error(`launch: ${l.status} ${l.text}`);
  const launch = l.body;
  if (launch.status !== 200 || !launch.url) throw new Error(`launch failed: ${JSON.stringify(launch)}`);
  return { chat, launch, url: launch.url, handle: handleFromUrl(launch.url) };
}

// ---------------------------------------------------------------------------------------------
// Polling, consent and the simulator's observables (shared by tests that count what reached Divar)

/** Polls `check` (sync or async) until it returns truthy or `timeoutMs` passed; resolves to whether it held. */
export async function pollUntil(check, { timeoutMs = 10_000, everyMs = 250 } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(everyMs);
  }
}

/**
 * The whole OAuth consent round over HTTP, as Divar's user `user_id`: POST /api/oauth/start
 * with `handle`, open the sim's consent page, approve through the control API, follow the
 * redirect to the worker's callback. Returns the handle the callback sends back (#h=…); throws
 * unless the outcome is `granted`.
 */
export async function grantViaSim(worker, sim, handle, user_id) {
  const start = await jsonCall(`${worker.base}/api/oauth/start`, { method: 'POST', headers: { authorization: `Bearer ${handle}` } });
  if (start.status !== 200) throw new Error(`POST /api/oauth/start: ${start.status} ${start.text}`);
  const url = new URL(start.body.authorize_url);
  const page = await fetch(url, { redirect: 'manual' });
  await page.arrayBuffer();
  if (page.status !== 200) throw new Error(`consent page: ${page.status}`);
  const pending = await sim.control('GET', '/_sim/oauth/authorizations?status=pending');
  const auth = pending.body.authorizations.find((a) => a.state === url.searchParams.get('state'));
  if (!auth) throw new Error('no pending authorization for our state');
  const d = await sim.control('POST', `/_sim/oauth/authorizations/${encodeURIComponent(auth.id)}/approve`, user_id ? { user_id } : {});
  if (d.status !== 200) throw new Error(`approve: ${d.status} ${d.text}`);
  const cb = await jsonCall(d.body.redirect_url, {});
  const location = cb.headers.get('location') || '';
  const frag = new URLSearchParams(location.split('#')[1] || '');
  if (cb.status !== 303 || frag.get('oauth') !== 'granted' || !frag.get('h')) {
    throw new Error(`callback: ${cb.status} ${location} ${cb.text}`);
  }
  return frag.get('h');
}

/** The messages the sim holds for a conversation, oldest first. */
export async function simMessages(sim, conversationId) {
  const r = await sim.control('GET', `/_sim/conversations/${encodeURIComponent(conversationId)}/messages`);
  if (r.status !== 200) throw new Error(`sim messages: ${r.status} ${r.text}`);
  return r.body.messages;
}

/**
 * The Kenar API calls the sim logged (not token-endpoint calls), optionally of one endpoint
 * (`conversation_send`, …), after log id `since`, whose path names `conversationId`.
 */
export async function simRequests(sim, { since = 0, endpoint, conversationId } = {}) {
  const q = new URLSearchParams({ since: String(since) });
  if (endpoint) q.set('endpoint', endpoint);
  const r = await sim.control('GET', `/_sim/requests?${q}`);
  if (r.status !== 200) throw new Error(`sim requests: ${r.status} ${r.text}`);
  return r.body.requests.filter((x) => x.id > since && (!conversationId || x.path.includes(encodeURIComponent(conversationId)) || x.path.includes(conversationId)));
}

/**
 * The Kenar API calls the sim logged as not valid or with a warning (a field or enum value
 * Divar would ignore), faulted ones aside, as [{ endpoint, violations }]. The simulator takes
 * such calls as Divar does; the worker's own must carry none, so a test expects [].
 */
export async function flaggedRequests(sim) {
  const all = await simRequests(sim);
  return all
    .filter((q) => !q.fault && (q.valid !== true || (q.violations && q.violations.length > 0)))
    .map((q) => ({ endpoint: q.endpoint, violations: q.violations }));
}

/** Adds a fault rule (see divar-sim/README.md, "Faults"); returns the rule ({ id, … }). */
export async function addFault(sim, spec) {
  const r = await sim.control('POST', '/_sim/faults', spec);
  if (r.status !== 200) throw new Error(`POST /_sim/faults: ${r.status} ${r.text}`);
  return r.body.fault;
}

/** Removes the fault rules of one endpoint (every rule without one). */
export async function clearFaults(sim, endpoint) {
  const r = await sim.control('DELETE', endpoint ? `/_sim/faults?endpoint=${encodeURIComponent(endpoint)}` : '/_sim/faults');
  if (r.status !== 200) throw new Error(`DELETE /_sim/faults: ${r.status} ${r.text}`);
  return r.body.cleared;
}

/** How many calls a fault rule has hit so far (null once the rule is gone). */
export async function faultHits(sim, ruleId) {
  const r = await sim.control('GET', '/_sim/faults');
  const rule = r.body.faults.find((f) => f.id === ruleId);
  return rule ? rule.hits : null;
}

/** tests/artifacts/<name>, with the directory created. */
export function artifactPath(name) {
  if (!existsSync(ARTIFACTS)) spawnSync('mkdir', ['-p', ARTIFACTS]);
  return path.join(ARTIFACTS, name);
}

// ---------------------------------------------------------------------------------------------
// Browser (Debian's Chromium through playwright-core; never `npx playwright install`)

export const CHROMIUM = '/usr/bin/chromium';
export const PHONE_VIEWPORT = { width: 360, height: 740 };
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Headless Chromium (playwright gives each launch a fresh temporary profile). Close it in after(). */
export async function launchBrowser({ args = [], timeoutMs = 30_000 } = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...args], timeout: timeoutMs });
}

/**
 * A fresh phone-sized page (own context: empty sessionStorage and cookies) that records what
 * should never happen: console errors/warnings, uncaught page errors, CSP violations (from a
 * `securitypolicyviolation` listener installed before any page script) and requests that leave
 * loopback. Call `await problemsOf()` at the end of a test; close `context` in a finally.
 * Returns { page, context, problems, problemsOf() }.
 */
export async function openPhonePage(browser, { viewport = PHONE_VIEWPORT, locale = 'fa-IR' } = {}) {
  const context = await browser.newContext({ viewport, locale, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const problems = { console: [], pageErrors: [], csp: [], external: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.pageErrors.push(String(e)));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1') problems.external.push(r.url());
  });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  /** The recorded problems, with the page's CSP violations collected; `allowConsole` filters. */
  const problemsOf = async ({ allowConsole = [] } = {}) => {
    let csp = [];
    try {
      csp = await page.evaluate(() => window.__csp || []);
    } catch {
      /* page closed or navigated away from our origin */
    }
    return {
      console: problems.console.filter((m) => !allowConsole.some((re) => re.test(m))),
      pageErrors: [...problems.pageErrors],
      csp: [...problems.csp, ...csp],
      external: [...problems.external],
    };
  };
  return { page, context, problems, problemsOf };
}

/** What `problemsOf()` returns when nothing went wrong. */
export const NO_PROBLEMS = Object.freeze({ console: [], pageErrors: [], csp: [], external: [] });
