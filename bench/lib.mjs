// What the bench scripts share: where things are, how options are read, the worker's local
// bindings, its compatibility date, and the build.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/// The worker's compatibility_date, read from wrangler.toml so the bench runs what deploys.
export const COMPAT_DATE = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8').match(
  /^compatibility_date\s*=\s*"([^"]+)"/m,
)[1];

/// The Rust worker via scripts/build.sh, which skips the build when it is fresh.
export function buildWorker(log) {
  log('bash scripts/build.sh (a no-op when fresh)');
  const r = spawnSync('bash', [join(ROOT, 'scripts/build.sh')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/build.sh failed (${r.status})`);
}
