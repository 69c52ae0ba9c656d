// The dashboard on a server that runs trusted documents only (issue 17):
// TRUSTED_DOCUMENTS=dashboard/trusted-documents.json, admins held to it too.
// The dashboard's main flows (load, filter, live arrival) must work with
// nothing but the documents of its manifest. See harness.js for the servers.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { api } from './api.js';
import {
  AUTH, TRUSTED, currentContext, open, prefix, row, useBrowser, waitLive, waitRow, waitRows,
} from './harness.js';

useBrowser();

const SKIP = !(TRUSTED.url && TRUSTED.writer && AUTH.admin) && 'TRUSTED_BASE_URL, TRUSTED_WRITER_URL and ADMIN_TOKEN not set';

test('the trusted server refuses a document outside the manifest, an admin\'s too', { skip: SKIP }, async () => {
  await assert.rejects(api(TRUSTED.url, AUTH.admin).request('{ activityCount }'), /DOCUMENT_NOT_TRUSTED/);
});

test('the dashboard loads, filters and shows live arrivals with only its trusted documents', { skip: SKIP }, async () => {
  const run = prefix();
  const writer = api(TRUSTED.writer);
  const older = await writer.logBatch([
    { action: `${run}.comment.liked`, module: `${run}-social` },
    { action: `${run}.comment.liked`, module: `${run}-social` },
    { action: `${run}.post.created`, module: `${run}-posts` },
  ]);
  await currentContext().addInitScript((t) => localStorage.setItem('activity-feed.token', t), AUTH.admin);

  // Load: the feed, newest first.
  const page = await open(new URL('/', TRUSTED.url).href);
  await waitLive(page);
  await waitRow(page, older[2].uuid);
  assert.ok(await page.locator('#auth').isHidden(), 'the admin token was accepted');

  // Filter, chosen from the options the server listed.
  await page.selectOption('#f-action', `${run}.comment.liked`);
  await page.waitForURL((url) => url.searchParams.get('action') === `${run}.comment.liked`);
  await waitRows(page, { exact: `${run}.comment.liked`, count: 2 });
  await waitLive(page);

  // Live arrival, following the filter.
  const other = await writer.log({ action: `${run}.post.created` });
  const match = await writer.log({ action: `${run}.comment.liked` });
  await waitRow(page, match.uuid);
  assert.equal(await row(page, other.uuid).count(), 0);
  await waitRows(page, { exact: `${run}.comment.liked`, count: 3 });
});
