// The graphql-http package's own server audit (its `serverAudits`), run
// unmodified against the real server's /graphql: every MUST and every SHOULD
// must pass. A MAY that fails is a "notice"; each one we accept is listed in
// EXPECTED_NOTICES with its reason, and explained in the README's
// "GraphQL over HTTP" section, so a new notice (or one that went away) fails
// the suite until the README is brought up to date.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { GRAPHQL_URL } from './lib.js';

/** Audit id -> why the server does not do that MAY (keep in step with README.md). */
const EXPECTED_NOTICES = {};

const audits = serverAudits({ url: GRAPHQL_URL });
const results = [];

for (const audit of audits) {
  test(`${audit.id} ${audit.name}`, async (t) => {
    const result = await audit.fn();
    let detail = '';
    if (result.status !== 'ok') {
      const body = await result.response.text().catch(() => '');
      detail = `${result.reason} (HTTP ${result.response.status}: ${body.slice(0, 300)})`;
      t.diagnostic(`${result.status}: ${detail}`);
    }
    results.push({ id: audit.id, name: audit.name, status: result.status, detail });
    // 'error' is a failed MUST, 'warn' a failed SHOULD, 'notice' a failed MAY.
    assert.notEqual(result.status, 'error', `MUST failed: ${detail}`);
    assert.notEqual(result.status, 'warn', `SHOULD failed: ${detail}`);
    if (result.status === 'notice') {
      assert.ok(audit.id in EXPECTED_NOTICES, `a notice not explained in the README: ${detail}`);
    }
  });
}

test('audit summary: no MUST or SHOULD failure, only the notices the README explains', (t) => {
  assert.equal(results.length, audits.length, 'every audit ran');
  const table = {};
  for (const r of results) {
    const level = r.name.split(' ')[0];
    table[level] ??= { ok: 0, notice: 0, warn: 0, error: 0 };
    table[level][r.status] += 1;
  }
  const lines = [`graphql-http server audit of ${GRAPHQL_URL}: ${results.length} audits`];
  for (const [level, counts] of Object.entries(table)) {
    const failed = counts.notice + counts.warn + counts.error;
    lines.push(`  ${level.padEnd(6)} ${counts.ok} passed, ${failed} failed`);
  }
  const notices = results.filter((r) => r.status === 'notice');
  lines.push(`  notices: ${notices.length ? '' : 'none'}`);
  for (const n of notices) lines.push(`    ${n.id} ${n.name}: ${n.detail}`);
  for (const line of lines) t.diagnostic(line);
  assert.deepEqual(
    results.filter((r) => r.status === 'error' || r.status === 'warn').map((r) => `${r.id} ${r.name}`),
    [],
  );
  assert.deepEqual(notices.map((n) => n.id).sort(), Object.keys(EXPECTED_NOTICES).sort());
});
