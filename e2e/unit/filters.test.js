import assert from 'node:assert/strict';
import { test } from 'node:test';

import { actionPrefixes, readState, toActivityFilter, writeState } from '../../dashboard/js/filters.js';

const ACTOR = '0190c2a0-0000-7000-8000-000000000001';

test('a view survives the round trip through the query string', () => {
  const view = {
    filter: { action: 'post.*', module: 'posts', mode: 'manual', resourceType: 'post', actor: ACTOR, from: '2026-11-01', to: '2026-11-26' },
    bucket: 'day',
  };
  const search = writeState(view);
  assert.equal(
    search,
    `?action=post.*&module=posts&mode=manual&resourceType=post&actor=${ACTOR}&from=2026-11-01&to=2026-11-26&bucket=day`,
  );
  assert.deepEqual(readState(search), view);
});

test('empty and default values stay out of the URL', () => {
  assert.equal(writeState({ filter: { action: '', module: '  ' }, bucket: 'hour' }), '');
  assert.equal(writeState({ filter: { mode: 'cron' }, bucket: 'hour' }), '?mode=cron');
});

test('invalid values in a URL are dropped, not sent', () => {
  const { filter, bucket } = readState('?actor=not-a-uuid&from=2026-02-30&to=yesterday&bucket=week&module=posts&x=1');
  assert.deepEqual(filter, { action: '', module: 'posts', mode: '', resourceType: '', actor: '', from: '', to: '' });
  assert.equal(bucket, 'hour');
});

test('special characters are encoded and read back', () => {
  const view = { filter: { action: 'a&b=c %_', module: '', mode: '', resourceType: '', actor: '', from: '', to: '' }, bucket: 'hour' };
  assert.deepEqual(readState(writeState(view)), view);
});

test('the filter becomes an ActivityFilter with the API\'s names', () => {
  assert.deepEqual(toActivityFilter({ action: 'post.*', actor: ACTOR.toUpperCase(), module: '', mode: 'auto' }), {
    action: 'post.*',
    mode: 'auto',
    actorUuid: ACTOR,
  });
  assert.deepEqual(toActivityFilter({}), {});
});

test('the date range covers whole local days, inclusive', () => {
  const { since, until } = toActivityFilter({ from: '2026-03-01', to: '2026-03-02' });
  assert.equal(new Date(since).getTime(), new Date(2026, 2, 1).getTime());
  assert.match(until, /\.999999Z$/);
  assert.equal(Date.parse(until), new Date(2026, 2, 3).getTime() - 1);
});

test('action prefixes for the "post.*" form', () => {
  assert.deepEqual(actionPrefixes(['post.created', 'post.comment.added', 'user.registered', 'nodot']), ['post.*', 'user.*']);
});
