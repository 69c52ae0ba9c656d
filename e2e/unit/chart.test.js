import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BARS, bucketKey, buildSeries, chartWindow } from '../../dashboard/js/chart.js';

const NOW = Date.parse('2026-11-26T14:35:00Z');

test('bucket keys are the server\'s (UTC)', () => {
  assert.equal(bucketKey(NOW, 'hour'), '2026-11-26T14:00:00Z');
  assert.equal(bucketKey(NOW, 'day'), '2026-11-26');
});

test('the window is the last buckets up to now', () => {
  const hour = chartWindow('hour', {}, NOW);
  assert.equal(hour.last, Date.parse('2026-11-26T14:00:00Z'));
  assert.equal((hour.last - hour.first) / 3600e3, BARS.hour - 1);
  assert.equal(hour.since, new Date(hour.first).toISOString());
  const day = chartWindow('day', {}, NOW);
  assert.equal((day.last - day.first) / 86400e3, BARS.day - 1);
});

test('the window keeps within the filter\'s date range', () => {
  const w = chartWindow('hour', { since: '2026-11-26T10:30:00Z', until: '2026-11-26T12:10:00Z' }, NOW);
  assert.equal(w.first, Date.parse('2026-11-26T10:00:00Z'));
  assert.equal(w.last, Date.parse('2026-11-26T12:00:00Z'));
  assert.equal(w.since, '2026-11-26T10:30:00.000Z');
  assert.equal(w.until, '2026-11-26T12:10:00Z');
});

test('the series has a bar per bucket, zero where the server had none', () => {
  const first = Date.parse('2026-11-26T10:00:00Z');
  const last = Date.parse('2026-11-26T13:00:00Z');
  const series = buildSeries([{ key: '2026-11-26T11:00:00Z', count: 4 }, { key: '2026-11-26T13:00:00Z', count: 1 }], 'hour', first, last);
  assert.deepEqual(series.map((s) => s.count), [0, 4, 0, 1]);
});
