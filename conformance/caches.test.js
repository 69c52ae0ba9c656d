// The two normalising client caches frontends use, at their defaults:
// Apollo Client's InMemoryCache with relayStylePagination() under
// typePolicies.Query, and urql's graphcache with no `keys` config and an
// updater under updates.Mutation. Both find objects by `id` and the root
// types by their standard names, so nothing else needs configuring.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { GRAPHQL_URL, logActivity, uniqueAction } from './lib.js';

const FEED = gql`
  query Feed($action: String!, $after: String) {
    activityFeed(filter: { action: $action }, first: 2, after: $after) {
      edges { cursor node { id uuid action } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const ONE = gql`
  query One($uuid: UUID!) {
    activity(uuid: $uuid) { id uuid action actor { id uuid } }
  }
`;

test('Apollo: relayStylePagination under typePolicies.Query merges two pages, one cache entry per activity', async () => {
  const cache = new InMemoryCache({
    typePolicies: { Query: { fields: { activityFeed: relayStylePagination(['filter']) } } },
  });
  const client = new ApolloClient({ link: new HttpLink({ uri: GRAPHQL_URL }), cache });
  after(() => client.stop());
  const action = uniqueAction('apollo.cache');
  const logged = [];
  for (let i = 0; i < 3; i += 1) logged.push(await logActivity(GRAPHQL_URL, action));

  const first = await client.query({ query: FEED, variables: { action } });
  assert.equal(first.data.activityFeed.edges.length, 2);
  assert.equal(first.data.activityFeed.pageInfo.hasNextPage, true);
  // As fetchMore does: the next page from the network, merged by the policy
  // (the cache would otherwise answer with the merged list it already has).
  const second = await client.query({
    query: FEED,
    variables: { action, after: first.data.activityFeed.pageInfo.endCursor },
    fetchPolicy: 'network-only',
  });
  assert.equal(second.data.activityFeed.edges.length, 3, 'the merged list');
  assert.equal(second.data.activityFeed.pageInfo.hasNextPage, false);
  await client.query({ query: ONE, variables: { uuid: logged[0] } });

  // The field policy merged both pages into the one list the first query reads.
  const merged = client.readQuery({ query: FEED, variables: { action } });
  assert.deepEqual(merged.activityFeed.edges.map((e) => e.node.uuid), [...logged].reverse());
  // The feed and activity(uuid:) share one normalised entry per activity.
  const stored = cache.extract();
  const entries = Object.entries(stored).filter(([, v]) => v?.__typename === 'Activity' && v.action === action);
  assert.equal(entries.length, 3, `one entry per activity: ${entries.map(([k]) => k)}`);
  const byUuid = Object.entries(stored.ROOT_QUERY).find(([k]) => k.startsWith('activity(') && k.includes(logged[0]));
  assert.ok(byUuid, 'activity(uuid:) is cached');
  assert.ok(byUuid[1].__ref.startsWith('Activity:'), `a reference, not a copy: ${JSON.stringify(byUuid[1])}`);
  assert.ok(entries.some(([k]) => k === byUuid[1].__ref));
});

test('urql graphcache: default keys, and updates.Mutation.log runs', async () => {
  const warnings = [];
  const original = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  const logs = [];
  const action = uniqueAction('urql.cache');
  const feed = urqlGql`
    query UrqlFeed($action: String!) {
      activityFeed(filter: { action: $action }, first: 10) {
        edges { cursor node { id uuid action actor { id uuid } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  `;
  const client = new Client({
    url: GRAPHQL_URL,
    exchanges: [
      cacheExchange({
        updates: {
          Mutation: {
            log(result, _args, cache) {
              logs.push(result.log.activity.uuid);
              cache.updateQuery({ query: feed, variables: { action } }, (data) => {
                data.activityFeed.edges.unshift({ __typename: 'ActivityEdge', cursor: '', node: result.log.activity });
                return data;
              });
            },
          },
        },
      }),
      fetchExchange,
    ],
  });
  try {
    const before = await client.query(feed, { action }).toPromise();
    assert.equal(before.error, undefined);
    assert.deepEqual(before.data.activityFeed.edges, []);

    const logged = await client
      .mutation(
        urqlGql`mutation UrqlLog($action: String!) {
          log(input: { action: $action }) { replayed activity { id uuid action actor { id uuid } } userErrors { field message code } }
        }`,
        { action },
      )
      .toPromise();
    assert.equal(logged.error, undefined);
    assert.deepEqual(logged.data.log.userErrors, []);

    assert.deepEqual(logs, [logged.data.log.activity.uuid], 'the updater ran once, for this log');
    const cached = await client.query(feed, { action }, { requestPolicy: 'cache-only' }).toPromise();
    assert.deepEqual(cached.data.activityFeed.edges.map((e) => e.node.uuid), logs, 'what the updater wrote is read back');
    const keyWarnings = warnings.filter((w) => /Invalid key|Can't generate a key/.test(w));
    assert.deepEqual(keyWarnings, [], 'every selected object has a key or is a connection, edge or page info');
  } finally {
    console.warn = original;
  }
});
