// The graphql-ws client, configured with nothing but retries, across a
// restart of the server: the server closes its sockets with 1012 (service
// restart) rather than completing the subscriptions, the client reconnects
// and subscribes again with variables serialised afresh (the cursor of the
// last activity it received), and receives what followed, nothing twice.
//
// This test runs a server of its own (ACTIVITY_FEED_BIN, on a SQLite file
// in a temporary folder) so that it can stop it and start it again on the
// same port.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { deferred, logActivity, logUntilReceived, uniqueAction, within, wsUrl } from './lib.js';

const BIN = process.env.ACTIVITY_FEED_BIN;
if (!BIN) throw new Error('ACTIVITY_FEED_BIN must name the server binary');

/** Starts the server on `bind` and resolves with its base URL once it listens. */
function startServer(dir, bind) {
  const child = spawn(BIN, ['serve'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${join(dir, 'feed.db')}?mode=rwc`,
      BIND: bind,
      LOG_FORMAT: 'json',
      RETENTION_INTERVAL: '0s',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const listening = deferred();
  let buffered = '';
  child.stderr.on('data', (chunk) => {
    buffered += chunk;
    for (const line of buffered.split('\n').slice(0, -1)) {
      try {
        const entry = JSON.parse(line);
        if (entry.fields?.message === 'listening') listening.resolve(`http://${entry.fields.addr}`);
      } catch {
        // Not a log line of ours.
      }
    }
    buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
  });
  child.on('exit', (code) => listening.reject(new Error(`the server exited with ${code} before it listened`)));
  return { child, url: within(listening.promise, 30000, 'the server to listen') };
}

/** Stops the server with SIGTERM (a graceful shutdown) and waits for it to exit. */
async function stopServer(child) {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await within(exited, 15000, 'the server to exit');
}

test('a server restart: the client resubscribes after its last cursor and misses nothing, receives nothing twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'af-restart-'));
  let server = startServer(dir, '127.0.0.1:0');
  const base = await server.url;
  const graphqlUrl = `${base}/graphql`;
  // Nothing but retries: the client's own defaults for everything else.
  const client = createClient({ url: wsUrl(graphqlUrl), webSocketImpl: WebSocket, retryAttempts: 10 });
  try {
    const action = uniqueAction('restart');
    let after = null;
    const received = [];
    const completed = deferred();
    const errored = deferred();
    const firstArrived = deferred();
    let wanted = null;
    client.subscribe(
      {
        query: 'subscription($action: String!, $after: String) { activityAdded(filter: {action: $action}, after: $after) { uuid cursor } }',
        // Serialised again for every subscribe the client sends, retries
        // included: it resumes after the last activity received.
        variables: { toJSON: () => ({ action, after }) },
      },
      {
        next: ({ data }) => {
          received.push(data.activityAdded.uuid);
          after = data.activityAdded.cursor;
          firstArrived.resolve(data.activityAdded.uuid);
          if (wanted && wanted.uuids.every((u) => received.includes(u))) wanted.done.resolve();
        },
        error: (e) => errored.resolve(e),
        complete: () => completed.resolve(),
      },
    );
    // Live once the first activity arrives; from then on everything must.
    const { event: first, logged: probes } = await logUntilReceived(
      firstArrived.promise,
      () => logActivity(graphqlUrl, action),
    );
    const before = probes.slice(probes.indexOf(first));
    for (let i = 0; i < 3; i += 1) before.push(await logActivity(graphqlUrl, action));
    wanted = { uuids: before, done: deferred() };
    if (before.every((u) => received.includes(u))) wanted.done.resolve();
    await within(wanted.done.promise, 10000, 'the activities logged before the restart');

    // Act: restart on the same address, and log right away, possibly
    // before the client is back.
    await stopServer(server.child);
    server = startServer(dir, new URL(base).host);
    await server.url;
    const afterRestart = [];
    for (let i = 0; i < 3; i += 1) afterRestart.push(await logActivity(graphqlUrl, action));
    wanted = { uuids: afterRestart, done: deferred() };
    if (afterRestart.every((u) => received.includes(u))) wanted.done.resolve();
    await within(wanted.done.promise, 30000, 'the activities logged after the restart');
    await new Promise((r) => setTimeout(r, 500));

    // Assert: everything, in order, once each, and the subscription never ended.
    assert.deepEqual(received, [...before, ...afterRestart]);
    assert.equal(new Set(received).size, received.length, 'nothing twice');
    assert.equal(await Promise.race([completed.promise.then(() => 'completed'), errored.promise.then(() => 'errored'), Promise.resolve('live')]), 'live');
  } finally {
    await client.dispose();
    await stopServer(server.child).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
