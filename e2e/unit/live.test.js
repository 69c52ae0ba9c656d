import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { backoffDelay, createLiveClient } from '../../dashboard/js/live.js';

/** A WebSocket double: records what the client sends, lets the test play the server. */
class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all = [];

  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.all.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code, reason) {
    this.readyState = FakeSocket.CLOSED;
    this.closedWith = { code, reason };
  }

  // The server's side.
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }

  receive(message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  serverClose(code, reason = '') {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason });
  }
}

const clients = [];

function client(options = {}) {
  const states = [];
  const live = createLiveClient({
    url: 'ws://feed.test/graphql',
    WebSocketImpl: FakeSocket,
    onState: (state, info) => states.push({ state, ...info }),
    backoff: { min: 5, max: 10 },
    ...options,
  });
  clients.push(live);
  return { live, states, names: () => states.map((s) => s.state) };
}

/** Starts and completes the handshake on the newest socket. */
function accept() {
  const ws = FakeSocket.all.at(-1);
  ws.open();
  ws.receive({ type: 'connection_ack' });
  return ws;
}

afterEach(() => {
  for (const live of clients.splice(0)) live.close();
  FakeSocket.all = [];
});

test('connects with the protocol and sends the token in connection_init', () => {
  const { live, names } = client({ connectionParams: () => ({ Authorization: 'Bearer t0k' }) });
  live.start();
  const ws = FakeSocket.all[0];
  assert.equal(ws.protocol, 'graphql-transport-ws');
  ws.open();
  assert.deepEqual(ws.sent, [{ type: 'connection_init', payload: { Authorization: 'Bearer t0k' } }]);
  ws.receive({ type: 'connection_ack' });
  assert.deepEqual(names(), ['connecting', 'connected']);
  assert.equal(live.state, 'connected');
});

test('subscribes, delivers next and complete, and completes on unsubscribe', () => {
  const { live } = client();
  live.start();
  const ws = accept();
  const got = [];
  const stop = live.subscribe({ query: 'subscription { x }' }, { next: (p) => got.push(p), complete: () => got.push('done') });
  const other = live.subscribe({ query: 'subscription { y }' }, { next: (p) => got.push(p) });
  const [sub, sub2] = ws.sent.filter((m) => m.type === 'subscribe');
  assert.deepEqual(sub.payload, { query: 'subscription { x }' });
  assert.notEqual(sub.id, sub2.id);
  ws.receive({ id: sub.id, type: 'next', payload: { data: { x: 1 } } });
  ws.receive({ id: 'unknown', type: 'next', payload: { data: { x: 2 } } });
  ws.receive({ id: sub.id, type: 'complete' });
  assert.deepEqual(got, [{ data: { x: 1 } }, 'done']);
  other();
  stop();
  assert.deepEqual(ws.sent.filter((m) => m.type === 'complete'), [{ id: sub2.id, type: 'complete' }], 'only the live one is completed');
});

test('answers ping with pong', () => {
  const { live } = client();
  live.start();
  const ws = accept();
  ws.receive({ type: 'ping' });
  assert.deepEqual(ws.sent.at(-1), { type: 'pong' });
});

test('an error message ends its subscription with the errors', () => {
  const { live } = client();
  live.start();
  const ws = accept();
  let errors = null;
  live.subscribe({ query: 's' }, { error: (e) => { errors = e; } });
  const { id } = ws.sent.find((m) => m.type === 'subscribe');
  ws.receive({ id, type: 'error', payload: [{ message: 'nope' }] });
  assert.deepEqual(errors, [{ message: 'nope' }]);
});

test('reconnects after a lost connection, and says it is a reconnection', async () => {
  const { live, states, names } = client();
  live.start();
  const first = accept();
  let interrupted = false;
  live.subscribe({ query: 's' }, { interrupted: () => { interrupted = true; } });
  first.serverClose(1006);
  assert.ok(interrupted, 'subscriptions hear that their socket is gone');
  assert.equal(live.state, 'reconnecting');
  assert.ok(states.at(-1).retryAt > 0);
  await sleep(30);
  assert.equal(FakeSocket.all.length, 2, 'a new socket after the backoff');
  accept();
  assert.deepEqual(states.at(-1), { state: 'connected', reconnected: true });
  assert.deepEqual(names(), ['connecting', 'connected', 'reconnecting', 'reconnecting', 'connected']);
});

test('a refused token (4401, 4403) stops retrying until restart', async () => {
  for (const code of [4401, 4403]) {
    FakeSocket.all = [];
    const { live, states } = client();
    live.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].serverClose(code, 'Forbidden');
    assert.equal(live.state, 'unauthorized');
    assert.equal(states.at(-1).code, code);
    await sleep(30);
    assert.equal(FakeSocket.all.length, 1, 'no retry with the refused token');
    live.restart();
    assert.equal(FakeSocket.all.length, 2);
  }
});

test('gives up on a server that never acknowledges, and tries again', async () => {
  const { live } = client({ ackTimeout: 5 });
  live.start();
  const ws = FakeSocket.all[0];
  ws.open();
  await sleep(40);
  assert.equal(ws.closedWith.code, 4408);
  assert.ok(FakeSocket.all.length >= 2);
});

test('a dead connection is noticed by a ping without pong', async () => {
  const { live } = client({ pingInterval: 5, pongTimeout: 5 });
  live.start();
  const ws = accept();
  await sleep(40);
  assert.ok(ws.sent.some((m) => m.type === 'ping'));
  assert.equal(ws.closedWith?.code, 4499);
  assert.ok(FakeSocket.all.length >= 2);
});

test('garbage from the server closes with 4400', () => {
  const { live } = client();
  live.start();
  const ws = accept();
  ws.onmessage({ data: 'not json' });
  assert.equal(ws.closedWith.code, 4400);
});

test('backoff grows, is capped, and is jittered', () => {
  const fixed = (r) => ({ min: 500, max: 15000, random: () => r });
  assert.equal(backoffDelay(0, fixed(0)), 250);
  assert.equal(backoffDelay(0, fixed(1)), 500);
  assert.equal(backoffDelay(3, fixed(1)), 4000);
  assert.equal(backoffDelay(50, fixed(1)), 15000);
  assert.equal(backoffDelay(50, fixed(0)), 7500);
});

test('while reconnecting, a probe that finds the server back connects at once', async () => {
  let up = false;
  let probes = 0;
  const { live } = client({
    backoff: { min: 60000, max: 60000 },
    probeInterval: 5,
    probe: async () => {
      probes += 1;
      return up;
    },
  });
  live.start();
  accept().serverClose(1006);
  await sleep(40);
  assert.equal(FakeSocket.all.length, 1, 'no attempt while the probe finds the server down');
  assert.ok(probes >= 2);
  up = true;
  await sleep(40);
  assert.equal(FakeSocket.all.length, 2, 'connects as soon as the server answers, not after the 60 s backoff');
  // It answers the probe but refuses the socket: no more probe-driven attempts.
  FakeSocket.all[1].serverClose(1006);
  await sleep(60);
  assert.equal(FakeSocket.all.length, 2, 'a server that answers probes but refuses sockets waits for the backoff');
});

test('the backoff is capped at 8 s by default', () => {
  assert.equal(backoffDelay(50, { random: () => 1 }), 8000);
});
