// The dashboard used for real (issue 19): sign-in and sign-out, staying
// right across a reconnect, keyboard and phone, reading, invalid input, the
// first run, a table that stays fast, and the filters the API has. Each test
// fails without the fix it is named after. See harness.js for the servers.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';

import { api } from './api.js';
import {
  ARTIFACTS, AUTH, BASE_URL, EMPTY_BASE_URL, HAS_AUTH, PHONE, WAIT, axeViolations, contextWith, controlledServer,
  currentContext, forgiveConsoleErrors, open, prefix, row, server, useBrowser, waitLive, waitRow, waitRows,
} from './harness.js';

useBrowser();

const NEEDS_AUTH = !HAS_AUTH && 'AUTH_BASE_URL and tokens not set';
/** What the browser itself logs for requests to a server the test stopped. */
const STOPPED_SERVER = /ERR_CONNECTION_REFUSED|ERR_FAILED|WebSocket connection|Failed to load resource/;

/** A UTC day `offset` days from today, as YYYY-MM-DD. */
function utcDay(offset = 0) {
  return new Date(Date.now() + offset * 86400e3).toISOString().slice(0, 10);
}

/** What has keyboard focus: its id, or a short description. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    return el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}${el.dataset.key ? `[${el.dataset.key}]` : ''}`;
  });
}

/** Opens the authenticated server's page and signs in with `token` through the dialog. */
async function signIn(page, token, { submit = 'click' } = {}) {
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
  await page.fill('#auth-token', token);
  if (submit === 'enter') await page.press('#auth-token', 'Enter');
  else await page.click('#auth button[value="save"]');
  await waitLive(page);
}

// ---- 1–4: sign-in and sign-out ------------------------------------------------------

test('1: Enter in the token dialog saves the token and connects', { skip: NEEDS_AUTH }, async () => {
  const page = await open(new URL('/', AUTH.url).href);
  await signIn(page, AUTH.admin, { submit: 'enter' });
  assert.equal(await page.evaluate(() => localStorage.getItem('activity-feed.token')), AUTH.admin);
  assert.ok(await page.locator('#auth').isHidden());
  assert.equal(await page.locator('#connection-text').textContent(), 'Live');
  // Cancel still cancels, with the mouse and with Escape.
  await page.click('#sign-out');
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
  await page.keyboard.press('Escape');
  await page.locator('#connection[data-state="unauthorized"]').waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => localStorage.getItem('activity-feed.token')), null);
});

test('2: "Forget token" closes the socket, empties the page and sends nothing more with the old token', { skip: NEEDS_AUTH }, async () => {
  const run = prefix();
  const admin = api(AUTH.url, AUTH.admin);
  const before = await admin.log({ action: `${run}.before` });
  const sockets = [];
  const page = await open(new URL(`/?action=${run}.*`, AUTH.url).href, {
    setup: (p) => p.on('websocket', (ws) => sockets.push(ws)),
  });
  await signIn(page, AUTH.admin);
  await waitRow(page, before.uuid);
  await page.locator('#top-actions .top-action').first().waitFor({ timeout: WAIT });
  const withOldToken = [];
  page.on('request', (request) => {
    if (request.headers().authorization === `Bearer ${AUTH.admin}`) withOldToken.push(request.url());
  });

  await page.click('#sign-out');
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
  const closed = await Promise.all(sockets.map((ws) => (ws.isClosed() ? true : ws.waitForEvent('close', { timeout: WAIT }).then(() => true))));
  assert.ok(closed.every(Boolean), 'every socket opened with the old token is closed');

  // A new activity does not arrive, and nothing the old token could see stays.
  const after = await admin.log({ action: `${run}.after` });
  await page.waitForTimeout(2000);
  assert.equal(await row(page, after.uuid).count(), 0, 'no live row after forgetting the token');
  assert.equal(await page.locator('#rows tr').count(), 0, 'the rows are gone');
  assert.notEqual(await page.getAttribute('#connection', 'data-state'), 'live');
  assert.equal(await page.locator('#top-actions .top-action').count(), 0, 'the top actions are gone');
  assert.equal(await page.locator('#chart rect.bar').count(), 0, 'the chart is gone');
  assert.equal(await page.locator('#f-action optgroup').count(), 0, 'the action list is emptied (the filter in the address stays)');
  assert.deepEqual(withOldToken, [], 'no request with the old token after forgetting it');
});

test('3: an expired stored token is said to be expired', { skip: (!HAS_AUTH || !AUTH.expired) && 'EXPIRED_TOKEN not set' }, async () => {
  await currentContext().addInitScript((t) => localStorage.setItem('activity-feed.token', t), AUTH.expired);
  const page = await open(new URL('/', AUTH.url).href);
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
  assert.match(await page.locator('#auth-reason').textContent(), /expired/);
});

test('4: the token dialog says how to get a token', { skip: NEEDS_AUTH }, async () => {
  const page = await open(new URL('/', AUTH.url).href);
  await page.locator('#auth').waitFor({ state: 'visible', timeout: WAIT });
  const text = await page.locator('#auth').innerText();
  assert.match(text, /activity-feed token --role admin --sub/);
  assert.match(text, /README/);
  assert.deepEqual(await axeViolations(page), [], 'axe-core: the token dialog');
});

// ---- 5–6: staying right across a reconnect ---------------------------------------------

test('5: after a reconnect the count, chart and top actions belong to the filter chosen while offline', async () => {
  const run = prefix();
  await server.logBatch([
    ...Array.from({ length: 5 }, () => ({ action: `${run}.page.viewed`, mode: 'manual' })),
    ...Array.from({ length: 3 }, () => ({ action: `${run}.report.sent`, mode: 'cron' })),
  ]);
  let control;
  const page = await open(`/?action=${run}.*`, { setup: async (p) => { control = await controlledServer(p); } });
  await waitLive(page);
  await page.waitForFunction(() => /of 8$/.test(document.querySelector('#feed-count').textContent), null, { timeout: WAIT });
  await page.locator('#top-actions .top-action').nth(1).waitFor({ timeout: WAIT });

  control.stop();
  await page.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: WAIT });
  await page.selectOption('#f-mode', 'cron');
  // While offline nothing of the old filter stays on screen as if it were current.
  await page.waitForFunction(() => /could not be loaded/.test(document.querySelector('#chart-desc').textContent), null, { timeout: WAIT });
  assert.equal(await page.locator('#top-actions .top-action').count(), 0);
  await page.click('[data-bucket="day"]');
  assert.equal(await page.getAttribute('[data-bucket="day"]', 'aria-pressed'), 'true');
  assert.equal(await page.locator('#chart rect.bar').count(), 0, 'no hourly chart under a pressed Daily button');

  control.start();
  await page.locator('#reconnect').click({ timeout: WAIT }).catch(() => {});
  await waitLive(page);
  await waitRows(page, { exact: `${run}.report.sent`, count: 3 });
  await page.waitForFunction(() => document.querySelector('#feed-count').textContent === 'Showing 3 of 3', null, { timeout: WAIT });
  await page.waitForFunction(() => document.querySelectorAll('#chart rect.bar').length === 30, null, { timeout: WAIT });
  const top = await page.$$eval('#top-actions .top-action', (items) => items.map((i) => [i.querySelector('.name').textContent, i.querySelector('.count').textContent]));
  assert.deepEqual(top, [[`${run}.report.sent`, '3']]);
  assert.match(await page.locator('#chart-desc').textContent(), /^3 activities in the last 30 days/);
  forgiveConsoleErrors(STOPPED_SERVER);
});

test('6: the page notices the server is back before the backoff would retry', async () => {
  let control;
  const page = await open('/', { setup: async (p) => { control = await controlledServer(p); } });
  await waitLive(page);
  control.stop();
  // Wait until the backoff has grown to several seconds.
  const handle = await page.waitForFunction(() => {
    const m = /Reconnecting in (\d+) s/.exec(document.querySelector('#connection-text').textContent);
    return m && Number(m[1]) >= 4 ? Number(m[1]) : null;
  }, null, { timeout: 30000, polling: 100 });
  const backoff = await handle.jsonValue();
  control.start();
  const started = Date.now();
  // The next attempt is `backoff` seconds away; the /healthz probe connects well before.
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: (backoff - 1.5) * 1000 });
  const took = Date.now() - started;
  assert.ok(took < (backoff - 1.5) * 1000, `live ${took} ms after the server came back, the backoff had ${backoff} s left`);
  forgiveConsoleErrors(STOPPED_SERVER);
});

// ---- 7: keyboard focus ---------------------------------------------------------------------

test('7: focus lands somewhere sensible after Load older, the detail\'s filter buttons, a top action and closing a detail', async () => {
  const run = prefix();
  const actor = randomUUID();
  await server.logBatch(Array.from({ length: 60 }, (_, i) => ({ action: `${run}.history`, actorUuid: actor, metadata: { n: i } })));
  const page = await open(`/?action=${run}.*`);
  await waitRows(page, { exact: `${run}.history`, count: 50 });

  // Load older with the keyboard: focus stays on the button, then (nothing older) goes to the rows.
  await page.focus('#load-older');
  await page.keyboard.press('Enter');
  await waitRows(page, { exact: `${run}.history`, count: 60 });
  await page.locator('#load-older').waitFor({ state: 'hidden' });
  const afterLast = await focused(page);
  assert.ok(afterLast === 'button.row-open' || afterLast === '#end-of-feed', `after the last page focus is on ${afterLast}`);

  // A detail opened by a click gives focus back to its row when it closes.
  const first = page.locator('#rows tr').first();
  const uuid = await first.getAttribute('data-uuid');
  await first.locator('.col-time').click();
  await page.locator('#detail').waitFor({ state: 'visible' });
  await page.keyboard.press('Escape');
  await page.locator('#detail').waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.uuid), uuid);

  // "Only this actor" and "Only this action": focus goes to the filter that changed.
  await page.keyboard.press('Enter');
  await page.locator('#detail').waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Only this actor' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.searchParams.get('actor') === actor);
  assert.equal(await focused(page), '#f-actor');
  await page.locator('#rows tr').first().waitFor();
  await page.locator('#rows tr .row-open').first().focus();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Only this action' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.searchParams.get('action') === `${run}.history`);
  assert.equal(await focused(page), '#f-action');

  // A top action, chosen with the keyboard, keeps focus once the list is redrawn.
  await page.goto(new URL(`/?action=${run}.*`, BASE_URL).href);
  const topAction = page.locator(`#top-actions .top-action[data-key="${run}.history"]`);
  await topAction.waitFor({ timeout: WAIT });
  await topAction.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.searchParams.get('action') === `${run}.history`);
  await page.waitForFunction(() => document.querySelector('#top-actions .top-action[aria-pressed="true"]'), null, { timeout: WAIT });
  await page.waitForFunction(() => document.querySelector('#chart-card, .chart-card')?.getAttribute('aria-busy') === 'false', null, { timeout: WAIT });
  assert.equal(await focused(page), `button.top-action[${run}.history]`);
});

// ---- 8: the phone ----------------------------------------------------------------------------

test('8: on a phone, Tab follows the page down, the chart comes before the rows, details show, and the table fits', async () => {
  const run = prefix();
  const actor = randomUUID();
  await server.upsertUsers([{ uuid: actor, email: 'bartholomew.longname-verylongsurname@subdomain.example.com' }]);
  await server.log({ action: `${run}.plan.changed`, actorUuid: actor, metadata: { plan: { from: 'free', to: 'team' } } });
  const page = await open('/', { viewport: PHONE });
  await waitLive(page);
  await page.locator('#rows tr').first().waitFor({ timeout: WAIT });
  await waitRows(page, { prefix: '' });

  // Tab from the Filters button visits things top to bottom.
  await page.focus('#filters-toggle');
  const tops = [];
  for (let i = 0; i < 12; i += 1) {
    await page.keyboard.press('Tab');
    tops.push(await page.evaluate(() => Math.round(document.activeElement.getBoundingClientRect().top + scrollY)));
  }
  for (let i = 1; i < tops.length; i += 1) {
    assert.ok(tops[i] >= tops[i - 1] - 40, `Tab goes down the page, not back up: ${tops.join(', ')}`);
  }
  const summaryTop = await page.$eval('.summary', (el) => el.getBoundingClientRect().top);
  const tableTop = await page.$eval('.table-card', (el) => el.getBoundingClientRect().top);
  assert.ok(summaryTop < tableTop, 'the chart and top actions come before the rows');

  // The diff shows under the action; the actor's long email does not widen the table.
  await page.goto(new URL(`/?action=${run}.*`, BASE_URL).href);
  await waitRows(page, { exact: `${run}.plan.changed`, count: 1 });
  const details = page.locator('#rows tr .details-inline').first();
  assert.ok(await details.isVisible(), 'the Details text is shown on a phone');
  assert.match(await details.textContent(), /free → team/);
  const overflow = await page.$eval('.table-scroll', (el) => el.scrollWidth - el.clientWidth);
  assert.ok(overflow <= 0, `the table fits its box (${overflow}px too wide)`);

  // The detail puts the diff right after the fields that have values.
  await page.locator('#rows tr .row-open').first().click();
  await page.locator('#detail').waitFor({ state: 'visible' });
  const dashes = await page.$$eval('#detail .fields dd', (dds) => dds.filter((dd) => dd.textContent.trim() === '—').length);
  assert.equal(dashes, 0, 'no empty fields above the metadata');
  const metaTop = await page.$eval('#detail .metadata .change', (el) => el.getBoundingClientRect().bottom);
  assert.ok(metaTop <= PHONE.height, `the diff is on screen without scrolling (bottom at ${metaTop}px)`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'detail-phone-diff.png') });
});

// ---- 9–11: reading ---------------------------------------------------------------------------

test('9: y-axis labels of 10,000 or more are not clipped', async () => {
  const page = await open('/?bucket=day', {
    setup: (p) => p.route(/\/graphql$/, async (route) => {
      if (!route.request().postData()?.includes('DashboardSummary')) return route.continue();
      const response = await route.fetch();
      const body = await response.json();
      const today = new Date().toISOString().slice(0, 10);
      body.data.timeline = [{ key: today, count: 16911 }];
      return route.fulfill({ response, json: body });
    }),
  });
  await page.waitForFunction(() => [...document.querySelectorAll('#chart text.axis')].some((t) => t.textContent === '16,911'), null, { timeout: WAIT });
  const clipped = await page.$$eval('#chart text.axis', (texts) => texts.filter((t) => t.getBBox().x < 0).map((t) => t.textContent));
  assert.deepEqual(clipped, [], 'every y-axis label starts inside the chart');
});

test('10: From/To are UTC days, like the Daily bars, in any time zone', async () => {
  await contextWith({ timezoneId: 'Asia/Tokyo' });
  const sent = [];
  const from = utcDay(-1);
  const to = utcDay(0);
  const page = await open(`/?from=${from}&to=${to}&bucket=day`, {
    setup: (p) => p.on('request', (r) => {
      if (r.method() === 'POST' && r.postData()?.includes('DashboardSummary')) sent.push(JSON.parse(r.postData()).variables);
    }),
  });
  await page.waitForFunction(() => document.querySelectorAll('#chart rect.bar').length > 0, null, { timeout: WAIT });
  assert.equal(sent[0].filter.since, `${from}T00:00:00.000Z`);
  assert.equal(sent[0].filter.until, `${to}T23:59:59.999999Z`);
  assert.equal(await page.locator('#chart rect.bar').count(), 2, 'two days chosen, two Daily bars');
  assert.match(await page.locator('label[for="f-from"]').textContent(), /UTC/);
  assert.match(await page.locator('#chart-desc').textContent(), /UTC/);
});

test('11: rows older than a week show the time of day, not only the date', async () => {
  const page = await open(`/?to=${utcDay(-9)}`);
  await page.locator('#rows tr').first().waitFor({ timeout: WAIT });
  const text = await page.locator('#rows tr time').first().textContent();
  assert.match(text, /\d{1,2}:\d{2}/, `"${text}" has the time of day`);
});

// ---- 12–13: invalid input, empty and small things --------------------------------------------

test('12: From after To, and invalid values in the address, are reported in the page', async () => {
  const page = await open('/?actor=bob&from=2026-13-45&mode=cron');
  await page.locator('#notice').waitFor({ state: 'visible', timeout: WAIT });
  const notice = await page.locator('#notice-text').textContent();
  assert.match(notice, /bob/);
  assert.match(notice, /2026-13-45/);
  await page.waitForURL((url) => url.search === '?mode=cron', { timeout: WAIT });

  await page.fill('#f-from', utcDay(-1));
  await page.fill('#f-to', utcDay(-3));
  await page.locator('#filters-error').waitFor({ state: 'visible', timeout: WAIT });
  assert.match(await page.locator('#filters-error').textContent(), /is after To/);
  assert.equal(await page.getAttribute('#f-to', 'aria-invalid'), 'true');
  assert.equal(new URL(page.url()).searchParams.get('to'), null, 'the invalid range is not applied');
  assert.doesNotMatch(await page.locator('#chart-desc').textContent(), /last 1 hours/);

  // A range in the past promises no new arrivals.
  await page.fill('#f-from', utcDay(-400));
  await page.fill('#f-to', utcDay(-399));
  await page.waitForURL((url) => url.searchParams.get('to') === utcDay(-399));
  await page.locator('#empty').waitFor({ state: 'visible', timeout: WAIT });
  assert.doesNotMatch(await page.locator('#empty').textContent(), /will appear/);
  assert.ok(await page.locator('#filters-error').isHidden());
});

test('13: a fresh install says how to log the first activity, with a mutation that works', { skip: !EMPTY_BASE_URL && 'EMPTY_BASE_URL not set' }, async () => {
  const page = await open(new URL('/', EMPTY_BASE_URL).href);
  await waitLive(page);
  await page.locator('#first-run').waitFor({ state: 'visible', timeout: WAIT });
  assert.ok(await page.locator('#empty').isHidden());
  const mutation = await page.locator('#first-run-example').textContent();
  await page.click('#copy-example');
  await page.waitForFunction(() => document.querySelector('#copy-done').textContent !== '');
  assert.deepEqual(await axeViolations(page), [], 'axe-core: the first-run view');
  // The mutation shown is one the server takes, and its activity appears.
  const empty = api(EMPTY_BASE_URL);
  const data = await empty.request(mutation);
  await waitRow(page, data.log.activity.uuid);
  assert.ok(await page.locator('#first-run').isHidden());
});

test('13: one activity is "1 activity", the Action list fits its names, and the tab title follows the filter', async () => {
  const run = prefix();
  await server.log({ action: `${run}.single` });
  await contextWith({ viewport: { width: 1280, height: 800 } });
  const page = await open(`/?action=${run}.*`, { viewport: { width: 1280, height: 800 } });
  await page.waitForFunction(() => /^1 activity /.test(document.querySelector('#chart-desc').textContent), null, { timeout: WAIT });
  assert.equal(await page.locator('#feed-count').textContent(), 'Showing 1 of 1');
  assert.match(await page.title(), new RegExp(`^${run}\\.\\* · Activity feed$`));
  // Every action of the demo data fits the select at 1280 px.
  const cut = await page.$eval('#f-action', (select) => {
    const style = getComputedStyle(select);
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
    return [...select.options].map((o) => o.textContent).filter((t) => !t.startsWith('e2e') && ctx.measureText(t).width > room);
  });
  assert.deepEqual(cut, [], 'no action name is cut');
});

// ---- 14: a table that stays fast -------------------------------------------------------------

test('14: the table keeps a bounded number of rows, and a click costs the same at the end as at the start', async (t) => {
  const run = prefix();
  const CLICKS = 100;
  const total = CLICKS * 50 + 60;
  for (let i = 0; i < total; i += 1000) {
    await server.logBatch(Array.from({ length: Math.min(1000, total - i) }, (_, j) => ({ action: `${run}.bulk`, metadata: { n: i + j } })));
  }
  const page = await open(`/?action=${run}.bulk`);
  await waitRows(page, { exact: `${run}.bulk`, count: 50 });
  // Each click, in the page: click, wait until the new rows are in and laid
  // out; count the rows the DOM holds and the rows added or removed.
  const clicks = await page.evaluate(async (n) => {
    const button = document.querySelector('#load-older');
    const tbody = document.querySelector('#rows');
    let touched = 0;
    new MutationObserver((records) => {
      for (const r of records) touched += r.addedNodes.length + r.removedNodes.length;
    }).observe(tbody, { childList: true });
    const out = [];
    for (let i = 0; i < n; i += 1) {
      const lastBefore = tbody.lastElementChild?.dataset.uuid;
      touched = 0;
      const started = performance.now();
      button.click();
      while (button.getAttribute('aria-disabled') === 'true' || tbody.lastElementChild?.dataset.uuid === lastBefore) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      void document.body.offsetHeight; // the layout the new rows need
      out.push({ ms: performance.now() - started, rows: tbody.children.length, touched });
      await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    }
    return out;
  }, CLICKS);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const first = clicks.slice(0, 10);
  const last = clicks.slice(-10);
  const maxRows = Math.max(...clicks.map((c) => c.rows));
  const ratio = median(last.map((c) => c.ms)) / median(first.map((c) => c.ms));
  t.diagnostic(`rows in the DOM: at most ${maxRows}; rows touched per click: first 10 median ${median(first.map((c) => c.touched))}, last 10 median ${median(last.map((c) => c.touched))}`);
  t.diagnostic(`ms per click: first 10 median ${median(first.map((c) => c.ms)).toFixed(1)}, last 10 median ${median(last.map((c) => c.ms)).toFixed(1)}, ratio ${ratio.toFixed(2)}`);
  assert.ok(maxRows <= 200, `the DOM holds at most 200 rows (held ${maxRows})`);
  assert.ok(clicks.every((c) => c.touched <= 100), 'a click adds a page and removes at most a page, whatever was loaded before');
  assert.ok(ratio < 3, `the last clicks cost about what the first did (ratio ${ratio.toFixed(2)})`);
  // Went back 100 pages: the newest rows are a click away.
  const lastN = await page.$eval('#rows tr:first-child .col-details', (td) => Number(td.textContent.replace(/\D/g, '')));
  assert.ok(lastN < total - 1000, 'the newest rows were dropped from the DOM');
  assert.ok(await page.locator('#load-newer').isVisible());
  await page.click('#load-newer');
  await page.waitForFunction((n) => Number(document.querySelector('#rows tr:first-child .col-details').textContent.replace(/\D/g, '')) > n, lastN, { timeout: WAIT });
  assert.ok(await page.locator('#rows tr').count() <= 200);

  // Live arrivals keep the bound too.
  const live = await open(`/?action=${run}.bulk`);
  await waitLive(live);
  await waitRows(live, { exact: `${run}.bulk`, count: 50 });
  for (let i = 0; i < 3; i += 1) {
    await live.click('#load-older');
    await waitRows(live, { exact: `${run}.bulk`, count: 50 * (i + 2) });
  }
  const arrived = await server.logBatch(Array.from({ length: 60 }, (_, j) => ({ action: `${run}.bulk`, metadata: { live: j } })));
  await waitRow(live, arrived.at(-1).uuid);
  await live.waitForFunction(() => document.querySelectorAll('#rows tr').length === 200, null, { timeout: WAIT });
  assert.ok(await live.locator('#load-older').isVisible(), 'the dropped rows can be loaded again');
});

test('14: "Show newer" pages back to the top, which then follows live rows again', async () => {
  const run = prefix();
  await server.logBatch(Array.from({ length: 320 }, (_, n) => ({ action: `${run}.window`, metadata: { n } })));
  const page = await open(`/?action=${run}.window`);
  await waitLive(page);
  await waitRows(page, { exact: `${run}.window`, count: 50 });
  const numbers = () => page.$$eval('#rows tr', (rows) => rows.map((r) => Number(r.querySelector('.col-details').textContent.replace(/\D/g, ''))));
  // The button shows once the first page's end is known, which can come after its rows.
  await page.locator('#load-older').waitFor({ state: 'visible', timeout: WAIT });
  while (await page.locator('#load-older').isVisible()) {
    const before = await page.locator('#rows tr:last-child').getAttribute('data-uuid');
    await page.click('#load-older');
    // A row must be there: while a page is drawn the table can be empty for
    // a moment, and an empty table also has no last row with the old uuid.
    await page.waitForFunction((uuid) => {
      const last = document.querySelector('#rows tr:last-child');
      return last !== null && last.dataset.uuid !== uuid;
    }, before, { timeout: WAIT });
  }
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 200, null, { timeout: WAIT });
  let shown = await numbers();
  assert.equal(shown.length, 200);
  assert.deepEqual(shown, Array.from({ length: 200 }, (_, i) => 199 - i), 'the oldest 200, in order');
  assert.ok(await page.locator('#load-newer').isVisible());

  // Scrolled back: a live row waits; the bar says so.
  const arrived = await server.log({ action: `${run}.window`, metadata: { n: 320 } });
  await page.waitForFunction(() => /1 new/.test(document.querySelector('#newer-note').textContent), null, { timeout: WAIT });
  assert.equal(await row(page, arrived.uuid).count(), 0);

  while (await page.locator('#load-newer').isVisible()) {
    const before = await page.locator('#rows tr:first-child').getAttribute('data-uuid');
    await page.click('#load-newer');
    await page.waitForFunction((uuid) => {
      const first = document.querySelector('#rows tr:first-child');
      return (first !== null && first.dataset.uuid !== uuid) || document.querySelector('#newer-bar').hidden;
    }, before, { timeout: WAIT });
  }
  await waitRow(page, arrived.uuid);
  shown = await numbers();
  assert.deepEqual(shown, Array.from({ length: 200 }, (_, i) => 320 - i), 'the newest 200, no gap, no duplicate');
  const next = await server.log({ action: `${run}.window`, metadata: { n: 321 } });
  await waitRow(page, next.uuid);
  assert.equal(await page.locator('#rows tr').first().getAttribute('data-uuid'), next.uuid);
  assert.equal(await page.locator('#rows tr').count(), 200);
});

/**
 * Opens a filter on a batch of 260 rows logged at one instant, more than the
 * page replays after a reconnect (4 pages of 50), and waits until the page
 * goes live after its newest row. With `olderServer`, the server refuses
 * `ActivityFilter.after`, as one from before it did. Returns the page, how
 * often its table was emptied after it showed rows, and the count requests.
 */
async function liveAfterABatch({ olderServer }) {
  const run = prefix();
  const batch = await server.logBatch(Array.from({ length: 260 }, (_, n) => ({ action: `${run}.instant`, metadata: { n } })));
  assert.equal(new Set(batch.map((a) => a.insertedAt)).size, 1, 'the batch shares one instant');
  let resumed;
  const subscribed = new Promise((resolve) => { resumed = resolve; });
  const counts = [];
  const page = await open(`/?action=${run}.instant`, {
    setup: async (p) => {
      p.on('websocket', (ws) => ws.on('framesent', (frame) => {
        const message = JSON.parse(String(frame.payload));
        if (message.type === 'subscribe' && message.payload.variables?.after) resumed();
      }));
      await p.route(/\/graphql$/, async (route) => {
        const body = JSON.parse(route.request().postData() ?? '{}');
        if (!body.query?.includes('DashboardCount')) return route.continue();
        const filter = body.variables?.filter ?? {};
        counts.push(Object.keys(filter).filter((k) => k === 'after' || k === 'since'));
        if (olderServer && 'after' in filter) {
          return route.fulfill({ json: { data: null, errors: [{ message: 'Invalid value for argument "filter", unknown field "after" of type "ActivityFilter"' }] } });
        }
        return route.continue();
      });
      // Counts each time the table is emptied after it showed rows.
      await p.addInitScript(() => {
        window.emptied = 0;
        document.addEventListener('DOMContentLoaded', () => {
          const rows = document.querySelector('#rows');
          let shown = false;
          new MutationObserver(() => {
            if (rows.children.length) shown = true;
            else if (shown) window.emptied += 1;
          }).observe(rows, { childList: true });
        });
      });
    },
  });
  await waitRows(page, { exact: `${run}.instant`, count: 50 });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no resumed subscription within ${WAIT * 2} ms`)), WAIT * 2);
    subscribed.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  await waitRows(page, { exact: `${run}.instant`, count: 50 });
  const numbers = await page.$$eval('#rows tr', (rows) => rows.map((r) => Number(r.querySelector('.col-details').textContent.replace(/\D/g, ''))));
  assert.deepEqual(numbers, Array.from({ length: 50 }, (_, i) => 259 - i), 'the newest 50, in order');
  const arrived = await server.log({ action: `${run}.instant`, metadata: { n: 260 } });
  await waitRow(page, arrived.uuid);
  return { page, emptied: await page.evaluate(() => window.emptied), counts };
}

test('14: a batch at one instant, larger than a catch-up, is not read twice when the page goes live', async () => {
  const { emptied, counts } = await liveAfterABatch({ olderServer: false });
  assert.deepEqual(counts, [['after']], 'what came after the newest row shown is counted after its cursor');
  assert.equal(emptied, 0, 'the table was not emptied and read again');
});

test('14: a server without ActivityFilter.after is asked since the newest row\'s time instead', async () => {
  const { page, emptied, counts } = await liveAfterABatch({ olderServer: true });
  assert.deepEqual(counts, [['after'], ['since']], 'refused after its cursor, counted since its time');
  // Since its time the batch counts itself, 260 rows: more than a replay,
  // so the page reads the newest rows afresh, as before `after` existed.
  assert.equal(emptied, 1, 'the count since the time was acted on');
  assert.ok(await page.locator('#alert').isHidden(), 'the refusal never reached the screen');
});

// ---- 15: filters --------------------------------------------------------------------------------

test('15: correlation id, metadata and metadata text filters', async () => {
  const run = prefix();
  await server.logBatch([
    { action: `${run}.a`, correlationId: `${run}-req-1`, metadata: { plan: 'team', note: 'invoice 42 paid' } },
    { action: `${run}.b`, correlationId: `${run}-req-2`, metadata: { plan: 'free', note: 'invoice 43' } },
  ]);
  const page = await open(`/?action=${run}.*`);
  await waitRows(page, { prefix: `${run}.`, count: 2 });

  await page.fill('#f-correlationId', `${run}-req-2`);
  await page.press('#f-correlationId', 'Enter');
  await waitRows(page, { exact: `${run}.b`, count: 1 });
  assert.equal(new URL(page.url()).searchParams.get('correlationId'), `${run}-req-2`);
  await page.fill('#f-correlationId', '');
  await page.press('#f-correlationId', 'Enter');
  await waitRows(page, { prefix: `${run}.`, count: 2 });

  await page.fill('#f-metadataText', 'invoice 42');
  await page.press('#f-metadataText', 'Enter');
  await waitRows(page, { exact: `${run}.a`, count: 1 });
  await page.fill('#f-metadataText', '');
  await page.press('#f-metadataText', 'Enter');

  await page.fill('#f-metadata', '{"plan": "free"}');
  await page.press('#f-metadata', 'Enter');
  await waitRows(page, { exact: `${run}.b`, count: 1 });
  assert.equal(new URL(page.url()).searchParams.get('metadata'), '{"plan":"free"}');

  // Not a JSON object: said in the page, the view stays.
  await page.fill('#f-metadata', '{plan: free');
  await page.press('#f-metadata', 'Enter');
  await page.locator('#filters-error').waitFor({ state: 'visible' });
  assert.match(await page.locator('#filters-error').textContent(), /JSON object/);
  assert.equal(new URL(page.url()).searchParams.get('metadata'), '{"plan":"free"}');
});

test('15: the actor filter finds a person by name or email', async () => {
  const run = prefix();
  const actor = randomUUID();
  const other = randomUUID();
  await server.upsertUsers([
    { uuid: actor, email: `${run}-quill@example.com`, firstName: 'Zebulon', lastName: `Quill${run}` },
    { uuid: other, email: `${run}-other@example.com`, firstName: 'Other', lastName: 'Person' },
  ]);
  await server.logBatch([{ action: `${run}.mine`, actorUuid: actor }, { action: `${run}.theirs`, actorUuid: other }]);
  const page = await open(`/?action=${run}.*`);
  await waitRows(page, { prefix: `${run}.`, count: 2 });

  await page.fill('#f-actor', `zebulon quill${run}`);
  await page.waitForFunction((uuid) => [...document.querySelectorAll('#actor-options option')].some((o) => o.value === uuid), actor, { timeout: WAIT });
  await page.press('#f-actor', 'Enter');
  await page.waitForURL((url) => url.searchParams.get('actor') === actor);
  await waitRows(page, { exact: `${run}.mine`, count: 1 });
  assert.match(await page.locator('#f-actor-who').textContent(), /Zebulon/);

  // Several people match: pick one, says the page; nobody matches: says so.
  await page.fill('#f-actor', `${run}`);
  await page.press('#f-actor', 'Enter');
  await page.locator('#filters-error').waitFor({ state: 'visible' });
  assert.match(await page.locator('#filters-error').textContent(), /2 people match/);
  await page.fill('#f-actor', `nobody-${run}`);
  await page.press('#f-actor', 'Enter');
  await page.waitForFunction(() => /nobody matches/.test(document.querySelector('#filters-error').textContent), null, { timeout: WAIT });
  assert.equal(new URL(page.url()).searchParams.get('actor'), actor, 'the view stays');
});

// ---- every document is static; axe-core ---------------------------------------------------------

test('every GraphQL document the page sends is one of the listed, static documents', async () => {
  const run = prefix();
  const actor = randomUUID();
  await server.upsertUsers([{ uuid: actor, email: `${run}@example.com`, firstName: 'Static' }]);
  await server.logBatch(Array.from({ length: 60 }, () => ({ action: `${run}.doc`, actorUuid: actor })));
  const sent = new Set();
  const page = await open(`/?action=${run}.*`, {
    setup: (p) => {
      p.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith('/graphql')) sent.add(JSON.parse(r.postData()).query);
      });
      p.on('websocket', (ws) => ws.on('framesent', (frame) => {
        const message = JSON.parse(String(frame.payload));
        if (message.type === 'subscribe') sent.add(message.payload.query);
      }));
    },
  });
  await waitLive(page);
  await waitRows(page, { exact: `${run}.doc`, count: 50 });
  await page.click('#load-older');
  await waitRows(page, { exact: `${run}.doc`, count: 60 });
  await page.click('[data-bucket="day"]');
  await page.fill('#f-actor', `${run}@example`);
  await page.press('#f-actor', 'Enter');
  await page.waitForURL((url) => url.searchParams.get('actor') === actor);
  await waitLive(page);
  const listed = await page.evaluate(async () => (await import('./dashboard/js/queries.js')).DOCUMENTS);
  assert.ok(sent.size >= 6, `several documents were sent (${sent.size})`);
  const unlisted = [...sent].filter((q) => !listed.includes(q));
  assert.deepEqual(unlisted, [], 'documents not in DOCUMENTS');
});

test('axe-core finds no violations on the main views, light and dark, desktop and phone, and the detail', async () => {
  for (const colorScheme of ['light', 'dark']) {
    await contextWith({ colorScheme });
    for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
      const page = await open('/', { viewport });
      await waitLive(page);
      await page.locator('#rows tr').first().waitFor({ timeout: WAIT });
      await page.waitForFunction(() => document.querySelector('.chart-card')?.getAttribute('aria-busy') === 'false', null, { timeout: WAIT });
      const where = `${colorScheme}, ${viewport.width}px`;
      assert.deepEqual(await axeViolations(page), [], `axe-core: ${where}`);
      await page.locator('#rows tr .row-open').first().click();
      await page.locator('#detail').waitFor({ state: 'visible' });
      assert.deepEqual(await axeViolations(page), [], `axe-core: the detail, ${where}`);
      await page.close();
    }
  }
});
