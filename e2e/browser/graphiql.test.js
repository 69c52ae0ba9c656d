// GraphiQL as served at /graphql (issue 17): the pinned bundle embedded in the
// binary, under its strict CSP, with every request to anywhere but the server
// blocked. A query and a subscription are typed into GraphiQL's own editor
// and run; with authentication on, the token goes in the token bar (the one
// the dashboard keeps) and reaches HTTP and the websocket alike.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { api } from './api.js';
import { AUTH, BASE_URL, HAS_AUTH, WAIT, open, prefix, server, useBrowser } from './harness.js';

useBrowser();

/**
 * Lets `page` reach `base`'s origin only: any other request or websocket is
 * refused and recorded, as are the page's CSP violations. `sockets` counts
 * the websockets opened to the server.
 */
async function serverOnly(page, base) {
  const origin = new URL(base).origin;
  const record = { blocked: [], violations: [], sockets: [] };
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    record.blocked.push(url);
    return route.abort('blockedbyclient');
  });
  await page.routeWebSocket(/.*/, (ws) => {
    const url = new URL(ws.url());
    if (url.host !== new URL(origin).host) {
      record.blocked.push(ws.url());
      ws.close({ code: 1008, reason: 'blocked by the test' });
      return;
    }
    record.sockets.push(url.pathname);
    ws.connectToServer();
  });
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText?.includes('BLOCKED')) record.blocked.push(request.url());
  });
  return record;
}

/** Asserts nothing was blocked and the page broke no CSP rule. */
async function assertSelfContained(page, record) {
  assert.deepEqual(record.blocked, [], 'GraphiQL asked for something beyond the server');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'CSP violations');
}

/** The text of one of GraphiQL's CodeMirror editors. */
function editorText(page, selector) {
  return page.evaluate((s) => document.querySelector(`${s} .CodeMirror`)?.CodeMirror.getValue() ?? null, selector);
}

/** Replaces the query editor's text by typing `text` into it, and checks it arrived whole. */
async function typeQuery(page, text) {
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor({ timeout: WAIT * 2 });
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(text);
  // Closing brackets are overtyped, and a hint list would only close on space.
  await page.keyboard.press('Escape');
  assert.equal(await editorText(page, '.graphiql-query-editor'), text);
  // GraphiQL parses the text after a pause in typing; run before that, it
  // would pick the transport by the previous document's operation type.
  await page.waitForTimeout(1000);
}

/** Runs the editor's operation with GraphiQL's own run button. */
async function run(page) {
  await page.locator('.graphiql-execute-button').click();
}

/** Waits until the result pane parses to JSON that `check` accepts; returns it. */
async function waitResult(page, check, what, timeout = WAIT * 2) {
  const deadline = Date.now() + timeout;
  let last = null;
  while (Date.now() < deadline) {
    last = await editorText(page, '.graphiql-response');
    try {
      const value = JSON.parse(last);
      if (check(value)) return value;
    } catch {
      // Not JSON yet: empty, or still being written.
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`the result pane never showed ${what}; it shows: ${last}`);
}

/**
 * Logs `action` through `client` until the running subscription shows it in
 * the result pane: nothing tells the page when the server has started the
 * subscription, so one logged before then would go by unseen.
 */
async function logUntilShown(page, client, action) {
  const deadline = Date.now() + WAIT * 2;
  while (Date.now() < deadline) {
    await client.log({ action });
    const shown = await waitResult(page, (r) => r.data?.activityAdded?.action === action, action, 1000).catch(() => null);
    if (shown) return shown;
  }
  return null;
}

test('GraphiQL runs a query and a subscription from its editor, with nothing but the server reachable', async () => {
  let record;
  const page = await open('/graphql', { setup: async (p) => (record = await serverOnly(p, BASE_URL)) });
  const expected = (await server.request('{ activityCount }')).activityCount;

  await typeQuery(page, 'query { activityCount }');
  await run(page);
  await waitResult(page, (r) => r.data?.activityCount === expected, `activityCount ${expected}`);

  const action = `${prefix()}.graphiql`;
  await typeQuery(page, 'subscription { activityAdded { action } }');
  await run(page);
  const shown = await logUntilShown(page, server, action);
  assert.ok(shown, `the subscription never showed ${action}: ${await editorText(page, '.graphiql-response')}`);
  assert.ok(record.sockets.includes('/graphql'), `subscribed over ${JSON.stringify(record.sockets)}`);

  // GraphiQL's dialogs add a <style> element, which the page's nonce lets through.
  await page.locator('[aria-label="Open settings dialog"]').click();
  await page.getByRole('dialog').waitFor({ timeout: WAIT });
  await page.keyboard.press('Escape');
  await assertSelfContained(page, record);
});

test('GraphiQL sends the token of its token bar, kept where the dashboard keeps it, over HTTP and the websocket', { skip: !HAS_AUTH && 'AUTH_BASE_URL and tokens not set' }, async () => {
  let record;
  const page = await open(new URL('/graphql', AUTH.url).href, { setup: async (p) => (record = await serverOnly(p, AUTH.url)) });

  // Without a token the server refuses (401), and GraphiQL shows why.
  await typeQuery(page, 'query { viewer { role } }');
  await run(page);
  await waitResult(page, (r) => r.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED', 'UNAUTHENTICATED');

  await page.fill('#token', `Bearer ${AUTH.admin}`);
  await page.click('#token-bar button');
  assert.equal(await page.evaluate(() => localStorage.getItem('activity-feed.token')), AUTH.admin);
  await typeQuery(page, 'query { viewer { role } }');
  await run(page);
  await waitResult(page, (r) => r.data?.viewer?.role === 'ADMIN', 'role ADMIN');

  const action = `${prefix()}.graphiql.auth`;
  const admin = api(AUTH.url, AUTH.admin);
  await typeQuery(page, 'subscription { activityAdded { action } }');
  await run(page);
  const shown = await logUntilShown(page, admin, action);
  assert.ok(shown, `the subscription never showed ${action}: ${await editorText(page, '.graphiql-response')}`);
  await assertSelfContained(page, record);
});
