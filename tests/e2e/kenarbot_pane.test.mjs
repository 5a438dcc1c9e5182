// A bot written by someone else against real Divar, on divar-sim: kenarbot (PyPI) as an echo
// bot (tests/sdk/echo_bot.py, from the virtualenv scripts/sdk-test.sh makes) behind the
// simulator's events URL, and a person typing in the simulator's bot pane in Chromium. The
// reply shows in the pane with its button, and the request log keeps kenarbot's two quirks
// ("type": "TEXT", an icon of "None") as warnings while the call is taken.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { devVars, freePort, launchBrowser, ROOT, simRequests, spawnGroup, startSim } from '../lib/harness.mjs';

const VENV_PYTHON = path.join(ROOT, 'target', 'sdk-venv', 'bin', 'python');

describe('a kenarbot echo bot answers in the simulator\'s bot pane', () => {
  let sim;
  let bot;
  let browser;

  before(async () => {
    // The virtualenv with kenarbot (installed once, then a no-op).
    const setup = spawnSync('bash', ['scripts/sdk-test.sh', '--setup-only'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(setup.status, 0, `scripts/sdk-test.sh --setup-only failed:\n${setup.stdout}\n${setup.stderr}`);
    assert.ok(existsSync(VENV_PYTHON), VENV_PYTHON);
    const port = await freePort();
    const vars = devVars();
    sim = await startSim({ appBase: `http://127.0.0.1:${port}`, args: ['--events-url', `http://127.0.0.1:${port}/webhook`] });
    bot = spawnGroup(VENV_PYTHON, [
      path.join(ROOT, 'tests', 'sdk', 'echo_bot.py'),
      '--divar', sim.base, '--port', String(port),
      '--api-key', vars.KENAR_API_KEY, '--identification-key', vars.DIVAR_IDENTIFICATION_KEY,
    ], { name: 'echo-bot', env: { PYTHONDONTWRITEBYTECODE: '1' } });
    await bot.waitFor(/echo-bot ready/, 30_000);
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (bot) await bot.stop();
    if (sim) await sim.stop();
  });

  test('typed in the pane, echoed back with its button; kenarbot\'s quirks logged as warnings, nothing refused', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 }, locale: 'fa-IR' });
    await page.goto(`${sim.base}/`, { waitUntil: 'load' });
    await page.click('#new-chat');
    await page.waitForFunction(() => document.querySelector('#chat-select').value !== '');
    await page.click('.side[data-side=buyer] .bot');
    await page.waitForSelector('.bot-pane:not([hidden])');

    await page.fill('.bot-pane .compose input', 'سلام ربات');
    await page.click('.bot-pane .compose button');
    const reply = page.locator('.bot-pane .msgs .msg:not(.mine)', { hasText: 'شما گفتید: سلام ربات' });
    await reply.waitFor({ timeout: 15_000 });
    assert.deepEqual(await reply.locator('button').allTextContents(), ['دیوار']);

    const sends = await simRequests(sim, { endpoint: 'bot_send' });
    assert.equal(sends.length, 1, JSON.stringify(sends));
    assert.equal(sends[0].status, 200);
    assert.equal(sends[0].valid, true);
    assert.deepEqual([...sends[0].violations].sort(), [
      'warning: buttons.rows[0].buttons[0].icon: unknown enum value "None", read as not set',
      'warning: type: unknown field, ignored',
    ]);
    await page.close();
  });
});
