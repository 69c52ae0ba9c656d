// Apollo Client (@apollo/client), unmodified, as a frontend sets it up: an
// HttpLink for queries and mutations and a GraphQLWsLink (graphql-ws) for
// subscriptions, chosen by a split link; plus its PersistedQueryLink for
// Apollo's automatic persisted queries.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { GRAPHQL_URL, deferred, logUntilReceived, uniqueAction, wsUrl } from './lib.js';

const wsClient = createClient({ url: wsUrl(GRAPHQL_URL), webSocketImpl: WebSocket, retryAttempts: 0 });

const client = new ApolloClient({
  link: ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    new HttpLink({ uri: GRAPHQL_URL }),
  ),
  cache: new InMemoryCache(),
});

after(async () => {
  client.stop();
  await wsClient.dispose();
});

const ACTIVITIES = gql`
  query Activities($action: String!) {
    activities(filter: { action: $action }, perPage: 10) {
      total
      entries { uuid action }
    }
  }
`;

const LOG = gql`
  mutation Log($action: String!) {
    log(input: { action: $action }) {
      activity { uuid action }
      errors { field message }
    }
  }
`;

const ADDED = gql`
  subscription Added($action: String!) {
    activityAdded(filter: { action: $action }) { uuid action }
  }
`;

async function log(action) {
  const { data, error } = await client.mutate({ mutation: LOG, variables: { action } });
  assert.equal(error, undefined);
  assert.deepEqual(data.log.errors, []);
  return data.log.activity.uuid;
}

test('a query', async () => {
  const action = uniqueAction('apollo.query');
  const { data, error } = await client.query({ query: ACTIVITIES, variables: { action }, fetchPolicy: 'network-only' });
  assert.equal(error, undefined);
  assert.equal(data.activities.total, 0);
  assert.deepEqual(data.activities.entries, []);
});

test('a mutation, then the query sees it', async () => {
  const action = uniqueAction('apollo.mutation');
  const uuid = await log(action);
  assert.match(uuid, /^[0-9a-f-]{36}$/);
  const { data } = await client.query({ query: ACTIVITIES, variables: { action }, fetchPolicy: 'network-only' });
  assert.equal(data.activities.total, 1);
  assert.equal(data.activities.entries[0].uuid, uuid);
  assert.equal(data.activities.entries[0].action, action);
});

test('a GraphQL error comes back as an error, not as data', async () => {
  const { data, error } = await client.query({
    query: gql`query Bad { activities(perPage: -1) { total } }`,
    fetchPolicy: 'network-only',
    errorPolicy: 'all',
  });
  assert.ok(error, 'an error');
  assert.match(error.message, /perPage/i);
  assert.ok(data === undefined || data === null || data.activities == null);
});

test('a subscription through GraphQLWsLink receives a logged activity', async () => {
  const action = uniqueAction('apollo.subscription');
  const first = deferred();
  const subscription = client.subscribe({ query: ADDED, variables: { action } }).subscribe({
    next: (result) => (result.error ? first.reject(result.error) : first.resolve(result)),
    error: first.reject,
  });
  try {
    const { event, logged } = await logUntilReceived(first.promise, () => log(action));
    assert.equal(event.data.activityAdded.action, action);
    assert.ok(logged.includes(event.data.activityAdded.uuid), 'the event is an activity this test logged');
  } finally {
    subscription.unsubscribe();
  }
});

test("automatic persisted queries: Apollo's PersistedQueryLink sends the hash alone once the server knows it", async () => {
  const bodies = [];
  const statuses = [];
  let accept;
  const recordingFetch = async (url, init) => {
    bodies.push(JSON.parse(init.body));
    accept = new Headers(init.headers).get('accept');
    const res = await fetch(url, init);
    statuses.push(res.status);
    return res;
  };
  const apq = new ApolloClient({
    link: new PersistedQueryLink({ sha256: (text) => createHash('sha256').update(text).digest('hex') }).concat(
      new HttpLink({ uri: GRAPHQL_URL, fetch: recordingFetch }),
    ),
    cache: new InMemoryCache(),
  });
  try {
    const action = uniqueAction('apollo.apq');
    // A document this server has surely not seen: its text holds a fresh action name.
    const query = gql`query Apq { activities(filter: { action: "${action}" }) { total } }`;
    const first = await apq.query({ query, fetchPolicy: 'network-only' });
    assert.equal(first.error, undefined);
    assert.equal(first.data.activities.total, 0);
    assert.equal(bodies.length, 2, 'the hash alone, refused, then the hash with the query');
    assert.equal(bodies[0].query, undefined);
    assert.match(bodies[0].extensions.persistedQuery.sha256Hash, /^[0-9a-f]{64}$/);
    assert.equal(typeof bodies[1].query, 'string');
    const second = await apq.query({ query, fetchPolicy: 'network-only' });
    assert.equal(second.data.activities.total, 0);
    assert.equal(bodies.length, 3, 'one request');
    assert.equal(bodies[2].query, undefined, 'the hash alone is enough now');
    // Apollo asks for application/graphql-response+json first, so the refused
    // hash is a 400 without data, which its link understands all the same.
    assert.match(accept, /^application\/graphql-response\+json/);
    assert.deepEqual(statuses, [400, 200, 200]);
  } finally {
    apq.stop();
  }
});
