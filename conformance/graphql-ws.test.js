// The graphql-ws package's own client (graphql-transport-ws), unmodified,
// with the ws package as its WebSocket in Node: a subscription that receives
// what HTTP logged, completion from both sides, ping/pong, errors, and a
// refused connection_init (close code 4403) on a server that wants tokens.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  AUTH_GRAPHQL_URL, AUTH_TOKEN, GRAPHQL_URL, deferred, logActivity, logUntilReceived,
  uniqueAction, within, wsUrl,
} from './lib.js';

const SUBSCRIPTION = 'subscription($action: String!) { activityAdded(filter: {action: $action}) { uuid action } }';

/** A graphql-ws client that gives up at the first failure instead of retrying. */
function client(url, options = {}) {
  return createClient({ url: wsUrl(url), webSocketImpl: WebSocket, retryAttempts: 0, ...options });
}

test('subscribes to activityAdded and receives an activity logged over HTTP', async () => {
  const ws = client(GRAPHQL_URL);
  try {
    const action = uniqueAction('ws');
    const first = deferred();
    const dispose = ws.subscribe(
      { query: SUBSCRIPTION, variables: { action } },
      { next: (msg) => first.resolve(msg), error: first.reject, complete: () => {} },
    );
    const { event, logged } = await logUntilReceived(first.promise, () => logActivity(GRAPHQL_URL, action));
    assert.equal(event.errors, undefined);
    assert.equal(event.data.activityAdded.action, action);
    assert.ok(logged.includes(event.data.activityAdded.uuid), 'the event is an activity this test logged');
    dispose();
  } finally {
    await ws.dispose();
  }
});

test('complete: the client completes its subscription and nothing more arrives', async () => {
  const ws = client(GRAPHQL_URL);
  try {
    const action = uniqueAction('complete');
    const first = deferred();
    const completed = deferred();
    const received = [];
    const dispose = ws.subscribe(
      { query: SUBSCRIPTION, variables: { action } },
      {
        next: (msg) => { received.push(msg); first.resolve(msg); },
        error: first.reject,
        complete: () => completed.resolve(),
      },
    );
    await logUntilReceived(first.promise, () => logActivity(GRAPHQL_URL, action));
    // Let any rows still in flight arrive, then complete from the client side.
    await new Promise((r) => setTimeout(r, 300));
    dispose();
    await within(completed.promise, 5000, 'the sink to complete');
    const before = received.length;
    await logActivity(GRAPHQL_URL, action);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(received.length, before, 'nothing arrives after complete');
  } finally {
    await ws.dispose();
  }
});

test('complete: the server completes an operation that has finished (a query over the socket)', async () => {
  const ws = client(GRAPHQL_URL);
  try {
    const messages = [];
    const completed = deferred();
    ws.subscribe(
      { query: '{ activities(perPage: 1) { total } }' },
      { next: (m) => messages.push(m), error: completed.reject, complete: () => completed.resolve() },
    );
    await within(completed.promise, 5000, "the server's complete");
    assert.equal(messages.length, 1);
    assert.equal(typeof messages[0].data.activities.total, 'number');
  } finally {
    await ws.dispose();
  }
});

test('an invalid operation gets an error message for that operation, and the socket stays usable', async () => {
  let connections = 0;
  const ws = client(GRAPHQL_URL, { lazy: false, on: { connected: () => { connections += 1; } } });
  try {
    const failed = deferred();
    ws.subscribe({ query: 'subscription { noSuchField }' }, {
      next: () => failed.reject(new Error('unexpected next')),
      error: failed.resolve,
      complete: () => failed.reject(new Error('completed without an error')),
    });
    const errors = await within(failed.promise, 5000, 'the error message');
    assert.ok(Array.isArray(errors) && errors.length > 0, `GraphQL errors: ${JSON.stringify(errors)}`);
    assert.match(errors[0].message, /noSuchField/);
    const done = deferred();
    ws.subscribe({ query: '{ __typename }' }, { next: done.resolve, error: done.reject, complete: () => {} });
    assert.deepEqual((await within(done.promise, 5000, 'a second operation')).data, { __typename: 'Query' });
    assert.equal(connections, 1, 'both operations ran on one connection');
  } finally {
    await ws.dispose();
  }
});

test("ping/pong: the server answers the client's pings with pongs", async () => {
  const pongs = deferred();
  let pings = 0;
  let count = 0;
  const ws = client(GRAPHQL_URL, {
    lazy: false,
    keepAlive: 100,
    on: {
      ping: (received) => { if (!received) pings += 1; },
      pong: (received) => { if (received && ++count === 3) pongs.resolve(); },
    },
  });
  try {
    await within(pongs.promise, 5000, 'three pongs from the server');
    assert.ok(pings >= 3, `the client sent ${pings} pings`);
  } finally {
    await ws.dispose();
  }
});

test('a refused connection: a server with JWT_SECRET closes a token-less connection_init with 4403', async () => {
  const closed = deferred();
  const ws = client(AUTH_GRAPHQL_URL, { on: { closed: (event) => closed.resolve(event) } });
  try {
    const failed = deferred();
    ws.subscribe({ query: '{ __typename }' }, {
      next: () => failed.reject(new Error('an operation ran without a token')),
      error: failed.resolve,
      complete: () => failed.reject(new Error('completed without an error')),
    });
    const error = await within(failed.promise, 5000, 'the subscription to fail');
    assert.equal(error.code, 4403, `close event: ${error.code} ${error.reason}`);
    const event = await within(closed.promise, 5000, 'the closed event');
    assert.equal(event.code, 4403);
    assert.match(event.reason, /Forbidden/);
  } finally {
    await ws.dispose();
  }
});

test('the same server accepts a connection_init that carries a valid token', async () => {
  const connected = deferred();
  const ws = client(AUTH_GRAPHQL_URL, {
    connectionParams: { Authorization: `Bearer ${AUTH_TOKEN}` },
    on: { connected: () => connected.resolve() },
  });
  try {
    const action = uniqueAction('auth');
    const first = deferred();
    ws.subscribe(
      { query: SUBSCRIPTION, variables: { action } },
      { next: first.resolve, error: first.reject, complete: () => {} },
    );
    await within(connected.promise, 5000, 'connection_ack');
    const { event } = await logUntilReceived(first.promise, () =>
      logActivity(AUTH_GRAPHQL_URL, action, { authorization: `Bearer ${AUTH_TOKEN}` }),
    );
    assert.equal(event.data.activityAdded.action, action);
  } finally {
    await ws.dispose();
  }
});

test("dispose closes the socket normally: the client sees the server's reply to its 1000", async () => {
  const closed = deferred();
  const connected = deferred();
  const ws = client(GRAPHQL_URL, {
    lazy: false,
    on: { connected: () => connected.resolve(), closed: (event) => closed.resolve(event) },
  });
  await within(connected.promise, 5000, 'connection_ack');
  await ws.dispose();
  const event = await within(closed.promise, 5000, 'the closed event');
  assert.equal(event.code, 1000, `close event: ${event.code} ${event.reason}`);
});
