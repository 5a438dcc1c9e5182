// What the bench scripts share: where things are, how options are read, the worker's local
// bindings, what wrangler.toml says (compatibility date, [vars], Durable Objects), the Miniflare
// options every script starts the worker with, and the build.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH, '..');

/// `--name value` on the command line, else the environment variable, else the default.
export function cli(argv = process.argv.slice(2)) {
  const opt = (name, env, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : (process.env[env] ?? dflt);
  };
  const flag = (name, env) => argv.includes(`--${name}`) || process.env[env] === '1';
  return { argv, opt, flag };
}

/// NAME=VALUE lines of a .dev.vars-style file; comments and blank lines skipped.
export function parseDevVars(path) {
  const vars = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    if (eq > 0) vars[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return vars;
}

// ---- wrangler.toml --------------------------------------------------------------------------
// The subset of TOML wrangler.toml uses: `[table]`, `[[array.of.tables]]`, `key = value` with
// basic/literal strings, numbers, booleans and (possibly multi-line) arrays of those; `#`
// comments. Anything else throws, so a config the bench cannot read is never half-read.

function stripComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

function parseValue(src, where) {
  let i = 0;
  const ws = () => {
    while (i < src.length && /\s|,/.test(src[i])) i++;
  };
  const value = () => {
    ws();
    const c = src[i];
    if (c === '"') {
      let out = '';
      for (i++; i < src.length && src[i] !== '"'; i++) {
        if (src[i] !== '\\') out += src[i];
        else {
          const e = src[++i];
          out += { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' }[e] ?? (() => { throw new Error(`${where}: unsupported escape \\${e}`); })();
        }
      }
      i++;
      return out;
    }
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      const out = src.slice(i + 1, end);
      i = end + 1;
      return out;
    }
    if (c === '[') {
      const arr = [];
      i++;
      for (ws(); src[i] !== ']'; ws()) {
        if (i >= src.length) throw new Error(`${where}: unterminated array`);
        arr.push(value());
      }
      i++;
      return arr;
    }
    const m = /^(true|false|[+-]?\d[\d_]*(\.\d+)?)/.exec(src.slice(i));
    if (!m) throw new Error(`${where}: cannot read value ${src.slice(i, i + 20)}`);
    i += m[0].length;
    return m[1] === 'true' ? true : m[1] === 'false' ? false : Number(m[1].replace(/_/g, ''));
  };
  const v = value();
  ws();
  if (i < src.length) throw new Error(`${where}: trailing ${src.slice(i)}`);
  return v;
}

/// wrangler.toml as a plain object: `[[durable_objects.bindings]]` becomes
/// `{ durable_objects: { bindings: [...] } }`, `[vars]` becomes `{ vars: {...} }`.
export function readWranglerToml(path = join(ROOT, 'wrangler.toml')) {
  const root = {};
  let table = root;
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let n = 0; n < lines.length; n++) {
    let line = stripComment(lines[n]).trim();
    if (!line) continue;
    const where = `${path}:${n + 1}`;
    const header = /^(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?$/.exec(line);
    if (header) {
      const keys = header[2].split('.');
      let t = root;
      for (const k of keys.slice(0, -1)) t = t[k] ??= {};
      const last = keys[keys.length - 1];
      if (header[1] === '[[') (t[last] ??= []).push((table = {}));
      else table = t[last] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${where}: cannot read ${line}`);
    const key = line.slice(0, eq).trim().replace(/^"(.*)"$/, '$1');
    let src = line.slice(eq + 1).trim();
    // a multi-line array: read on until its brackets balance
    const depth = (s) => [...s.replace(/"(\\.|[^"\\])*"|'[^']*'/g, '')].reduce((d, c) => d + (c === '[') - (c === ']'), 0);
    while (src.startsWith('[') && depth(src) > 0 && n + 1 < lines.length) src += ` ${stripComment(lines[++n]).trim()}`;
    table[key] = parseValue(src, where);
  }
  return root;
}

export const WRANGLER = readWranglerToml();

/// The worker's compatibility_date, read from wrangler.toml so the bench runs what deploys.
export const COMPAT_DATE = WRANGLER.compatibility_date;

/// The worker's bindings as the bench runs it locally: wrangler.toml's [vars], then
/// `.dev.vars.example` (the development secrets and the simulator's URLs) over them.
export function localBindings() {
  const vars = Object.fromEntries(Object.entries(WRANGLER.vars ?? {}).map(([k, v]) => [k, String(v)]));
  return { ...vars, ...parseDevVars(join(ROOT, '.dev.vars.example')) };
}

/// Miniflare options for wrangler.toml's Durable Objects, or {} when it declares none (the
/// worker before the move to Durable Objects). Bindings whose class the built script does not
/// export are left out (with a note to `log`), so an older build given with --variant/--rust-dir
/// still starts. Classes listed in a migration's `new_sqlite_classes` get `useSQLite: true`
/// (Miniflare 4 refuses SQL calls otherwise). Storage: `durableObjectsPersist: false` keeps it
/// in Miniflare's own temporary directory (SQLite files on disk, like its KV), removed by
/// `dispose()`; nothing is written under the repository.
export function durableObjectOptions(scriptPath, log = () => {}) {
  const bindings = WRANGLER.durable_objects?.bindings ?? [];
  if (!bindings.length) return {};
  const sqlite = new Set((WRANGLER.migrations ?? []).flatMap((m) => [...(m.new_sqlite_classes ?? []), ...(m.renamed_classes ?? []).map((r) => r.to)]));
  const script = existsSync(scriptPath) ? readFileSync(scriptPath, 'utf8') : '';
  const exported = (cls) => new RegExp(`(export\\s+(class|const|let|var|function)\\s+${cls}\\b)|(\\bas\\s+${cls}\\b)|(export\\s*\\{[^}]*\\b${cls}\\b)`).test(script);
  const durableObjects = {};
  for (const b of bindings) {
    if (b.script_name) throw new Error(`wrangler.toml: Durable Object ${b.name} lives in another script (${b.script_name}); the bench runs one worker`);
    if (!exported(b.class_name)) {
      log(`${scriptPath.replace(ROOT + '/', '')} does not export ${b.class_name}: binding ${b.name} left out`);
      continue;
    }
    durableObjects[b.name] = { className: b.class_name, useSQLite: sqlite.has(b.class_name) };
  }
  return Object.keys(durableObjects).length ? { durableObjects, durableObjectsPersist: false } : {};
}

/// Miniflare from the repository's node_modules, or BENCH_NODE_MODULES (another checkout's).
export const NODE_MODULES = resolve(process.env.BENCH_NODE_MODULES || join(ROOT, 'node_modules'));
export async function importMiniflare() {
  const { Miniflare } = await import(join(NODE_MODULES, 'miniflare/dist/src/index.js'));
  const version = JSON.parse(readFileSync(join(NODE_MODULES, 'miniflare/package.json'), 'utf8')).version;
  return { Miniflare, version };
}

/// The Miniflare options a bench starts a worker with: workerd with **no inspector** (it slows
/// wasm: a wasm worker measured ~0.72x of a plain JS worker's throughput under `wrangler dev`
/// and ~1.0x served by Miniflare directly), the `CompiledWasm` rule for worker-build's output,
/// KV `KENAR_KV`, wrangler.toml's Durable Objects when `durableObjects` is true (the Rust worker;
/// the plain-JS comparison worker has none), and the worker's console output handed to
/// `onOutput(text)` instead of the terminal, so printing is not part of what is measured.
/// Outbound fetch goes through Miniflare's "internet" service, whose allow-list is
/// ["public", "private", "240.0.0.0/4"]; "private" includes "local" (127.0.0.0/8), so the worker
/// reaches divar-sim on loopback with no extra option.
export function workerOptions({ scriptPath, port = 0, bindings, durableObjects = true, onOutput = () => {}, log }) {
  return {
    host: '127.0.0.1',
    port,
    modules: true,
    scriptPath,
    modulesRoot: dirname(scriptPath),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: COMPAT_DATE,
    kvNamespaces: ['KENAR_KV'],
    ...(durableObjects ? durableObjectOptions(scriptPath, log) : {}),
    bindings,
    handleRuntimeStdio(stdout, stderr) {
      for (const s of [stdout, stderr]) s.on('data', (b) => onOutput(b.toString()));
    },
  };
}

/// The Rust worker via scripts/build.sh, which skips the build when it is fresh.
export function buildWorker(log) {
  log('bash scripts/build.sh (a no-op when fresh)');
  const r = spawnSync('bash', [join(ROOT, 'scripts/build.sh')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/build.sh failed (${r.status})`);
}

/// The short commit the numbers belong to, with `+dirty` when the worker's sources differ from it.
export function commitLabel() {
  const git = (...a) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' });
  const commit = git('rev-parse', '--short', 'HEAD').stdout.trim() || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'src', 'Cargo.toml', 'Cargo.lock', 'wrangler.toml').stdout.trim();
  return dirty ? `${commit}+dirty` : commit;
}

/// The v2 session-init body every bench posts (the one `session-init.lua` gives wrk).
export const SESSION_BODY = readFileSync(join(BENCH, 'session-init.lua'), 'utf8').match(/wrk\.body = '(.*)'/)[1];

/// The median of a list of numbers (the mean of the middle two for an even count).
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
