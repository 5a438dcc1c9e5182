// The storage contract (src/objects/contract.rs) inside a real Durable Object: the same checks
// `cargo test` runs against the native SQLite stand-in run here against workerd's SQLite
// storage, through `POST /_selftest/storage` (served only with KENAR_SELFTEST=on). If the
// stand-in ever promised what the platform does not give, this is where it shows.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { jsonCall, startWorker } from '../lib/harness.mjs';

describe('object storage contract', () => {
  let on;
  let off;

  before(async () => {
    on = await startWorker({ vars: { KENAR_SELFTEST: 'on' } });
    off = await startWorker();
  });

  after(async () => {
    if (on) await on.stop();
    if (off) await off.stop();
  });

  test('every check passes in a real SQLite-backed Durable Object', async () => {
    const r = await jsonCall(`${on.base}/_selftest/storage`, { method: 'POST' });
    assert.equal(r.status, 200, r.text);
    const checks = r.body.checks;
    assert.equal(checks.length, 8, 'the whole suite ran');
    assert.deepEqual(checks.filter((c) => !c.ok), []);
  });

  test('the contract route does not exist where the self-test is off', async () => {
    const r = await jsonCall(`${off.base}/_selftest/storage`, { method: 'POST' });
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'not_found');
  });
});
