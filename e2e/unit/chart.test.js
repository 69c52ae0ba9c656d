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

test('the y axis leaves room for five-digit labels', async () => {
  const { axisWidth } = await import('../../dashboard/js/chart.js');
  // "16,911" at 11px: about 6 × 6.5 px; it must fit left of the axis with a margin.
  assert.ok(axisWidth(['0', '8,456', '16,911']) >= 6 * 6.5 + 6);
  assert.ok(axisWidth(['0', '1', '2']) < axisWidth(['0', '8,456', '16,911']));
});

test('the description counts in words that agree with the number', async () => {
  const { describeSeries } = await import('../../dashboard/js/chart.js');
  const one = [{ start: Date.parse('2026-11-26T10:00:00Z'), count: 1 }];
  assert.match(describeSeries(one, 'hour'), /^1 activity in the last 1 hour;/);
  assert.equal(describeSeries([{ start: 0, count: 0 }], 'hour'), 'No activities in the last 1 hour.');
  assert.equal(
    describeSeries([{ start: 0, count: 0 }], 'day', { from: '2026-11-01', to: '2026-11-03' }),
    'No activities from 2026-11-01 to 2026-11-03 (UTC days).',
  );
});
