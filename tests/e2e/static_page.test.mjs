// Static checks of the webview files (no servers): ES5-only script for Android 5 WebView, no
// HTML injection sinks, no inline code, no third-party resources, tiny page weight.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { ROOT } from '../lib/harness.mjs';

const STATIC = path.join(ROOT, 'static');
const read = (f) => readFileSync(path.join(STATIC, f), 'utf8');
// Comments removed, so prose in them cannot trip the checks.
const code = (src) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"])\/\/.*$/gm, '$1');

test('app.js is ES5: esbuild accepts it for an es5 target and no ES2015+ syntax is used', () => {
  const esbuild = path.join(ROOT, 'node_modules', '.bin', 'esbuild');
  const r = spawnSync(esbuild, [path.join(STATIC, 'app.js'), '--target=es5', '--log-level=error'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const js = code(read('app.js'));
  const forbidden = {
    'arrow function': /=>/,
    'template literal': /`/,
    'let/const': /\b(let|const)\s/,
    class: /\bclass\s+[A-Z]/,
    fetch: /\bfetch\s*\(/,
    Promise: /\bPromise\b/,
    'async/await': /\b(async|await)\b/,
    'for…of': /\bfor\s*\([^)]*\bof\b/,
    classList: /\.classList\b/,
    'String.prototype.includes/startsWith': /\.(includes|startsWith|endsWith)\(/,
    'Object.assign/entries/values': /Object\.(assign|entries|values)\b/,
    'spread/rest': /\.\.\.[A-Za-z_$[]/,
  };
  for (const [what, re] of Object.entries(forbidden)) assert.doesNotMatch(js, re, `app.js uses ${what}`);
  assert.match(js, /XMLHttpRequest/);
});

test('data reaches the DOM only as text', () => {
  const js = code(read('app.js'));
  assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
  assert.match(js, /textContent/);
});

test('the HTML is Persian RTL with no inline script, style or handler and no third-party resource', () => {
  const html = read('index.html');
  assert.match(html, /<html lang="fa" dir="rtl">/);
  assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=|javascript:/i);
  for (const [, url] of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
    assert.ok(url.startsWith('/') || url === 'data:,', `non-local resource ${url}`);
  }
  assert.match(html, /aria-live="polite"/);
  assert.match(html, /href="\/return"[^>]*>بازگشت به گفتگو</);
  const css = read('app.css');
  assert.doesNotMatch(css, /@import|url\(|@font-face/, 'system fonts only, nothing fetched by CSS');
});

test('_headers sets the CSP and security headers for every path', () => {
  const h = read('_headers');
  const all = h.split(/\n(?=\/)/).find((block) => block.startsWith('/*\n'));
  assert.ok(all, 'a /* block');
  for (const line of [
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    'Referrer-Policy: no-referrer',
    'X-Content-Type-Options: nosniff',
    'X-Frame-Options: DENY',
  ]) {
    assert.ok(all.includes(`  ${line}\n`), `missing: ${line}`);
  }
  assert.match(all, /Permissions-Policy: /);
});

test('page weight is tiny: under the 50 KB budget of bench/page-weight.mjs (Divar allows 400 KB)', () => {
  const total = ['index.html', 'app.js', 'app.css'].reduce((n, f) => n + statSync(path.join(STATIC, f)).size, 0);
  assert.ok(total < 50_000, `${total} bytes`);
});

test('the only navigation in app.js is location.assign of the worker\'s authorize_url', () => {
  const js = code(read('app.js'));
  assert.equal((js.match(/location\.assign\(/g) || []).length, 1);
  assert.match(js, /location\.assign\(url\)/);
  assert.match(js, /var url = body && typeof body\.authorize_url === 'string' \? body\.authorize_url : ''/);
  assert.doesNotMatch(js, /location\.(href|replace)\s*[=(]|window\.open\(|location\s*=/);
});

test('one way back to the chat; handles and idempotency keys from a strong random source', () => {
  const html = read('index.html');
  assert.equal((html.match(/href="\/return"/g) || []).length, 2, 'the footer, and the expired card (footer hidden there)');
  assert.match(html, /<a id="back" class="button secondary" href="\/return">بازگشت به گفتگو<\/a>/);
  const js = code(read('app.js'));
  assert.match(js, /crypto\.getRandomValues|c\.getRandomValues/);
  assert.match(js, /Math\.random/);
});

test('the visit service is the page: no free message, no launch facts, errors apart from successes', () => {
  const html = read('index.html');
  assert.ok(html.indexOf('<section id="visit"') > 0, 'the visit card');
  assert.doesNotMatch(html, /id="(free|about|context|compose)"/);
  assert.match(html, /<p id="visit-status" class="status" role="status" aria-live="polite">/);
  assert.match(html, /<div id="v-consent" class="error" role="alert" hidden>/);
  const js = code(read('app.js'));
  for (const route of ['/api/visit', '/api/visit/propose', '/api/visit/answer', '/api/visit/cancel']) {
    assert.ok(js.includes(`'${route}'`), route);
  }
  // A note is shown without bidi overrides/isolates, whatever the worker sent.
  assert.match(js, /\\u202A-\\u202E\\u2066-\\u2069/);
});
