// Counts over time (activityCounts by HOUR or DAY) as an inline SVG bar chart.

import { count, plural } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** How many bars each bucket size shows at most. */
export const BARS = Object.freeze({ hour: 48, day: 30 });

function floorTo(ms, bucket) {
  return bucket === 'day' ? Math.floor(ms / DAY_MS) * DAY_MS : Math.floor(ms / HOUR_MS) * HOUR_MS;
}

function step(bucket) {
  return bucket === 'day' ? DAY_MS : HOUR_MS;
}

/** The server's key for the bucket starting at `ms` (UTC). */
export function bucketKey(ms, bucket) {
  const iso = new Date(ms).toISOString();
  return bucket === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 13)}:00:00Z`;
}

/**
 * The time span the chart covers: the last BARS buckets up to `until` (or
 * now), never earlier than `since`. Returns ISO bounds for the query and
 * the first and last bucket starts.
 */
export function chartWindow(bucket, { since, until } = {}, now = Date.now()) {
  const endMs = Math.min(until ? Date.parse(until) : now, now);
  const last = floorTo(endMs, bucket);
  let first = last - (BARS[bucket] - 1) * step(bucket);
  const sinceMs = since ? Date.parse(since) : NaN;
  if (!Number.isNaN(sinceMs) && sinceMs > first) first = Math.min(floorTo(sinceMs, bucket), last);
  return {
    since: new Date(Number.isNaN(sinceMs) ? first : Math.max(first, sinceMs)).toISOString(),
    until: until ?? undefined,
    first,
    last,
  };
}

/** One bar per bucket from `first` to `last`, zero where the server had none. */
export function buildSeries(buckets, bucket, first, last) {
  const counts = new Map((buckets ?? []).map((b) => [b.key, b.count]));
  const series = [];
  for (let ms = first; ms <= last; ms += step(bucket)) {
    series.push({ start: ms, key: bucketKey(ms, bucket), count: counts.get(bucketKey(ms, bucket)) ?? 0 });
  }
  return series;
}

/** A bucket's start as a short label: UTC days (as the server counts them), local hours. */
export function bucketLabel(ms, bucket) {
  const date = new Date(ms);
  if (bucket === 'day') return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  return date.toLocaleString(undefined, { weekday: 'short', hour: 'numeric' });
}

/** Room on the left for the y-axis labels: the widest label at 11px, and a margin. */
export function axisWidth(labels) {
  const longest = Math.max(1, ...labels.map((l) => String(l).length));
  // 11px system-ui digits are at most ~7px wide; separators are narrower.
  return Math.ceil(longest * 7 + 12);
}

/** One line for people (and screen readers) saying what the chart shows. */
export function describeSeries(series, bucket, { from = '', to = '' } = {}) {
  const unit = bucket === 'day' ? 'day' : 'hour';
  const total = series.reduce((sum, s) => sum + s.count, 0);
  const span = from || to
    ? `from ${from || 'the start'} to ${to || 'now'}${bucket === 'day' ? ' (UTC days)' : ''}${bucket === 'hour' && series.length ? `, last ${plural(series.length, 'hour')} of it` : ''}`
    : `in the last ${plural(series.length, unit)}${bucket === 'day' ? ' (UTC)' : ''}`;
  if (!total) return `No activities ${span}.`;
  const peak = series.reduce((best, s) => (s.count > (best?.count ?? -1) ? s : best), null);
  return `${plural(total, 'activity', 'activities')} ${span}; busiest ${unit === 'day' ? 'day (UTC)' : 'hour'} ${bucketLabel(peak.start, bucket)} with ${count(peak.count)}.`;
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draws `series` into `svg` (replacing what was there) at the width it is
 * shown at, so text keeps its size on a phone; returns a one-line
 * description. `range` is the filter's {from, to}, for that description.
 */
export function renderChart(svg, series, bucket, range = {}) {
  const width = Math.max(Math.round(svg.getBoundingClientRect().width), 240);
  const height = 200;
  const max = Math.max(1, ...series.map((s) => s.count));
  // Grid lines at whole counts only: 0, the middle when it is whole (or large enough to round), the top.
  const fractions = max % 2 === 0 || max >= 10 ? [0, 0.5, 1] : [0, 1];
  const labels = fractions.map((f) => Math.round(max * f).toLocaleString());
  // The left margin fits the widest label, so "16,911" is not cut to ".6,911".
  const pad = { top: 12, right: 8, bottom: 26, left: axisWidth(labels) };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;

  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);

  fractions.forEach((fraction, i) => {
    const y = pad.top + innerH * (1 - fraction);
    svg.append(el('line', { class: 'grid', x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
    svg.append(el('text', { class: 'axis', x: pad.left - 6, y: y + 4, 'text-anchor': 'end' }, labels[i]));
  });

  const slot = innerW / Math.max(series.length, 1);
  const gap = Math.min(2, slot * 0.2);
  series.forEach((point, i) => {
    const h = point.count === 0 ? 0 : Math.max(1.5, (point.count / max) * innerH);
    const bar = el('rect', {
      class: 'bar',
      x: pad.left + i * slot + gap / 2,
      y: pad.top + innerH - h,
      width: Math.max(slot - gap, 0.5),
      height: h,
    });
    bar.append(el('title', {}, `${bucketLabel(point.start, bucket)}: ${point.count.toLocaleString()}`));
    svg.append(bar);
  });

  if (series.length) {
    const ticks = [0, Math.floor((series.length - 1) / 2), series.length - 1];
    for (const [n, i] of [...new Set(ticks)].entries()) {
      const anchor = n === 0 ? 'start' : i === series.length - 1 ? 'end' : 'middle';
      const x = anchor === 'start' ? pad.left : anchor === 'end' ? width - pad.right : pad.left + (i + 0.5) * slot;
      svg.append(el('text', { class: 'axis', x, y: height - 8, 'text-anchor': anchor }, bucketLabel(series[i].start, bucket)));
    }
  }

  return describeSeries(series, bucket, range);
}
