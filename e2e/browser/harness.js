// What the browser test files share: the servers they run against, one
// browser per file, one context per test (its own storage, so no token leaks
// from one test to the next), pages that record console errors (any fails
// the test), and waits for what the page shows.
//
//   BASE_URL        a server without authentication, with demo data (required)
//   AUTH_BASE_URL   a server with JWT_SECRET set; with ADMIN_TOKEN, USER_TOKEN,
//                   EXPIRED_TOKEN and USER_UUID (the user token's subject) the
//                   token tests run
//   EMPTY_BASE_URL  a server on an empty database, for the first-run view
//   TRUSTED_BASE_URL   a server with AUTH_BASE_URL's secret that runs only the
//                      dashboard's trusted documents; TRUSTED_WRITER_URL a
//                      server without authentication on the same database,
//                      through which its tests write
//   ARTIFACTS_DIR   where screenshots go (default e2e/artifacts)
//
// Every test uses its own action names, so tests do not see each other's rows.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';

import { api } from './api.js';
import { launch } from './chromium.js';

export const BASE_URL = process.env.BASE_URL;
if (!BASE_URL) throw new Error('set BASE_URL to a running activity-feed server');
export const EMPTY_BASE_URL = process.env.EMPTY_BASE_URL;
export const TRUSTED = { url: process.env.TRUSTED_BASE_URL, writer: process.env.TRUSTED_WRITER_URL };
export const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.join(import.meta.dirname, '..', 'artifacts');
export const AUTH = {
  url: process.env.AUTH_BASE_URL,
  admin: process.env.ADMIN_TOKEN,
  user: process.env.USER_TOKEN,
  expired: process.env.EXPIRED_TOKEN,
  userUuid: process.env.USER_UUID,
};
export const HAS_AUTH = Boolean(AUTH.url && AUTH.admin && AUTH.user && AUTH.userUuid);

/** How long anything the page should show may take to show. */
export const WAIT = 5000;
export const DESKTOP = { width: 1366, height: 900 };
export const PHONE = { width: 390, height: 844 };

export const server = api(BASE_URL);
const state = {
  browser: null,
  /** The current test's browser context. */
  context: null,
  /** Problems the pages of the current test reported on the console. */
  consoleErrors: [],
  /** Options for the next test's context (e.g. a time zone). */
  nextContext: {},
};

/** Registers the hooks: a browser for the file, a fresh context per test, no console errors. */
export function useBrowser() {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    state.browser = await launch();
  });

  after(async () => {
    await state.browser?.close();
  });

  beforeEach(async () => {
    state.context = await state.browser.newContext({ viewport: DESKTOP });
  });

  afterEach(async () => {
    await state.context?.close();
    const errors = state.consoleErrors;
    state.consoleErrors = [];
    assert.deepEqual(errors, [], 'the page logged errors');
  });
}

/** Replaces the current test's context with one made with `options` (time zone, colour scheme…). */
export async function contextWith(options) {
  await state.context?.close();
  state.context = await state.browser.newContext({ viewport: DESKTOP, ...options });
  return state.context;
}

/** The current test's context. */
export function currentContext() {
  return state.context;
}

/** A unique prefix for this test's actions. */
export function prefix() {
  return `e2e${randomUUID().slice(0, 8)}`;
}

/** What Chromium logs for a response with status 401. */
const UNAUTHORIZED = /^Failed to load resource: the server responded with a status of 401 \(Unauthorized\)$/;

/** A new page that records console errors, at `url` (relative to BASE_URL unless absolute). */
export async function open(url = '/', { viewport = DESKTOP, setup } = {}) {
  const page = await state.context.newPage();
  await page.setViewportSize(viewport);
  page.on('console', (message) => {
    // The browser itself logs every 401; a page that then asks for a token
    // has done nothing wrong.
    if (message.type() === 'error' && !UNAUTHORIZED.test(message.text())) state.consoleErrors.push(`console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => state.consoleErrors.push(`page error: ${error.message}`));
  await setup?.(page);
  await page.goto(new URL(url, BASE_URL).href);
  return page;
}

/**
 * Console errors the test provokes on purpose (a server it stopped): the
 * browser reports each failed request itself. Drops those matching `pattern`.
 */
export function forgiveConsoleErrors(pattern) {
  state.consoleErrors = state.consoleErrors.filter((e) => !pattern.test(e));
}

export async function waitLive(page) {
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: WAIT * 2 });
}

export function row(page, uuid) {
  return page.locator(`#rows tr[data-uuid="${uuid}"]`);
}

/** What the page shows, for a failure message. */
export function pageState(page) {
  return page.evaluate(() => ({
    url: location.href,
    connection: document.querySelector('#connection').dataset.state,
    count: document.querySelector('#feed-count').textContent,
    rows: document.querySelectorAll('#rows tr').length,
    alert: document.querySelector('#alert').hidden ? null : document.querySelector('#alert-text').textContent,
  }));
}

/** Waits for the row of `uuid` to be shown. */
export async function waitRow(page, uuid) {
  try {
    await row(page, uuid).waitFor({ timeout: WAIT });
  } catch (error) {
    throw new Error(`row ${uuid} not shown within ${WAIT} ms; the page: ${JSON.stringify(await pageState(page))}`, { cause: error });
  }
}

/** The actions of the rows on screen, top to bottom. */
export function shownActions(page) {
  return page.$$eval('#rows tr', (rows) => rows.map((r) => r.dataset.action));
}

/** Waits until every row matches `predicate(action)` and there are `count` of them (or at least one). */
export async function waitRows(page, { prefix: p, exact, count }) {
  await page.waitForFunction(
    ({ p, exact, count }) => {
      const actions = [...document.querySelectorAll('#rows tr')].map((r) => r.dataset.action);
      const ok = actions.every((a) => (exact ? a === exact : a.startsWith(p)));
      return ok && (count === undefined ? actions.length > 0 : actions.length === count);
    },
    { p, exact, count },
    { timeout: WAIT },
  );
}

/**
 * Routes the page's websocket through the test, so the test can drop it and
 * refuse new ones for a while, as a restarting server or a flaky network would.
 */
export async function controlledSocket(page) {
  const control = { blocked: false, current: null, connections: 0 };
  await page.routeWebSocket(/\/graphql$/, (ws) => {
    if (control.blocked) {
      ws.close({ code: 1013, reason: 'Try again later' });
      return;
    }
    control.connections += 1;
    control.current = ws;
    ws.connectToServer();
  });
  return control;
}

/**
 * Plays a server that is down for HTTP too: while `down`, GraphQL POSTs and
 * /healthz fail as a refused connection would, and the websocket is refused.
 */
export async function controlledServer(page) {
  const socket = await controlledSocket(page);
  const control = {
    socket,
    down: false,
    stop() {
      this.down = true;
      socket.blocked = true;
      socket.current?.close({ code: 1012, reason: 'Service restart' });
    },
    start() {
      this.down = false;
      socket.blocked = false;
    },
  };
  await page.route(/\/(graphql|healthz)$/, (route) => (control.down ? route.abort('connectionrefused') : route.continue()));
  return control;
}

const require = createRequire(import.meta.url);
let axeSource = null;

/**
 * Runs axe-core in the page and returns its violations (id, impact, targets).
 * The script goes in through DevTools, not a <script> tag, so the page's
 * strict CSP stays on.
 */
export async function axeViolations(page) {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}
