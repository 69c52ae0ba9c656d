import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AuthError, RequestError, createGraphQLClient } from '../../dashboard/js/graphql.js';
import { connectionInitPayload, normalizeToken } from '../../dashboard/js/auth.js';

function respond(status, body) {
  return async (url, init) => {
    respond.last = { url, init };
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  };
}

test('posts the query and sends the bearer token when there is one', async () => {
  const api = createGraphQLClient({ endpoint: '/graphql', token: () => 'abc', fetchImpl: respond(200, { data: { ok: 1 } }) });
  assert.deepEqual(await api.request('{ ok }', { a: 1 }), { ok: 1 });
  assert.equal(respond.last.init.method, 'POST');
  assert.equal(respond.last.init.headers.authorization, 'Bearer abc');
  assert.deepEqual(JSON.parse(respond.last.init.body), { query: '{ ok }', variables: { a: 1 } });
});

test('sends no Authorization header without a token', async () => {
  const api = createGraphQLClient({ endpoint: '/graphql', token: () => '', fetchImpl: respond(200, { data: {} }) });
  await api.request('{ ok }');
  assert.equal('authorization' in respond.last.init.headers, false);
});

test('HTTP 401 and UNAUTHENTICATED errors are AuthErrors', async () => {
  const unauthorized = createGraphQLClient({ endpoint: '/g', token: () => '', fetchImpl: respond(401, '') });
  await assert.rejects(unauthorized.request('{ ok }'), AuthError);
  const coded = createGraphQLClient({
    endpoint: '/g',
    token: () => '',
    fetchImpl: respond(200, { data: null, errors: [{ message: 'who are you', extensions: { code: 'UNAUTHENTICATED' } }] }),
  });
  await assert.rejects(coded.request('{ ok }'), (e) => e instanceof AuthError && e.message === 'who are you');
});

test('a 401 gives the reason its body states', async () => {
  const expired = createGraphQLClient({
    endpoint: '/g',
    token: () => 'old',
    fetchImpl: respond(401, { errors: [{ message: 'the token has expired', extensions: { code: 'UNAUTHENTICATED' } }] }),
  });
  await assert.rejects(expired.request('{ ok }'), (e) => e instanceof AuthError && e.message === 'the token has expired');
});

test('other errors are RequestErrors with the server\'s message', async () => {
  const api = createGraphQLClient({
    endpoint: '/g',
    token: () => '',
    fetchImpl: respond(200, { data: null, errors: [{ message: 'bad filter', extensions: { code: 'BAD_USER_INPUT' } }] }),
  });
  await assert.rejects(api.request('{ ok }'), (e) => e instanceof RequestError && e.message === 'bad filter');
  const down = createGraphQLClient({ endpoint: '/g', token: () => '', fetchImpl: async () => { throw new TypeError('fetch failed'); } });
  await assert.rejects(down.request('{ ok }'), (e) => e instanceof RequestError && /reached/.test(e.message));
  const html = createGraphQLClient({ endpoint: '/g', token: () => '', fetchImpl: respond(502, '<html>') });
  await assert.rejects(html.request('{ ok }'), (e) => e instanceof RequestError && /502/.test(e.message));
});

test('tokens: pasted "Bearer x" is x, and connection_init carries it as the contract says', () => {
  assert.equal(normalizeToken('  Bearer abc.def '), 'abc.def');
  assert.equal(normalizeToken('abc'), 'abc');
  assert.deepEqual(connectionInitPayload('abc'), { Authorization: 'Bearer abc' });
  assert.deepEqual(connectionInitPayload(''), {});
});
