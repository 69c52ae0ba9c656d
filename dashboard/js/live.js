// A graphql-transport-ws client (the protocol of the `graphql-ws` library,
// https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md), written
// for this page: one socket, connection_init with the bearer token, ping and
// pong both ways, subscribe / next / error / complete, and reconnection with
// backoff. Subscriptions end with their socket; the page subscribes again on
// every `connected` state, after it has caught up on what it missed.

const PROTOCOL = 'graphql-transport-ws';
/** Close codes with which a server refuses the connection's credentials. */
export const AUTH_CLOSE_CODES = Object.freeze([4401, 4403]);

/**
 * The delay before reconnection attempt `attempt` (0-based): exponential
 * from `min` to `max` with "equal jitter", so many pages do not return at once.
 */
export function backoffDelay(attempt, { min = 500, max = 8000, random = Math.random } = {}) {
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * States reported to `onState(state, info)`:
 *   'connecting'    first connection under way
 *   'connected'     acknowledged; info.reconnected tells whether it is a reconnection
 *   'reconnecting'  lost; info.retryAt is when the next attempt starts
 *   'unauthorized'  the server refused the token (close 4401/4403); waits for restart()
 *   'closed'        closed by close()
 *
 * `probe()`, when given, resolves to whether the server answers at all (a
 * cheap GET of /healthz): while reconnecting it runs every `probeInterval`
 * ms, and when the server answers after it did not, the client connects at
 * once instead of waiting out the backoff. A server that answers the probe
 * but refuses the socket only gets the backoff's attempts.
 */
export function createLiveClient({
  url,
  connectionParams = () => ({}),
  onState = () => {},
  WebSocketImpl = globalThis.WebSocket,
  ackTimeout = 10000,
  pingInterval = 20000,
  pongTimeout = 10000,
  backoff = {},
  probe = null,
  probeInterval = 1000,
} = {}) {
  let socket = null;
  let state = 'idle';
  let attempt = 0;
  let everConnected = false;
  let nextId = 1;
  let retryTimer = null;
  let ackTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let probeTimer = null;
  /** Whether the last probe found the server answering; starts false so its first answer counts. */
  let probeUp = false;
  /** id -> sink of the subscriptions on the current socket */
  const sinks = new Map();

  function setState(next, info = {}) {
    state = next;
    onState(next, info);
  }

  function clearTimers() {
    for (const timer of [retryTimer, ackTimer, pingTimer, pongTimer, probeTimer]) clearTimeout(timer);
    retryTimer = ackTimer = pingTimer = pongTimer = probeTimer = null;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocketImpl.OPEN) socket.send(JSON.stringify(message));
  }

  function schedulePing() {
    clearTimeout(pingTimer);
    pingTimer = setTimeout(() => {
      send({ type: 'ping' });
      pongTimer = setTimeout(() => drop(socket, 4499, 'No pong from the server'), pongTimeout);
    }, pingInterval);
  }

  /** Closes `ws` (if it is still ours) and lets its close handler decide what comes next. */
  function drop(ws, code, reason) {
    if (!ws || ws !== socket) return;
    try {
      ws.close(code, reason);
    } catch {
      // An invalid state is fine: it is closing already.
    }
    // Browsers may delay the close event of a dead socket; do not wait for it.
    onClose(ws, { code, reason });
  }

  function connect() {
    clearTimers();
    setState(everConnected ? 'reconnecting' : 'connecting', { retryAt: null });
    let ws;
    try {
      ws = new WebSocketImpl(url, PROTOCOL);
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      if (ws !== socket) return;
      let payload = {};
      try {
        payload = connectionParams() ?? {};
      } catch {
        payload = {};
      }
      send({ type: 'connection_init', payload });
      ackTimer = setTimeout(() => drop(ws, 4408, 'Connection acknowledgement timeout'), ackTimeout);
    };
    ws.onmessage = (event) => {
      if (ws !== socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        drop(ws, 4400, 'Invalid message');
        return;
      }
      handle(ws, message);
    };
    ws.onerror = () => {
      // Always followed by a close event, which decides what to do.
    };
    ws.onclose = (event) => onClose(ws, event);
  }

  function handle(ws, message) {
    // Any message shows the connection is alive.
    clearTimeout(pongTimer);
    switch (message?.type) {
      case 'connection_ack': {
        clearTimeout(ackTimer);
        const reconnected = everConnected;
        everConnected = true;
        attempt = 0;
        probeUp = false;
        setState('connected', { reconnected });
        schedulePing();
        break;
      }
      case 'ping':
        send({ type: 'pong' });
        break;
      case 'pong':
        schedulePing();
        break;
      case 'next':
        sinks.get(message.id)?.next?.(message.payload);
        break;
      case 'error': {
        const sink = sinks.get(message.id);
        sinks.delete(message.id);
        sink?.error?.(Array.isArray(message.payload) ? message.payload : [message.payload]);
        break;
      }
      case 'complete': {
        const sink = sinks.get(message.id);
        sinks.delete(message.id);
        sink?.complete?.();
        break;
      }
      default:
        drop(ws, 4400, 'Unexpected message');
    }
  }

  function onClose(ws, event) {
    if (ws !== socket) return;
    socket = null;
    clearTimers();
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    // The socket's subscriptions are gone; their owners hear it as `interrupted`.
    const interrupted = [...sinks.values()];
    sinks.clear();
    for (const sink of interrupted) sink.interrupted?.();
    if (state === 'closed') return;
    if (AUTH_CLOSE_CODES.includes(event?.code)) {
      setState('unauthorized', { code: event.code, reason: event.reason || '' });
      return;
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    const delay = backoffDelay(attempt, backoff);
    attempt += 1;
    const retryAt = Date.now() + delay;
    setState('reconnecting', { retryAt });
    retryTimer = setTimeout(connect, delay);
    if (probe) scheduleProbe();
  }

  function scheduleProbe() {
    clearTimeout(probeTimer);
    probeTimer = setTimeout(async () => {
      probeTimer = null;
      let up = false;
      try {
        up = Boolean(await probe());
      } catch {
        up = false;
      }
      // Still waiting for the next attempt? (It may have started meanwhile.)
      if (state !== 'reconnecting' || socket || !retryTimer) return;
      const cameBack = up && !probeUp;
      probeUp = up;
      if (cameBack) connect();
      else scheduleProbe();
    }, probeInterval);
  }

  return {
    /** The current state's name. */
    get state() {
      return state;
    },

    /** Opens the connection (once); later calls do nothing while it is open or pending. */
    start() {
      if (socket || retryTimer || state === 'connected') return;
      connect();
    },

    /** Drops the current connection (if any) and connects again now, e.g. with a new token. */
    restart() {
      const old = socket;
      socket = null;
      clearTimers();
      attempt = 0;
      if (old) {
        old.onopen = old.onmessage = old.onerror = old.onclose = null;
        try {
          old.close(1000, 'Restarting');
        } catch {
          // Already closing.
        }
      }
      const interrupted = [...sinks.values()];
      sinks.clear();
      for (const sink of interrupted) sink.interrupted?.();
      connect();
    },

    /** Tries now instead of waiting out the backoff (e.g. when the browser is back online). */
    retryNow() {
      if (state === 'reconnecting' && !socket) connect();
    },

    /**
     * Subscribes on the current connection; returns a function that ends the
     * subscription. The sink gets next(payload), error(errors), complete()
     * and interrupted() (the socket was lost).
     */
    subscribe(payload, sink) {
      const id = String(nextId++);
      if (state !== 'connected') {
        queueMicrotask(() => sink.interrupted?.());
        return () => {};
      }
      sinks.set(id, sink);
      send({ id, type: 'subscribe', payload });
      return () => {
        if (sinks.delete(id)) send({ id, type: 'complete' });
      };
    },

    /** Closes for good. */
    close() {
      setState('closed');
      const old = socket;
      socket = null;
      clearTimers();
      sinks.clear();
      if (old) {
        old.onopen = old.onmessage = old.onerror = old.onclose = null;
        try {
          old.close(1000, 'Normal closure');
        } catch {
          // Already closing.
        }
      }
    },
  };
}
