import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Feed, newestFirst, timeKey } from '../../dashboard/js/feed.js';

const at = (insertedAt, uuid) => ({ insertedAt, uuid });

test('time keys order by the instant, to the microsecond, whatever the notation', () => {
  const times = [
    '2026-11-26T23:59:02+00:00',
    '2026-11-26T23:59:02.5Z',
    '2026-11-26T23:59:02.500001+00:00',
    '2026-11-27T00:59:02.600000+01:00',
    '2026-11-26T23:59:03Z',
  ];
  const keys = times.map(timeKey);
  assert.deepEqual([...keys].sort(), keys);
  assert.equal(timeKey('2026-11-26T23:59:02.5Z'), timeKey('2026-11-26T23:59:02.500000+00:00'));
});

test('newest first, then by uuid descending, as the server orders', () => {
  const a = at('2026-01-01T00:00:00.000002Z', '01');
  const b = at('2026-01-01T00:00:00.000001Z', '09');
  const c = at('2026-01-01T00:00:00.000001Z', '05');
  assert.deepEqual([c, a, b].sort(newestFirst), [a, b, c]);
});

test('merge puts each activity in its place and skips ones already shown', () => {
  const feed = new Feed();
  const t = (s) => `2026-01-01T00:00:${String(s).padStart(2, '0')}Z`;
  feed.merge([at(t(5), 'e'), at(t(3), 'c')]);
  const added = feed.merge([at(t(9), 'i'), at(t(3), 'c'), at(t(4), 'd'), at(t(1), 'a')]);
  assert.deepEqual(feed.items.map((x) => x.uuid), ['i', 'e', 'd', 'c', 'a']);
  assert.deepEqual(added.map((x) => [x.activity.uuid, x.index]), [['i', 0], ['d', 2], ['a', 4]]);
  assert.equal(feed.newest().uuid, 'i');
  assert.equal(feed.merge([at(t(9), 'i')]).length, 0, 'no duplicate');
});

test('the indexes merge returns rebuild the same order step by step', () => {
  const feed = new Feed();
  const shown = [];
  const batch = Array.from({ length: 40 }, (_, i) => at(`2026-01-01T00:00:00.${String((i * 7919) % 1000).padStart(6, '0')}Z`, `u${i}`));
  for (const { activity, index } of feed.merge(batch)) shown.splice(index, 0, activity.uuid);
  assert.deepEqual(shown, feed.items.map((x) => x.uuid));
});

test('older than a week, the time of day is still shown, not only the date', async () => {
  const { relativeTime } = await import('../../dashboard/js/format.js');
  const now = Date.parse('2026-11-26T12:00:00Z');
  const text = relativeTime('2026-11-10T09:07:00Z', now);
  assert.match(text, /\d{1,2}:\d{2}/, text);
  assert.match(text, /Nov|11/, text);
});

test('counts agree with their noun', async () => {
  const { plural } = await import('../../dashboard/js/format.js');
  assert.equal(plural(1, 'activity', 'activities'), '1 activity');
  assert.equal(plural(2, 'activity', 'activities'), '2 activities');
  assert.equal(plural(0, 'hour'), '0 hours');
});

test('the window drops the newest or the oldest rows', () => {
  const feed = new Feed();
  feed.merge([at('2026-11-26T10:00:03Z', 'c'), at('2026-11-26T10:00:02Z', 'b'), at('2026-11-26T10:00:01Z', 'a')]);
  assert.deepEqual(feed.dropNewest(1).map((x) => x.uuid), ['c']);
  assert.deepEqual(feed.dropOldest(1).map((x) => x.uuid), ['a']);
  assert.deepEqual(feed.items.map((x) => x.uuid), ['b']);
  assert.equal(feed.byUuid.has('c'), false);
  assert.deepEqual(feed.merge([at('2026-11-26T10:00:03Z', 'c')]).map((x) => x.index), [0], 'a dropped row can come back');
});
