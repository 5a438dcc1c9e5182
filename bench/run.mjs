#!/usr/bin/env node
// kenar-edge benchmark: the Rust/wasm worker vs a plain-JS worker doing the same work, both
// served by Miniflare (workerd, no inspector) on loopback, loaded by wrk, runs interleaved.
// See bench/README.md. It is a benchmark, not a test: it fails only when a worker is broken.
//
//   node bench/run.mjs                       # defaults: 4 rounds x 5 s, c=1, 16 and 64, 3 routes, ~8 min
//   node bench/run.mjs --duration 3 --rounds 2 --conns 1,16 --routes session-init,healthz
//   node bench/run.mjs --no-build --rust-dir ../other-checkout/build --variant name=../variant/build
//   node bench/run.mjs --out -                # print the Markdown only, write no file
//
// Every flag can also be given as an env var: BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNS,
// BENCH_ROUTES, BENCH_WARMUP, BENCH_OUT, BENCH_NO_BUILD=1, BENCH_RUST_DIR, BENCH_THREADS.

import { spawnSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

import { BENCH, ROOT, COMPAT_DATE, NODE_MODULES, SESSION_BODY, buildWorker, cli, commitLabel, importMiniflare, localBindings, median, workerOptions } from './lib.mjs';

const { Miniflare, version: MINIFLARE_VERSION } = await importMiniflare();

// ---- options ------------------------------------------------------------------------------
const { argv, opt, flag } = cli();
const variants = [];
for (let i = 0; i < argv.length; i++) if (argv[i] === '--variant') variants.push(argv[i + 1]);

const DURATION = Number(opt('duration', 'BENCH_DURATION', '5'));
const ROUNDS = Number(opt('rounds', 'BENCH_ROUNDS', '4'));
const WARMUP = Number(opt('warmup', 'BENCH_WARMUP', '2'));
const CONNS = opt('conns', 'BENCH_CONNS', '1,16,64').split(',').map(Number);
const ROUTES = opt('routes', 'BENCH_ROUTES', 'session-init,api-session,healthz').split(',');
const SETTLE_MS = Number(opt('settle-ms', 'BENCH_SETTLE_MS', '500'));
const THREADS = Number(opt('threads', 'BENCH_THREADS', '1'));
const RUST_DIR = resolve(opt('rust-dir', 'BENCH_RUST_DIR', join(ROOT, 'build')));
const OUT = opt('out', 'BENCH_OUT', join(BENCH, 'results/latest.md'));
const NO_BUILD = flag('no-build', 'BENCH_NO_BUILD');
const SKIP_DRY_RUN = flag('no-dry-run', 'BENCH_NO_DRY_RUN');

// ---- config: the bindings the Rust worker reads: wrangler.toml's [vars], .dev.vars.example ---
const BINDINGS = localBindings();
// --persist on-demand: no KV write at launch (both workers honour SESSION_PERSIST), which takes
// Miniflare's KV simulator, the dominant and drifting cost of session-init, out of the measure.
const PERSIST = opt('persist', 'BENCH_PERSIST', 'launch');
BINDINGS.SESSION_PERSIST = PERSIST;

// ---- workers --------------------------------------------------------------------------------
const log = (...a) => console.error('[bench]', ...a);

function buildRust() {
  if (NO_BUILD) return;
  buildWorker(log);
}

const runtimeLines = { count: 0 };
async function startWorker(name, scriptPath) {
  let startupLog = '';
  if (!existsSync(scriptPath)) throw new Error(`${name}: ${scriptPath} does not exist`);
  // A free port chosen by the OS; no inspector; wrangler.toml's Durable Objects for the Rust
  // worker and variants (the JS worker has none); console output drained (counted, not printed).
  const options = workerOptions({
    scriptPath,
    port: 0,
    bindings: BINDINGS,
    durableObjects: name !== 'js',
    log: (m) => log(`${name}: ${m}`),
    onOutput(text) {
      runtimeLines.count += text.split('\n').length - 1;
      if (startupLog.length < 8192) startupLog += text;
    },
  });
  const mf = new Miniflare(options);
  let url;
  try {
    url = await mf.ready;
  } catch (e) {
    throw new Error(`${name} (${scriptPath}) did not start: ${e.message}\n${startupLog}`);
  }
  return { name, mf, url: url.href.replace(/\/$/, ''), scriptPath, durableObjects: Object.keys(options.durableObjects ?? {}) };
}

// ---- correctness checks before timing -------------------------------------------------------
const b64urlDecode = (s) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

async function verifyWorker(w) {
  const fail = (why) => {
    throw new Error(`${w.name} is broken, not benchmarking it: ${why}`);
  };
  const h = await fetch(`${w.url}/healthz`);
  const hb = await h.text();
  if (h.status !== 200 || JSON.stringify(JSON.parse(hb)) !== '{"ok":true}') fail(`GET /healthz -> ${h.status} ${hb}`);

  const post = (auth) =>
    fetch(`${w.url}/divar/session-init`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: SESSION_BODY,
    });
  const r = await post(BINDINGS.DIVAR_IDENTIFICATION_KEY);
  const text = await r.text();
  if (r.status !== 200) fail(`session-init -> ${r.status} ${text}`);
  const body = JSON.parse(text);
  if (body.status !== '200' || body.message !== 'success') fail(`session-init body ${text}`);
  const prefix = `${BINDINGS.PUBLIC_BASE_URL}/#h=`;
  if (typeof body.url !== 'string' || !body.url.startsWith(prefix)) fail(`url ${body.url}`);
  const jwt = body.url.slice(prefix.length);
  const [hd, pl, sig] = jwt.split('.');
  const expect = createHmac('sha256', BINDINGS.SESSION_SIGNING_KEY).update(`${hd}.${pl}`).digest('base64url');
  if (sig !== expect) fail('the handle does not verify with SESSION_SIGNING_KEY');
  const header = JSON.parse(b64urlDecode(hd));
  const claims = JSON.parse(b64urlDecode(pl));
  if (header.alg !== 'HS256') fail(`alg ${header.alg}`);
  if (!/^[0-9a-f]{32}$/.test(claims.sid) || claims.ctx?.conversation_id !== '6b3d5cf7-9291-4fa9-892a-9d07e300daea' ||
      claims.ctx?.user_side !== 'SUPPLY' || !(claims.exp > claims.iat))
    fail(`claims ${JSON.stringify(claims)}`);

  const bad = await post('not-the-key-0000000000');
  await bad.text();
  if (bad.status !== 401) fail(`a wrong key got ${bad.status}`);

  // The KV write is deferred (waitUntil): give it a moment, then look for the record.
  const kv = await w.mf.getKVNamespace('KENAR_KV');
  let rec = null;
  for (let i = 0; i < (PERSIST === 'launch' ? 20 : 4) && !rec; i++) {
    rec = await kv.get(`session:${claims.sid}`);
    if (!rec) await new Promise((res) => setTimeout(res, 50));
  }
  if (PERSIST === 'launch') {
    if (!rec) fail('no KV record session:<sid> after session-init');
    // The Rust worker seals its records (AES-GCM, issue 10); the JS baseline writes JSON.
    let parsed = null;
    try {
      parsed = JSON.parse(rec);
    } catch {
      if (rec.includes(claims.ctx.conversation_id)) fail('a sealed KV record shows the conversation id');
    }
    if (parsed && parsed.context?.conversation_id !== claims.ctx.conversation_id) fail(`KV record ${rec}`);
  } else if (rec) fail(`SESSION_PERSIST=${PERSIST} but a KV record was written`);
  // The page's first call with that handle: the same context back.
  const page = await fetch(`${w.url}/api/session`, { headers: { authorization: `Bearer ${jwt}` } });
  const pageText = await page.text();
  if (page.status !== 200) fail(`GET /api/session -> ${page.status} ${pageText}`);
  const view = JSON.parse(pageText);
  if (view.context?.conversation_id !== claims.ctx.conversation_id || view.expires_at !== claims.exp) fail(`GET /api/session body ${pageText}`);
  const forged = await fetch(`${w.url}/api/session`, { headers: { authorization: `Bearer ${jwt.slice(0, -2)}AA` } });
  await forged.text();
  if (forged.status !== 401) fail(`a forged handle got ${forged.status}`);
  return { handle: jwt, handleBytes: jwt.length, answerBytes: text.length, claims: Object.keys(claims).join(',') };
}

// ---- wrk ------------------------------------------------------------------------------------
function toMs(s) {
  const m = s.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!m) return NaN;
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2]];
}

/** What each route times: its request line for the report. */
const ROUTE_TITLES = {
  'session-init': 'POST /divar/session-init',
  'api-session': 'GET /api/session (the page\'s first call, bearer handle)',
  healthz: 'GET /healthz ("pong")',
};

function runWrk(w, route, conns, seconds) {
  const url = w.url;
  const args = ['-t', String(Math.min(THREADS, conns)), '-c', String(conns), '-d', `${seconds}s`, '--latency', '--timeout', '5s'];
  if (route === 'session-init') args.push('-s', join(BENCH, 'session-init.lua'), `${url}/divar/session-init`);
  else if (route === 'api-session') args.push('-H', `Authorization: Bearer ${w.check.handle}`, `${url}/api/session`);
  else args.push(`${url}/healthz`);
  return new Promise((resolveP, reject) => {
    const p = spawn('wrk', args, { env: { ...process.env, BENCH_AUTH: BINDINGS.DIVAR_IDENTIFICATION_KEY } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out}`));
      const pct = (q) => toMs((out.match(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm')) || [])[1] ?? '');
      const requests = Number((out.match(/(\d+) requests in/) || [])[1]);
      const non2xx = Number((out.match(/Non-2xx or 3xx responses: (\d+)/) || [0, 0])[1]);
      const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
      const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      resolveP({
        p50: pct(50),
        p90: pct(90),
        p99: pct(99),
        rps: Number((out.match(/Requests\/sec:\s+([\d.]+)/) || [])[1]),
        requests,
        non2xx,
        socketErrors,
        raw: out,
      });
    });
  });
}

// ---- sizes ----------------------------------------------------------------------------------
function sizes(dir) {
  const wasm = readFileSync(join(dir, 'index_bg.wasm'));
  const js = readFileSync(join(dir, 'index.js'));
  const out = { wasmRaw: wasm.length, wasmGzip: gzipSync(wasm, { level: 9 }).length, shimRaw: js.length, upload: null };
  if (SKIP_DRY_RUN) return out;
  // wrangler's own figure, from a throw-away config pointing at the built files (no build step,
  // nothing written under the repository).
  const tmp = mkdtempSync(join(tmpdir(), 'kenar-bench-'));
  try {
    writeFileSync(join(tmp, 'wrangler.toml'),
      `name = "kenar-edge-bench"\nmain = "${join(dir, 'index.js')}"\ncompatibility_date = "${COMPAT_DATE}"\n`);
    const r = spawnSync(join(NODE_MODULES, '.bin/wrangler'), ['deploy', '--dry-run', '--outdir', join(tmp, 'dist')], {
      cwd: tmp,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    const m = `${r.stdout}${r.stderr}`.match(/Total Upload:\s*([^\n]*)/);
    out.upload = m ? m[1].trim() : null;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

// ---- statistics -----------------------------------------------------------------------------
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toString() : 'n/a');
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;

// ---- main -----------------------------------------------------------------------------------
async function main() {
  const t0 = Date.now();
  buildRust();
  const specs = [
    ['rust', join(RUST_DIR, 'index.js')],
    ['js', join(BENCH, 'js-worker/index.mjs')],
    ...variants.map((v) => {
      const [name, dir] = v.split('=');
      return [name, existsSync(join(dir, 'index.js')) ? join(dir, 'index.js') : dir];
    }),
  ];
  const workers = [];
  try {
    for (const [name, path] of specs) workers.push(await startWorker(name, path));
    for (const w of workers) {
      w.check = await verifyWorker(w);
      log(`${w.name} at ${w.url}: healthz, session-init and /api/session OK (handle ${w.check.handleBytes} B, claims ${w.check.claims})`);
    }
    const routes = ROUTES;
    const scenarios = routes.flatMap((route) => CONNS.map((conns) => ({ route, conns })));
    const results = {}; // key `${route}|${conns}|${worker}` -> [run...]
    const key = (s, w) => `${s.route}|${s.conns}|${w.name}`;

    if (WARMUP > 0) {
      log(`warm-up: ${WARMUP} s per worker and route`);
      for (const route of routes) for (const w of workers) await runWrk(w, route, Math.max(...CONNS), WARMUP);
    }
    const total = ROUNDS * scenarios.length * workers.length;
    let done = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // ABBA: the order flips every round, so a drift in the machine's speed hits both sides.
      const order = round % 2 ? [...workers].reverse() : workers;
      for (const s of scenarios) {
        for (const w of order) {
          // Let deferred KV writes of the previous cell drain before the next one starts.
          await new Promise((res) => setTimeout(res, SETTLE_MS));
          const r = await runWrk(w, s.route, s.conns, DURATION);
          (results[key(s, w)] ??= []).push(r);
          done++;
          log(`[${done}/${total}] round ${round + 1} ${s.route} c=${s.conns} ${w.name}: p50 ${f3(r.p50)} ms p99 ${f3(r.p99)} ms ${f0(r.rps)} req/s` +
            (r.non2xx || r.socketErrors ? ` NON-2XX ${r.non2xx} SOCKET-ERR ${r.socketErrors}` : ''));
        }
      }
    }

    // ---- report ----
    const sz = sizes(RUST_DIR);
    const lines = [];
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const commit = commitLabel();
    lines.push(`# kenar-edge benchmark — ${now}`, '');
    lines.push(`Commit ${commit}; Rust worker from \`${RUST_DIR.replace(ROOT + '/', '')}\`; Miniflare ` +
      `${MINIFLARE_VERSION} (workerd, no inspector${workers.some((w) => w.durableObjects.length) ? ', Durable Objects from wrangler.toml' : ''}); ` +
      `SESSION_PERSIST=${PERSIST}; wrk -t${THREADS} --latency; ${ROUNDS} interleaved rounds (ABBA) × ${DURATION} s per cell after a ${WARMUP} s warm-up; ` +
      `${cpus().length} CPUs, node ${process.version}. Figures are medians over rounds; ratio columns are the median of ` +
      `the per-round paired ratios [min–max].`, '');
    lines.push('Ratios are other/js: for latency **< 1 means faster than JS**, for req/s **> 1 means faster than JS**.', '');
    for (const s of scenarios) {
      lines.push(`## ${ROUTE_TITLES[s.route] || s.route} — ${s.conns} connection${s.conns > 1 ? 's' : ''}`, '');
      lines.push('| worker | p50 ms | p99 ms | req/s | p50 ratio | p99 ratio | req/s ratio | requests | non-2xx | socket errors |');
      lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      const js = results[`${s.route}|${s.conns}|js`];
      for (const w of workers) {
        const rs = results[key(s, w)];
        const med = (f) => median(rs.map(f));
        const ratio = (f) => {
          if (w.name === 'js') return '1';
          const rr = rs.map((r, i) => f(r) / f(js[i]));
          return `${f2(median(rr))} [${f2(Math.min(...rr))}–${f2(Math.max(...rr))}]`;
        };
        const sum = (f) => rs.reduce((a, r) => a + f(r), 0);
        lines.push(`| ${w.name} | ${f3(med((r) => r.p50))} | ${f3(med((r) => r.p99))} | ${f0(med((r) => r.rps))} | ` +
          `${ratio((r) => r.p50)} | ${ratio((r) => r.p99)} | ${ratio((r) => r.rps)} | ${sum((r) => r.requests)} | ` +
          `${sum((r) => r.non2xx)} | ${sum((r) => r.socketErrors)} |`);
      }
      lines.push('');
    }
    const bad = Object.entries(results).filter(([, rs]) => rs.some((r) => r.non2xx || r.socketErrors));
    if (bad.length) {
      lines.push(`**WARNING: non-2xx responses or socket errors in ${bad.map(([k]) => k).join(', ')}; those figures are not valid.**`, '');
    }
    lines.push('## Size', '');
    lines.push('| artefact | raw | gzip -9 |', '|---|---:|---:|');
    lines.push(`| build/index_bg.wasm | ${sz.wasmRaw} B (${kb(sz.wasmRaw)}) | ${sz.wasmGzip} B (${kb(sz.wasmGzip)}) |`);
    lines.push(`| build/index.js (shim) | ${sz.shimRaw} B (${kb(sz.shimRaw)}) | |`);
    if (sz.upload) lines.push('', `\`wrangler deploy --dry-run\`: Total Upload: ${sz.upload}`);
    lines.push('', `Worker console lines drained during the run: ${runtimeLines.count}. Wall time ${Math.round((Date.now() - t0) / 1000)} s.`, '');

    const md = lines.join('\n');
    console.log(md);
    if (OUT !== '-') {
      mkdirSync(dirname(OUT), { recursive: true });
      writeFileSync(OUT, md);
      log(`wrote ${OUT}`);
    }
    if (bad.length) process.exitCode = 2;
  } finally {
    for (const w of workers) await w.mf.dispose().catch(() => {});
  }
}

await main();
