// What the conformance tests share: where the servers are (set by
// .ci/conformance), a plain-fetch GraphQL call for logging activities, and a
// way to wait for a live event without guessing when a subscription is live.

import { randomUUID } from 'node:crypto';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through .ci/conformance`);
  }
  return value;
}

/** The open server's GraphQL endpoint, e.g. http://127.0.0.1:8000/graphql. */
export const GRAPHQL_URL = required('GRAPHQL_URL');
/** A server started with JWT_SECRET: no token, no connection. */
export const AUTH_GRAPHQL_URL = required('AUTH_GRAPHQL_URL');
/** An admin token signed with that server's secret. */
export const AUTH_TOKEN = required('AUTH_TOKEN');

/** The websocket URL for an http(s) GraphQL URL. */
export function wsUrl(httpUrl) {
  return httpUrl.replace(/^http/, 'ws');
}

/** An action name no other test uses, so a filter sees only this test's rows. */
export function uniqueAction(prefix) {
  return `conformance.${prefix}.${randomUUID().slice(0, 8)}`;
}

/** POSTs a GraphQL request with fetch and returns the parsed body. */
export async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status !== 200 || json.errors) {
    throw new Error(`POST ${url} answered ${res.status}: ${JSON.stringify(json)}`);
  }
  return json.data;
}

/** Logs an activity over HTTP; returns its uuid. */
export async function logActivity(url, action, headers = {}) {
  const data = await post(
    url,
    {
      query: 'mutation($action: String!) { log(input: {action: $action}) { activity { uuid } userErrors { field message } } }',
      variables: { action },
    },
    headers,
  );
  if (data.log.userErrors.length) throw new Error(`log refused: ${JSON.stringify(data.log.userErrors)}`);
  return data.log.activity.uuid;
}

/**
 * Waits for `received` (a promise a subscription resolves) while logging an
 * activity every `every` ms with `log()`: graphql-transport-ws does not
 * acknowledge a subscribe, so the first rows may be logged before the
 * subscription is live. Returns the event and the uuids logged.
 */
export async function logUntilReceived(received, log, { every = 250, timeout = 15000 } = {}) {
  const logged = [];
  const deadline = Date.now() + timeout;
  let event;
  received.then((e) => { event = e; }, () => {});
  while (event === undefined) {
    if (Date.now() > deadline) throw new Error(`nothing received in ${timeout} ms; logged ${logged.length}`);
    logged.push(await log());
    await Promise.race([received, new Promise((r) => setTimeout(r, every))]);
  }
  return { event: await received, logged };
}

/** A promise and its resolve/reject, for callbacks. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
