import assert from 'node:assert/strict';
import { test } from 'node:test';

import { actionPrefixes, describeFilter, emptyFilter, endsInPast, rangeProblem, readState, toActivityFilter, writeState } from '../../dashboard/js/filters.js';

const ACTOR = '0190c2a0-0000-7000-8000-000000000001';

test('a view survives the round trip through the query string', () => {
  const view = {
    filter: {
      action: 'post.*', module: 'posts', mode: 'manual', resourceType: 'post', actor: ACTOR,
      correlationId: 'req-1', metadata: '{"plan":"team"}', metadataText: 'invoice 42', from: '2026-11-01', to: '2026-11-26',
    },
    bucket: 'day',
  };
  const search = writeState(view);
  assert.equal(
    search,
    `?action=post.*&module=posts&mode=manual&resourceType=post&actor=${ACTOR}&correlationId=req-1`
      + '&metadata=%7B%22plan%22%3A%22team%22%7D&metadataText=invoice+42&from=2026-11-01&to=2026-11-26&bucket=day',
  );
  assert.deepEqual(readState(search), { ...view, problems: [] });
});

test('empty and default values stay out of the URL', () => {
  assert.equal(writeState({ filter: { action: '', module: '  ' }, bucket: 'hour' }), '');
  assert.equal(writeState({ filter: { mode: 'cron' }, bucket: 'hour' }), '?mode=cron');
});

test('invalid values in a URL are dropped, not sent, and each is reported', () => {
  const { filter, bucket, problems } = readState('?actor=not-a-uuid&from=2026-02-30&to=yesterday&bucket=week&module=posts&metadata=[1]&x=1');
  assert.deepEqual(filter, { ...emptyFilter(), module: 'posts' });
  assert.equal(bucket, 'hour');
  assert.deepEqual(problems, [
    'Actor: “not-a-uuid” is not a person’s uuid',
    'Metadata contains: must be a JSON object, like {"plan": "team"}',
    'From: “2026-02-30” is not a date (YYYY-MM-DD)',
    'To: “yesterday” is not a date (YYYY-MM-DD)',
    'Bucket: “week” is not hour or day',
  ]);
});

test('a range whose From is after its To is reported and dropped', () => {
  const { filter, problems } = readState('?from=2026-11-26&to=2026-11-25&mode=cron');
  assert.deepEqual(filter, { ...emptyFilter(), mode: 'cron' });
  assert.deepEqual(problems, ['From (2026-11-26) is after To (2026-11-25); the dates are ignored']);
  assert.equal(rangeProblem({ from: '2026-11-25', to: '2026-11-25' }), '');
});

test('special characters are encoded and read back', () => {
  const view = { filter: { ...emptyFilter(), action: 'a&b=c %_', metadataText: 'ü "x"' }, bucket: 'hour' };
  assert.deepEqual(readState(writeState(view)), { ...view, problems: [] });
});

test('the filter becomes an ActivityFilter with the API\'s names', () => {
  assert.deepEqual(toActivityFilter({ action: 'post.*', actor: ACTOR.toUpperCase(), module: '', mode: 'auto' }), {
    action: 'post.*',
    mode: 'auto',
    actorUuid: ACTOR,
  });
  assert.deepEqual(toActivityFilter({}), {});
});

test('the date range covers whole UTC days, inclusive, like the Daily chart', () => {
  const { since, until } = toActivityFilter({ from: '2026-03-01', to: '2026-03-02' });
  assert.equal(since, '2026-03-01T00:00:00.000Z');
  assert.equal(until, '2026-03-02T23:59:59.999999Z');
});

test('the text and metadata filters become the API\'s fields', () => {
  assert.deepEqual(toActivityFilter({ correlationId: ' req-1 ', metadataText: 'invoice', metadata: '{"plan": {"to": "team"}}' }), {
    correlationId: 'req-1',
    metadataText: 'invoice',
    metadata: { plan: { to: 'team' } },
  });
  assert.deepEqual(toActivityFilter({ metadata: 'not json' }), {});
});

test('a range that ended before today is in the past; one that includes today is not', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  assert.equal(endsInPast({ to: '2026-11-25' }, now), true);
  assert.equal(endsInPast({ to: '2026-11-26' }, now), false);
  assert.equal(endsInPast({}, now), false);
});

test('the tab title describes the filter', () => {
  assert.equal(describeFilter(emptyFilter()), '');
  assert.equal(describeFilter({ ...emptyFilter(), action: 'post.*', mode: 'cron', from: '2026-11-25' }), 'post.* · mode cron · 2026-11-25 – now');
});

test('action prefixes for the "post.*" form', () => {
  assert.deepEqual(actionPrefixes(['post.created', 'post.comment.added', 'user.registered', 'nodot']), ['post.*', 'user.*']);
});
