// The dashboard in headless Chromium against the real server (see harness.js).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';

import { api } from './api.js';
import {
  ARTIFACTS, AUTH, HAS_AUTH, PHONE, WAIT, controlledSocket, open, prefix, row, server, useBrowser,
  waitLive, waitRow, waitRows,
} from './harness.js';

useBrowser();

// First, so the screenshots show the demo data rather than the other tests' rows.
test('accessible and readable at desktop and phone widths; screenshots', async () => {
  const actor = randomUUID();
  await server.upsertUsers([{ uuid: actor, email: 'margaret@example.com', firstName: 'Margaret', lastName: 'Hamilton' }]);
  await server.log({
    action: 'settings.changed', module: 'admin', mode: 'manual', actorUuid: actor, resourceType: 'settings',
    metadata: { setting: 'theme', from: 'light', to: 'dark' },
  });
  const page = await open('/');
  await waitLive(page);
  await page.locator('#rows tr').first().waitFor({ timeout: WAIT });

  // Every form control has a label; the table is a real table with column headers.
  const unlabelled = await page.$$eval('input, select', (els) => els.filter((e) => e.type !== 'hidden' && e.labels.length === 0).map((e) => e.id || e.name));
  assert.deepEqual(unlabelled, []);
  assert.equal(await page.locator('#feed thead th[scope="col"]').count(), 7);
  assert.equal(await page.locator('main h2').first().isVisible(), true);

  await page.screenshot({ path: path.join(ARTIFACTS, 'desktop.png'), fullPage: false });

  await page.setViewportSize(PHONE);
  await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling at phone width (${overflow}px too wide)`);
  for (const column of ['.col-time', '.col-action', '.col-actor']) {
    assert.ok(await page.locator(`#rows tr:first-child ${column}`).isVisible(), `${column} is shown on a phone`);
  }
  assert.ok(await page.locator('#rows tr:first-child .col-action .mode-inline').isVisible(), 'the mode shows under the action');
  const tableOverflow = await page.$eval('.table-scroll', (el) => el.scrollWidth - el.clientWidth);
  assert.ok(tableOverflow <= 0, `the table fits a phone (${tableOverflow}px too wide)`);
  // The filters fold away on a phone, behind a labelled toggle.
  assert.ok(await page.locator('#f-action').isHidden());
  await page.click('#filters-toggle');
  assert.equal(await page.getAttribute('#filters-toggle', 'aria-expanded'), 'true');
  assert.ok(await page.locator('#f-action').isVisible());
  await page.click('#filters-toggle');
  await page.screenshot({ path: path.join(ARTIFACTS, 'phone.png'), fullPage: false });
  await page.screenshot({ path: path.join(ARTIFACTS, 'phone-full.png'), fullPage: true });
  await page.locator('#rows tr').first().click();
  await page.locator('#detail').waitFor({ state: 'visible' });
  await page.screenshot({ path: path.join(ARTIFACTS, 'detail-phone.png') });
});

test('a logged activity appears live, newest first, with its badge classes', async (t) => {
  const run = prefix();
  const actor = randomUUID();
  await server.upsertUsers([{ uuid: actor, email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace' }]);
  const page = await open('/');
  await waitLive(page);

  const started = Date.now();
  const logged = await server.log({
    action: `${run}.post.created`, module: 'posts', mode: 'manual', actorUuid: actor,
    resourceType: 'post', resourceUuid: randomUUID(), metadata: { title: 'Hello' },
  });
  await waitRow(page, logged.uuid);
  t.diagnostic(`row shown ${Date.now() - started} ms after the log mutation was sent`);

  const first = page.locator('#rows tr').first();
  assert.equal(await first.getAttribute('data-uuid'), logged.uuid, 'the newest row is on top');
  const actionBadge = row(page, logged.uuid).locator('.col-action .badge-action');
  assert.match(await actionBadge.getAttribute('class'), /\bbadge-success\b/);
  assert.equal(logged.actionTone, 'SUCCESS');
  assert.match(await row(page, logged.uuid).locator('.col-mode .badge').getAttribute('class'), /\bbadge-warning\b/);
  assert.equal(await row(page, logged.uuid).locator('.col-actor .person').textContent(), 'Ada Lovelace');
  assert.match(await row(page, logged.uuid).locator('time').getAttribute('title'), /\d{4}/, 'exact time on hover');
  assert.match(await row(page, logged.uuid).locator('.col-details').textContent(), /title: Hello/);

  const deleted = await server.log({ action: `${run}.post.deleted`, mode: 'cron' });
  await waitRow(page, deleted.uuid);
  assert.match(await row(page, deleted.uuid).locator('.col-action .badge-action').getAttribute('class'), /\bbadge-error\b/);
  assert.match(await row(page, deleted.uuid).locator('.col-mode .badge').getAttribute('class'), /\bbadge-secondary\b/);
  assert.equal(await page.locator('#rows tr').first().getAttribute('data-uuid'), deleted.uuid);
});

test('filters show only matching rows, live too, and stay in the URL across a reload', async () => {
  const run = prefix();
  await server.logBatch([
    { action: `${run}.comment.liked`, module: `${run}-social`, mode: 'auto' },
    { action: `${run}.comment.liked`, module: `${run}-social`, mode: 'manual' },
    { action: `${run}.post.created`, module: `${run}-posts`, mode: 'manual' },
    { action: `${run}.post.updated`, module: `${run}-posts`, mode: 'script' },
  ]);
  const page = await open('/');
  await waitLive(page);

  // An exact action, chosen from the options the server listed.
  await page.selectOption('#f-action', `${run}.comment.liked`);
  await page.waitForURL((url) => url.searchParams.get('action') === `${run}.comment.liked`);
  await waitRows(page, { exact: `${run}.comment.liked`, count: 2 });
  await waitLive(page);

  // Live rows follow the filter: a non-matching one never shows, a matching one does.
  const other = await server.log({ action: `${run}.post.created` });
  const match = await server.log({ action: `${run}.comment.liked` });
  await waitRow(page, match.uuid);
  assert.equal(await row(page, other.uuid).count(), 0);
  await waitRows(page, { exact: `${run}.comment.liked`, count: 3 });

  // The prefix form.
  await page.selectOption('#f-action', `${run}.*`);
  await page.waitForURL((url) => url.searchParams.get('action') === `${run}.*`);
  await waitRows(page, { prefix: `${run}.`, count: 6 });

  // Module and mode together.
  await page.selectOption('#f-module', `${run}-posts`);
  await page.selectOption('#f-mode', 'manual');
  await waitRows(page, { exact: `${run}.post.created`, count: 1 });

  // A reload keeps the whole filter.
  await page.reload();
  await waitLive(page);
  assert.equal(await page.inputValue('#f-action'), `${run}.*`);
  assert.equal(await page.inputValue('#f-module'), `${run}-posts`);
  assert.equal(await page.inputValue('#f-mode'), 'manual');
  await waitRows(page, { exact: `${run}.post.created`, count: 1 });

  // Back goes to the previous filter.
  await page.goBack();
  await waitRows(page, { prefix: `${run}.post.`, count: 2 });
  assert.equal(await page.inputValue('#f-mode'), '');

  // Clearing shows everything again.
  await page.click('#f-clear');
  await page.waitForURL((url) => url.search === '');
  await page.waitForFunction((p) => [...document.querySelectorAll('#rows tr')].some((r) => !r.dataset.action.startsWith(p)), `${run}.`, { timeout: WAIT });
});

test('actor and date range filters', async () => {
  const run = prefix();
  const actor = randomUUID();
  await server.logBatch([
    { action: `${run}.a`, actorUuid: actor },
    { action: `${run}.b`, actorUuid: randomUUID() },
  ]);
  const page = await open(`/?action=${run}.*`);
  await waitRows(page, { prefix: `${run}.`, count: 2 });

  await page.fill('#f-actor', actor);
  await page.press('#f-actor', 'Enter');
  await waitRows(page, { exact: `${run}.a`, count: 1 });
  assert.equal(new URL(page.url()).searchParams.get('actor'), actor);

  // Neither a uuid nor anyone's name: refused at the field (once the search
  // has answered), the view stays.
  await page.fill('#f-actor', `nobody-${run}`);
  await page.press('#f-actor', 'Enter');
  await page.locator('#f-actor[aria-invalid="true"]').waitFor({ timeout: WAIT });
  assert.equal(new URL(page.url()).searchParams.get('actor'), actor);
  await page.fill('#f-actor', '');
  await page.press('#f-actor', 'Enter');
  await waitRows(page, { prefix: `${run}.`, count: 2 });

  // Today (in the browser's time zone) holds both; a range that ended yesterday holds none.
  const day = (offset) => {
    const d = new Date(Date.now() + offset * 86400e3);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  };
  await page.fill('#f-from', day(0));
  await page.fill('#f-to', day(0));
  await page.waitForURL((url) => url.searchParams.get('to') === day(0));
  await waitRows(page, { prefix: `${run}.`, count: 2 });
  await page.fill('#f-from', day(-3));
  await page.fill('#f-to', day(-1));
  await page.locator('#empty').waitFor({ state: 'visible', timeout: WAIT });
  assert.equal(await page.locator('#rows tr').count(), 0);
});

test('the detail shows every field and metadata as readable lines, with "a → b" for changes', async () => {
  const run = prefix();
  const actor = randomUUID();
  const target = randomUUID();
  await server.upsertUsers([
    { uuid: actor, email: 'grace@example.com', firstName: 'Grace', lastName: 'Hopper' },
    { uuid: target, email: 'alan@example.com' },
  ]);
  const page = await open(`/?action=${run}.*`);
  await waitLive(page);
  const logged = await server.log({
    action: `${run}.profile.updated`, module: 'users', mode: 'auto', actorUuid: actor, targetUuid: target,
    resourceType: 'user', resourceUuid: target, correlationId: `${run}-request`,
    metadata: {
      title_from: 'Draft', title_to: 'Final',
      plan: { from: 'free', to: 'team' },
      address: { city: 'Oslo', geo: { lat: 59.9 } },
      payload: '{"seats":{"from":3,"to":5}}',
      tags: ['a', 'b'],
    },
  });
  await waitRow(page, logged.uuid);

  // Keyboard: the row's button opens the detail, Escape closes it and focus comes back.
  await row(page, logged.uuid).locator('.row-open').focus();
  await page.keyboard.press('Enter');
  const dialog = page.locator('#detail');
  await dialog.waitFor({ state: 'visible' });
  const meta = dialog.locator('.metadata > .meta');
  const text = await meta.innerText();
  assert.match(text, /title\s*:?\s*Draft → Final/);
  assert.match(text, /plan\s*:?\s*free → team/);
  assert.match(text, /seats\s*:?\s*3 → 5/, 'JSON in a string is read, not shown raw');
  assert.match(text, /city\s*:?\s*Oslo/);
  assert.match(text, /lat\s*:?\s*59\.9/);
  assert.match(text, /tags\s*:?\s*a, b/);
  assert.doesNotMatch(text, /[{}"]/, 'no JSON punctuation in the readable metadata');

  const fields = await dialog.locator('.fields').innerText();
  for (const expected of [logged.uuid, actor, target, 'Grace Hopper', 'grace@example.com', 'alan@example.com', 'users', 'auto', `${run}.profile.updated`, `${run}-request`]) {
    assert.ok(fields.includes(expected), `the detail shows ${expected}`);
  }
  assert.match(await dialog.locator('.fields .badge').first().getAttribute('class'), /badge-warning/);
  assert.match(fields, /Correlation id/, 'request context fields, which this server has');
  await page.screenshot({ path: path.join(ARTIFACTS, 'detail-desktop.png') });

  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.uuid), logged.uuid);

  // "Only this actor" narrows the view.
  await row(page, logged.uuid).click();
  await dialog.getByRole('button', { name: 'Only this actor' }).click();
  await page.waitForURL((url) => url.searchParams.get('actor') === actor);
});

test('any metadata shape opens without an error', async () => {
  const run = prefix();
  const shapes = [{}, { a: null }, { deep: { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } } },
    { list: [[1, [2]], { x: [] }] }, { from: 'only-from' }, { weird_from: { nested: true }, weird_to: [1, 2] },
    { text: '{not json' }, { big: 'x'.repeat(3000) }, { '': 'empty key', 'ünï': 'cödé', '<b>': '<script>alert(1)</script>' }];
  const logged = await server.logBatch(shapes.map((metadata) => ({ action: `${run}.shape`, metadata })));
  const page = await open(`/?action=${run}.*`);
  await waitRows(page, { exact: `${run}.shape`, count: shapes.length });
  for (const activity of logged) {
    await row(page, activity.uuid).click();
    await page.locator('#detail').waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await page.locator('#detail').waitFor({ state: 'hidden' });
  }
  assert.equal(await page.locator('#detail b').count(), 0, 'text stays text');
});

test('"Load older" pages back through history with the cursor connection', async () => {
  const run = prefix();
  await server.logBatch(Array.from({ length: 120 }, (_, i) => ({ action: `${run}.history`, metadata: { n: i } })));
  const page = await open(`/?action=${run}.history`);
  await waitRows(page, { exact: `${run}.history`, count: 50 });
  await page.click('#load-older');
  await waitRows(page, { exact: `${run}.history`, count: 100 });
  await page.click('#load-older');
  await waitRows(page, { exact: `${run}.history`, count: 120 });
  await page.locator('#end-of-feed').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#load-older').isHidden());

  const order = await page.$$eval('#rows tr', (rows) => rows.map((r) => Number(r.querySelector('.col-details').textContent.replace(/\D/g, ''))));
  assert.deepEqual(order, Array.from({ length: 120 }, (_, i) => 119 - i), 'newest first, no gap, no duplicate');
  assert.match(await page.locator('#feed-count').textContent(), /120 of 120/);
});

/** Whether a request's document selects `cursor` on an activity (not on an edge). */
function selectsActivityCursor(body) {
  const query = body ? JSON.parse(body).query ?? '' : '';
  return /(node \{|modeTone)\s+cursor\b/.test(query);
}

async function reconnectWithoutGaps({ resumable }) {
  const run = prefix();
  let control;
  let refused = 0;
  const page = await open(`/?action=${run}.*`, {
    setup: async (p) => {
      control = await controlledSocket(p);
      if (!resumable) {
        // Play a server from before resumable subscriptions: it refuses every
        // document that selects an activity's `cursor`, the first page the
        // dashboard reads (before its probe answers) as well as the probe.
        await p.route(/\/graphql$/, async (route) => {
          if (selectsActivityCursor(route.request().postData())) {
            refused += 1;
            await route.fulfill({ json: { data: null, errors: [{ message: 'Unknown field "cursor" on type "Activity".' }] } });
          } else {
            await route.continue();
          }
        });
      }
    },
  });
  await waitLive(page);
  const before = await server.log({ action: `${run}.before` });
  await waitRow(page, before.uuid);

  // The connection drops, and the server stays unreachable for a while.
  control.blocked = true;
  control.current.close({ code: 1012, reason: 'Service restart' });
  await page.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: WAIT });
  const missed = await server.logBatch([1, 2, 3].map((n) => ({ action: `${run}.missed`, metadata: { n } })));
  control.blocked = false;
  await page.locator('#reconnect').click({ timeout: WAIT }).catch(() => {});
  await waitLive(page);

  for (const activity of missed) await waitRow(page, activity.uuid);
  const afterwards = await server.log({ action: `${run}.after` });
  await waitRow(page, afterwards.uuid);

  const uuids = await page.$$eval('#rows tr', (rows) => rows.map((r) => r.dataset.uuid));
  assert.deepEqual(uuids, [afterwards.uuid, ...missed.map((a) => a.uuid).reverse(), before.uuid], 'no gap, no duplicate, newest first');
  assert.ok(control.connections >= 2);
  if (!resumable) {
    // The first page and both probes were refused, and the refusal never
    // reached the screen: the page read again with the documents the server has.
    assert.ok(refused >= 3, `${refused} documents refused`);
    assert.ok(await page.locator('#alert').isHidden(), 'no error shown for the refused first page');
  }
}

test('after a lost connection it reconnects and catches up without gaps or duplicates (resumable)', async () => {
  await reconnectWithoutGaps({ resumable: true });
});

test('after a lost connection it catches up by refetching on a server without resumable subscriptions', async () => {
  await reconnectWithoutGaps({ resumable: false });
});

test('the first rows, the chart and the dropdowns do not wait for the capabilities probe', async () => {
  const run = prefix();
  const logged = await server.log({ action: `${run}.early` });
  let releaseProbe;
  const probeHeld = new Promise((resolve) => { releaseProbe = resolve; });
  let probesAnswered = 0;
  const page = await open(`/?action=${run}.*`, {
    setup: async (p) => {
      await p.route(/\/graphql$/, async (route) => {
        if (!route.request().postData()?.includes('DashboardCapabilities')) return route.continue();
        await probeHeld;
        const response = await route.fetch();
        probesAnswered += 1;
        return route.fulfill({ response });
      });
    },
  });
  try {
    await waitRow(page, logged.uuid);
    await page.waitForFunction(() => document.querySelector('.chart-card')?.getAttribute('aria-busy') === 'false', null, { timeout: WAIT });
    await page.waitForFunction(() => document.getElementById('f-action').options.length > 1, null, { timeout: WAIT });
    assert.equal(probesAnswered, 0, 'everything on screen arrived while the probe was held');
  } finally {
    releaseProbe();
  }
  // Once it answers, the page goes live with what it read: nothing is read twice, nothing lost.
  await waitLive(page);
  const later = await server.log({ action: `${run}.later` });
  await waitRow(page, later.uuid);
  assert.equal(probesAnswered, 1);
  const uuids = await page.$$eval('#rows tr', (rows) => rows.map((r) => r.dataset.uuid));
  assert.deepEqual(uuids, [later.uuid, logged.uuid]);
});

test('chart and top actions follow the filter; bucket size is kept in the URL', async () => {
  const run = prefix();
  await server.logBatch([
    ...Array.from({ length: 3 }, () => ({ action: `${run}.top.created` })),
    { action: `${run}.rare.deleted` },
  ]);
  const page = await open(`/?action=${run}.*`);
  await page.locator('#top-actions .top-action').nth(1).waitFor({ timeout: WAIT });
  const top = await page.$$eval('#top-actions .top-action', (items) => items.map((i) => [i.querySelector('.name').textContent, i.querySelector('.count').textContent]));
  assert.deepEqual(top, [[`${run}.top.created`, '3'], [`${run}.rare.deleted`, '1']]);
  assert.match(await page.locator('#chart-desc').textContent(), /^4 activities/);
  assert.ok(await page.locator('#chart rect.bar').count() >= 24);

  await page.click('[data-bucket="day"]');
  await page.waitForURL((url) => url.searchParams.get('bucket') === 'day');
  await page.waitForFunction(() => document.querySelectorAll('#chart rect.bar').length === 30);

  // Picking a top action filters by it.
  await page.locator('#top-actions .top-action').first().click();
  await page.waitForURL((url) => url.searchParams.get('action') === `${run}.top.created`);
  await waitRows(page, { exact: `${run}.top.created`, count: 3 });
});

test('asks for a token when the server wants one, keeps it, and sends it', { skip: !HAS_AUTH && 'AUTH_BASE_URL and tokens not set' }, async () => {
  const run = prefix();
  const admin = api(AUTH.url, AUTH.admin);
  const mine = await admin.log({ action: `${run}.mine.created`, actorUuid: AUTH.userUuid });
  const theirs = await admin.log({ action: `${run}.theirs.created`, actorUuid: randomUUID() });

  const page = await open(new URL(`/?action=${run}.*`, AUTH.url).href);
  const dialog = page.locator('#auth');
  await dialog.waitFor({ state: 'visible', timeout: WAIT });
  assert.equal(await page.locator('#rows tr').count(), 0);

  // A wrong token is refused and asked for again.
  await page.fill('#auth-token', 'not-a-token');
  await page.click('#auth button[value="save"]');
  await dialog.waitFor({ state: 'visible', timeout: WAIT });
  await page.waitForFunction(() => /refused/.test(document.querySelector('#auth-reason').textContent));

  // The admin token sees everything, over HTTP and on the websocket.
  await page.fill('#auth-token', `Bearer ${AUTH.admin}`);
  await page.click('#auth button[value="save"]');
  await waitLive(page);
  await waitRows(page, { prefix: `${run}.`, count: 2 });
  assert.equal(await page.evaluate(() => localStorage.getItem('activity-feed.token')), AUTH.admin);
  const live = await admin.log({ action: `${run}.live.created` });
  await waitRow(page, live.uuid);

  // The token is kept: a reload asks for nothing.
  await page.reload();
  await waitLive(page);
  assert.ok(await dialog.isHidden());
  await waitRows(page, { prefix: `${run}.`, count: 3 });

  // A user token sees only the user's own activities.
  await page.click('#sign-out');
  await dialog.waitFor({ state: 'visible', timeout: WAIT });
  await page.fill('#auth-token', AUTH.user);
  await page.click('#auth button[value="save"]');
  await waitLive(page);
  await waitRows(page, { exact: `${run}.mine.created`, count: 1 });
  assert.equal(await row(page, theirs.uuid).count(), 0);
  assert.equal(await row(page, mine.uuid).count(), 1);
});

test('without a token the unauthenticated page says so and offers to enter one', { skip: !HAS_AUTH && 'AUTH_BASE_URL not set' }, async () => {
  const page = await open(new URL('/', AUTH.url).href);
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
  await page.click('#auth [data-cancel]');
  await page.locator('#connection[data-state="unauthorized"]').waitFor({ timeout: WAIT });
  assert.ok(await page.locator('#sign-in').isVisible());
  await page.click('#sign-in');
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
});
