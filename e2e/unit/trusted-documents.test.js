import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { MANIFEST_PATH, dashboardDocuments, manifest } from '../trusted-documents.mjs';

test('the committed dashboard manifest holds exactly the documents queries.js builds', () => {
  assert.equal(
    readFileSync(MANIFEST_PATH, 'utf8'),
    manifest(),
    'dashboard/trusted-documents.json is stale: run `node e2e/trusted-documents.mjs`',
  );
});

test('the manifest covers every feature variant of the activity documents', () => {
  const documents = dashboardDocuments();
  for (const name of ['DashboardFeed', 'DashboardLive', 'DashboardLiveAfter']) {
    // Without optional fields, with a cursor, with a cursor and request context.
    assert.equal(documents.filter((d) => d.includes(` ${name}(`)).length, 3, name);
  }
  for (const name of ['DashboardOptions', 'DashboardCount', 'DashboardSummary', 'DashboardUsers']) {
    assert.equal(documents.filter((d) => d.includes(` ${name}`)).length, 1, name);
  }
});
