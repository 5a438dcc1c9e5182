#!/usr/bin/env node
// Cold start and memory: the Rust worker (build/) against the plain-JS worker
// (bench/js-worker), each in a Miniflare of its own (workerd, no inspector), one after the other.
//
//   node bench/startup-memory.mjs [--starts 5] [--requests 50000] [--conns 16]
//                                 [--routes healthz,api-session] [--out FILE|-]
//
// Cold start: `--starts` times per worker, a new Miniflare, then the time to the first answer
// of /healthz after `ready` (the module is compiled and instantiated on first use), and of the
// second one. Memory: per route, a new Miniflare, then `--requests` requests from `--conns`
// concurrent clients, with workerd's resident set (VmRSS of the workerd process this script
// started) sampled before and at every fifth of the way. A benchmark, not a test: writes
// bench/results/startup-memory.md unless `--out -`.

import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BENCH, buildWorker, cli, commitLabel, importMiniflare, localBindings, median, ROOT, SESSION_BODY, workerOptions } from './lib.mjs';

const { opt, flag } = cli();
const STARTS = Number(opt('starts', 'BENCH_STARTS', '5'));
const REQUESTS = Number(opt('requests', 'BENCH_REQUESTS', '50000'));
const CONNS = Number(opt('conns', 'BENCH_CONNS', '16'));
const ROUTES = opt('routes', 'BENCH_ROUTES', 'healthz,api-session').split(',');
const OUT = opt('out', 'BENCH_OUT', join(BENCH, 'results', 'startup-memory.md'));
const log = (...a) => console.error('[startup-memory]', ...a);

const { Miniflare } = await importMiniflare();
const BINDINGS = localBindings();
BINDINGS.SESSION_PERSIST = 'on-demand';
if (!flag('no-build', 'BENCH_NO_BUILD')) buildWorker(log);
const WORKERS = [
  ['rust', join(ROOT, 'build', 'index.js')],
  ['js', join(BENCH, 'js-worker', 'index.mjs')],
];

/** The workerd processes this script started (children of this process). */
function workerdPids() {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    return out.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, c]) => c && c.startsWith('workerd')).map(([p]) => Number(p));
  } catch {
    return [];
  }
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function start(name, scriptPath) {
  const before = new Set(workerdPids());
  const mf = new Miniflare(workerOptions({ scriptPath, port: 0, bindings: BINDINGS, durableObjects: name !== 'js', log }));
  const url = (await mf.ready).href.replace(/\/$/, '');
  const pid = workerdPids().find((p) => !before.has(p));
  return { mf, url, pid };
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

async function coldStarts(name, scriptPath) {
  const first = [];
  const second = [];
  for (let i = 0; i < STARTS; i++) {
    const w = await start(name, scriptPath);
    try {
      let t0 = process.hrtime.bigint();
      await (await fetch(`${w.url}/healthz`)).text();
      first.push(ms(t0));
      t0 = process.hrtime.bigint();
      await (await fetch(`${w.url}/healthz`)).text();
      second.push(ms(t0));
    } finally {
      await w.mf.dispose();
    }
  }
  return { first, second };
}

/** A handle the worker itself issued, for /api/session. */
async function handleFrom(url) {
  const r = await fetch(`${url}/divar/session-init`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: BINDINGS.DIVAR_IDENTIFICATION_KEY },
    body: SESSION_BODY,
  });
  const jwt = (await r.json()).url.split('#h=')[1];
  const [h, p, sig] = jwt.split('.');
  if (createHmac('sha256', BINDINGS.SESSION_SIGNING_KEY).update(`${h}.${p}`).digest('base64url') !== sig) throw new Error('bad handle');
  return jwt;
}

async function memory(name, scriptPath, route) {
  const w = await start(name, scriptPath);
  try {
    if (!w.pid) throw new Error(`${name}: could not find its workerd process`);
    const headers = route === 'api-session' ? { authorization: `Bearer ${await handleFrom(w.url)}` } : {};
    const path = route === 'api-session' ? '/api/session' : '/healthz';
    await (await fetch(`${w.url}${path}`, { headers })).text();
    const samples = [[0, rssMiB(w.pid)]];
    let sent = 0;
    let failed = 0;
    const step = Math.ceil(REQUESTS / 5);
    let nextSample = step;
    async function client() {
      while (sent < REQUESTS) {
        sent++;
        const r = await fetch(`${w.url}${path}`, { headers });
        await r.arrayBuffer();
        if (r.status !== 200) failed++;
        if (sent >= nextSample) {
          samples.push([nextSample, rssMiB(w.pid)]);
          nextSample += step;
        }
      }
    }
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: CONNS }, client));
    const secs = ms(t0) / 1000;
    return { samples, failed, rps: REQUESTS / secs };
  } finally {
    await w.mf.dispose();
  }
}

const cold = {};
const mem = {};
for (const [name, path] of WORKERS) {
  log(`${name}: ${STARTS} cold starts`);
  cold[name] = await coldStarts(name, path);
  for (const route of ROUTES) {
    log(`${name}: ${REQUESTS} requests to ${route}, ${CONNS} at a time`);
    mem[`${name}|${route}`] = await memory(name, path, route);
  }
}

const f1 = (x) => x.toFixed(1);
const lines = [`# Cold start and memory — ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`, ''];
lines.push(`Commit ${commitLabel()}; \`node bench/startup-memory.mjs\`; Miniflare (workerd, no inspector), one worker at a time; ${cpus().length} CPUs, node ${process.version}.`, '');
lines.push(`## Cold start (${STARTS} fresh Miniflares per worker; ms from \`ready\` to the answer, median [min–max])`, '');
lines.push('| worker | first /healthz | second /healthz |', '|---|---:|---:|');
for (const [name] of WORKERS) {
  const c = cold[name];
  const cell = (xs) => `${f1(median(xs))} [${f1(Math.min(...xs))}–${f1(Math.max(...xs))}]`;
  lines.push(`| ${name} | ${cell(c.first)} | ${cell(c.second)} |`);
}
const ratio = median(cold.rust.first) / median(cold.js.first);
lines.push('', `First-request ratio Rust/JS: **${ratio.toFixed(2)}** (target ≤ 1.25).`, '');
for (const route of ROUTES) {
  lines.push(`## Memory: workerd's RSS (MiB) over ${REQUESTS} requests to ${route === 'api-session' ? 'GET /api/session' : 'GET /healthz'}, ${CONNS} at a time`, '');
  const cols = mem[`rust|${route}`].samples.map(([n]) => n);
  lines.push(`| worker | ${cols.map((n) => `after ${n}`).join(' | ')} | req/s | non-200 |`);
  lines.push(`|---|${cols.map(() => '---:').join('|')}|---:|---:|`);
  for (const [name] of WORKERS) {
    const m = mem[`${name}|${route}`];
    lines.push(`| ${name} | ${m.samples.map(([, r]) => f1(r)).join(' | ')} | ${m.rps.toFixed(0)} | ${m.failed} |`);
  }
  const end = (n) => mem[`${n}|${route}`].samples.at(-1)[1];
  lines.push('', `RSS at the end, Rust/JS: **${(end('rust') / end('js')).toFixed(2)}** (target ≤ 1.10).`, '');
}
const md = lines.join('\n');
if (OUT === '-') process.stdout.write(md + '\n');
else {
  writeFileSync(OUT, md + '\n');
  log(`wrote ${OUT.replace(ROOT + '/', '')}`);
}
