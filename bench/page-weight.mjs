#!/usr/bin/env node
// kenar-edge: the webview page's weight against its budget. Static analysis of static/ only (no
// build, no browser, no network), so it runs in well under a second and CI can run it on every
// push. See bench/README.md, "Page weight".
//
//   node bench/page-weight.mjs                 # writes bench/results/page-weight.md, exit 1 over budget
//   node bench/page-weight.mjs --out -         # print only
//   node bench/page-weight.mjs --budget 60000  # another budget in bytes (raw)
//
// What counts: the HTML document and every same-origin resource it makes the browser fetch on
// load — <link rel=stylesheet|icon|preload|modulepreload|manifest>, <script src>, <img src>,
// <source src|srcset>, <iframe src> in the HTML, and url(...) / @import in the CSS it loads
// (followed recursively). data: URLs cost no request. A reference to another origin is a
// failure in itself (the page promises no third-party resources), and so is a reference to a
// file that does not exist in static/. `_headers` is configuration for Workers assets, never
// sent to the browser: listed, not counted.

import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { BENCH, ROOT, cli } from './lib.mjs';
import { brotliCompressSync, constants as zc, gzipSync } from 'node:zlib';

const t0 = performance.now();
const { opt } = cli();
const STATIC = resolve(opt('static', 'PAGE_STATIC', join(ROOT, 'static')));
const OUT = opt('out', 'PAGE_WEIGHT_OUT', join(BENCH, 'results/page-weight.md'));
// 50 KB = 50,000 bytes, raw (uncompressed) total of everything the page loads. Divar's limit
// for a webview page is 400 KB; this budget keeps us at an eighth of it.
const BUDGET = Number(opt('budget', 'PAGE_BUDGET_BYTES', '50000'));
const DIVAR_LIMIT = 400_000;
const ENTRY = 'index.html';

const problems = [];

// ---- the resources the page loads ----------------------------------------------------------
/** Attribute value of `name` in a tag's source text, or null. */
function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  return m ? (m[1] ?? m[2] ?? m[3]) : null;
}

/** The URLs an HTML document makes the browser fetch on load, with why. */
function htmlRefs(html) {
  const refs = [];
  const noComments = html.replace(/<!--[\s\S]*?-->/g, '');
  for (const [tag] of noComments.matchAll(/<(link|script|img|source|iframe|video|audio|embed|object)\b[^>]*>/gi)) {
    const name = tag.slice(1).split(/[\s>]/)[0].toLowerCase();
    if (name === 'link') {
      const rel = (attr(tag, 'rel') || '').toLowerCase().split(/\s+/);
      const wanted = ['stylesheet', 'icon', 'preload', 'modulepreload', 'manifest', 'apple-touch-icon'];
      if (rel.some((r) => wanted.includes(r)) && attr(tag, 'href') !== null) refs.push({ url: attr(tag, 'href'), via: `<link rel=${rel.join(' ')}>` });
    } else if (name === 'object') {
      if (attr(tag, 'data') !== null) refs.push({ url: attr(tag, 'data'), via: '<object>' });
    } else {
      const src = attr(tag, 'src');
      if (src !== null) refs.push({ url: src, via: `<${name} src>` });
      const srcset = attr(tag, 'srcset');
      if (srcset) for (const part of srcset.split(',')) refs.push({ url: part.trim().split(/\s+/)[0], via: `<${name} srcset>` });
    }
  }
  return refs;
}

/** url(...) and @import in a stylesheet. */
function cssRefs(css) {
  const refs = [];
  const noComments = css.replace(/\/\*[\s\S]*?\*\//g, '');
  for (const m of noComments.matchAll(/@import\s+(?:url\(\s*)?["']?([^"')\s;]+)/gi)) refs.push({ url: m[1], via: '@import' });
  for (const m of noComments.matchAll(/url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)/gi)) {
    const u = m[1] ?? m[2] ?? m[3];
    if (!refs.some((r) => r.url === u)) refs.push({ url: u, via: 'url()' });
  }
  return refs;
}

/** Maps a reference from `fromFile` to a file in static/, or records why it cannot. */
function resolveRef(ref, fromFile) {
  const u = ref.url.trim();
  if (u === '' || u.startsWith('data:') || u.startsWith('#') || u.startsWith('about:')) return { kind: 'inline' };
  if (/^[a-z][a-z0-9+.-]*:/i.test(u) || u.startsWith('//')) return { kind: 'external' };
  const path = u.split(/[?#]/)[0];
  const file = path.startsWith('/') ? join(STATIC, path) : join(dirname(fromFile), path);
  const served = file.endsWith('/') ? join(file, 'index.html') : file;
  return { kind: 'local', file: served };
}

const loaded = []; // { file, via, from }
const seen = new Set();
let inlineRefs = 0;
function visit(file, via, from) {
  if (seen.has(file)) return;
  seen.add(file);
  if (!existsSync(file) || !statSync(file).isFile()) {
    problems.push(`${relative(STATIC, from)} references ${relative(STATIC, file)} (\`${via}\`), which is not in static/`);
    return;
  }
  loaded.push({ file, via, from });
  const text = readFileSync(file, 'utf8');
  const refs = file.endsWith('.html') ? htmlRefs(text) : file.endsWith('.css') ? cssRefs(text) : [];
  for (const ref of refs) {
    const r = resolveRef(ref, file);
    if (r.kind === 'inline') inlineRefs++;
    else if (r.kind === 'external') problems.push(`${relative(STATIC, file)} loads a third-party resource: ${ref.url} (\`${ref.via}\`)`);
    else visit(r.file, ref.via, file);
  }
}
visit(join(STATIC, ENTRY), 'document', join(STATIC, ENTRY));

// The page's own calls to the worker on load cannot be read off the markup; app.js names its
// API calls as api('METHOD', '/path', ...) (XMLHttpRequest, ES5). List the call sites so the
// report shows what exists; which ones run at load is stated in the README from the code.
const apiCalls = [];
for (const l of loaded.filter((x) => x.file.endsWith('.js'))) {
  for (const m of readFileSync(l.file, 'utf8').matchAll(/\bapi\(\s*'([A-Z]+)'\s*,\s*'([^']+)'/g)) {
    const call = `${m[1]} ${m[2]}`;
    if (!apiCalls.includes(call)) apiCalls.push(call);
  }
}

// ---- sizes ---------------------------------------------------------------------------------
const measure = (buf) => ({
  raw: buf.length,
  gzip: gzipSync(buf, { level: 9 }).length,
  br: brotliCompressSync(buf, { params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length } }).length,
});
const rows = loaded.map((l) => ({ name: relative(STATIC, l.file), via: l.via, ...measure(readFileSync(l.file)) }));
const total = rows.reduce((a, r) => ({ raw: a.raw + r.raw, gzip: a.gzip + r.gzip, br: a.br + r.br }), { raw: 0, gzip: 0, br: 0 });
const notLoaded = readdirSync(STATIC, { recursive: true })
  .map(String)
  .filter((n) => statSync(join(STATIC, n)).isFile() && !rows.some((r) => r.name === n))
  .map((name) => ({ name, raw: statSync(join(STATIC, name)).size }));

const over = total.raw > BUDGET;
if (over) problems.push(`over budget: ${total.raw} B raw > ${BUDGET} B`);

// ---- report --------------------------------------------------------------------------------
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
const pct = (n, d) => `${((100 * n) / d).toFixed(1)}%`;
const lines = [];
lines.push(`# Page weight — ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`, '');
lines.push(`\`static/\` as the webview loads it (entry \`${ENTRY}\`). Budget **${BUDGET.toLocaleString('en')} B raw** ` +
  `(${kb(BUDGET)}; Divar's limit is ${kb(DIVAR_LIMIT)}). gzip -9 and brotli q11 are what a CDN could send; ` +
  'KB = 1000 B.', '');
lines.push('| file | loaded by | raw B | gzip B | brotli B |', '|---|---|---:|---:|---:|');
for (const r of rows) lines.push(`| ${r.name} | \`${r.via}\` | ${r.raw.toLocaleString('en')} | ${r.gzip.toLocaleString('en')} | ${r.br.toLocaleString('en')} |`);
lines.push(`| **total** | ${rows.length} requests | **${total.raw.toLocaleString('en')}** | **${total.gzip.toLocaleString('en')}** | **${total.br.toLocaleString('en')}** |`, '');
lines.push(`Budget use: ${pct(total.raw, BUDGET)} of ${kb(BUDGET)} raw → **${over ? 'OVER BUDGET' : 'within budget'}** ` +
  `(${kb(BUDGET - total.raw)} headroom); ${pct(total.raw, DIVAR_LIMIT)} of Divar's ${kb(DIVAR_LIMIT)}.`, '');
lines.push(`Requests on load for the page itself: **${rows.length}** (${rows.map((r) => r.name).join(' + ')}); ` +
  `${inlineRefs} inline data: reference(s) cost none; third-party: ${problems.some((p) => p.includes('third-party')) ? 'SOME (see below)' : 'none'}.`);
if (apiCalls.length) lines.push(`API call sites in the script: ${apiCalls.map((c) => `\`${c}\``).join(', ')}.`);
lines.push('');
if (notLoaded.length) lines.push(`Not sent to the browser / not referenced: ${notLoaded.map((n) => `\`${n.name}\` (${n.raw} B)`).join(', ')}.`, '');
if (problems.length) lines.push('## Problems', '', ...problems.map((p) => `- ${p}`), '');
lines.push(`Measured in ${(performance.now() - t0).toFixed(0)} ms.`, '');
const md = lines.join('\n');
console.log(md);
if (OUT !== '-') {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  console.error(`[page-weight] wrote ${relative(process.cwd(), OUT) || OUT}`);
}
if (problems.length) {
  for (const p of problems) console.error(`[page-weight] FAIL: ${p}`);
  process.exitCode = 1;
}
