#!/usr/bin/env node
// Where the worker's wasm bytes go, by crate: builds the release wasm with symbol names kept
// (the same profile as the upload, `strip = false` only, in target/size so the real build is
// untouched), passes it through wasm-bindgen as the upload is, runs twiggy over it, and sums each function and data item under the crate its
// name starts with (`<serde_json::Value as …>` counts for serde_json, a closure for the crate
// that defines it). Writes bench/results/size-by-crate.md (or `--out -` for stdout).
//
//   node bench/size-by-crate.mjs [--wasm FILE] [--no-bindgen] [--out FILE|-] [--top N]
//
// `--wasm` skips the build and reads a given module (names needed); wasm-bindgen's pass runs on
// it first (its describe shims never reach the upload) unless `--no-bindgen`. Needs twiggy
// (`cargo install twiggy`; installed here when missing). Sizes are before wasm-opt and gzip,
// so they rank the crates; the upload's own figure is scripts/size-budget.sh's.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const TOP = Number(opt('top', '25'));
const OUT = opt('out', path.join(ROOT, 'bench', 'results', 'size-by-crate.md'));

function twiggy() {
  const found = spawnSync('twiggy', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return 'twiggy';
  const home = path.join(process.env.HOME || '', '.cargo', 'bin', 'twiggy');
  if (existsSync(home)) return home;
  console.error('size-by-crate: installing twiggy (cargo install twiggy)');
  execFileSync('cargo', ['install', 'twiggy', '--locked', '--quiet'], { stdio: 'inherit' });
  return home;
}

function build() {
  const target = path.join(ROOT, 'target', 'size');
  console.error('size-by-crate: building the release wasm with names kept (target/size)');
  execFileSync('cargo', ['build', '--quiet', '--release', '--target', 'wasm32-unknown-unknown', '--lib'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: target, CARGO_PROFILE_RELEASE_STRIP: 'false' },
  });
  return path.join(target, 'wasm32-unknown-unknown', 'release', 'kenar_edge.wasm');
}

/** The crate an item belongs to, from its demangled name. */
export function crateOf(name) {
  // Custom sections (debug info, names, wasm-bindgen's descriptors) never reach the upload.
  if (/^custom section|subsection$/.test(name)) return null;
  if (/^data segment|^data\[\d+\]$/.test(name)) return '(data: strings and tables)';
  // `<A as B>::f` and `<A>::f`: the type's crate (A), as the code is A's use of the trait.
  // Names of the standard library are v0-mangled: `core[c59…]::fmt::…`.
  let n = name.replace(/^<+/, '').replace(/^(dyn |&mut |&|\*const |\*mut )+/, '');
  n = n.replace(/^\[/, '');
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?::/.exec(n);
  if (m) return m[1];
  if (/^(str|\[|u8|u16|u32|u64|i32|i64|f64|usize|bool|char)\b/.test(n)) return 'core';
  return '(other: shims, tables, intrinsics)';
}

/** wasm-bindgen's pass, as the upload gets it: its describe shims go, names stay. */
function bindgen(input) {
  const out = path.join(ROOT, 'target', 'size', 'bindgen');
  const bin = process.env.WASM_BINDGEN_BIN || path.join(process.env.HOME || '', '.cargo', 'bin', 'wasm-bindgen');
  execFileSync(bin, ['--out-dir', out, '--target', 'bundler', '--no-typescript', input], { stdio: 'inherit' });
  return path.join(out, `${path.basename(input, '.wasm')}_bg.wasm`);
}

const given = opt('wasm', null);
const wasm = args.includes('--no-bindgen') ? given || build() : bindgen(given || build());
const raw = execFileSync(twiggy(), ['top', '-n', '1000000', '--format', 'json', wasm], { encoding: 'utf8', maxBuffer: 1 << 30 });
const items = JSON.parse(raw).items || JSON.parse(raw);
const byCrate = new Map();
let total = 0;
for (const it of items) {
  const size = it.shallow_size;
  const c = crateOf(it.name);
  if (c === null) continue;
  total += size;
  const e = byCrate.get(c) || { bytes: 0, items: 0, biggest: '', biggestSize: 0 };
  e.bytes += size;
  e.items += 1;
  if (size > e.biggestSize) Object.assign(e, { biggest: it.name, biggestSize: size });
  byCrate.set(c, e);
}
const rows = [...byCrate.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
const file = readFileSync(wasm);
const kb = (n) => (n / 1000).toFixed(1);
const short = (s) => (s.length > 70 ? `${s.slice(0, 67)}…` : s).replace(/\|/g, '\\|');
let md = `# Size of the worker's wasm by crate\n\n`;
md += `\`node bench/size-by-crate.mjs\`: the release build with names kept, after wasm-bindgen and before wasm-opt, `;
md += `${kb(file.length)} KB raw, ${kb(gzipSync(file, { level: 9 }).length)} KB gzip -9; `;
md += `items summed by the crate their name starts with (twiggy \`top\`, shallow sizes). `;
md += `The upload itself (after wasm-opt, stripped) is measured by scripts/size-budget.sh.\n\n`;
md += `| crate | KB | share | items | largest item |\n|---|---:|---:|---:|---|\n`;
for (const [c, e] of rows.slice(0, TOP)) {
  md += `| ${c} | ${kb(e.bytes)} | ${((100 * e.bytes) / total).toFixed(1)}% | ${e.items} | ${short(e.biggest)} (${kb(e.biggestSize)}) |\n`;
}
const rest = rows.slice(TOP).reduce((n, [, e]) => n + e.bytes, 0);
if (rest) md += `| ${rows.length - TOP} more | ${kb(rest)} | ${((100 * rest) / total).toFixed(1)}% | | |\n`;
md += `| **total** (code and data; custom sections left out) | **${kb(total)}** | | | |\n`;
if (OUT === '-') process.stdout.write(md);
else {
  writeFileSync(OUT, md);
  console.error(`size-by-crate: wrote ${path.relative(ROOT, OUT)}`);
}
