// The view's state (the filter and the chart's bucket) and the URL's query
// string, both ways, so a view can be shared and survives a reload; and the
// filter as the API's ActivityFilter.
//
// Dates are UTC days, everywhere: the From/To filters and the chart's Daily
// bars (the server counts by UTC day) follow the same rule, and the page says so.

/** The filter fields, in the order the URL lists them. */
export const FILTER_KEYS = Object.freeze([
  'action', 'module', 'mode', 'resourceType', 'actor', 'correlationId', 'metadata', 'metadataText', 'from', 'to',
]);
/** The chart's bucket sizes: activityCounts' groupBy values. */
export const BUCKETS = Object.freeze({ hour: 'HOUR', day: 'DAY' });
export const DEFAULT_BUCKET = 'hour';

/** What people call each field, in messages. */
export const FIELD_NAMES = Object.freeze({
  action: 'Action',
  module: 'Module',
  mode: 'Mode',
  resourceType: 'Resource type',
  actor: 'Actor',
  correlationId: 'Correlation id',
  metadata: 'Metadata contains',
  metadataText: 'Metadata words',
  from: 'From',
  to: 'To',
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** The longest text a filter value may have (the API's own limits are of this order). */
const MAX_TEXT = 100;
/** The longest metadata object, as JSON text. */
const MAX_METADATA = 2000;

export function isUuid(text) {
  return typeof text === 'string' && UUID.test(text.trim());
}

/** A calendar date "YYYY-MM-DD" that really exists, as [y, m, d], else null. */
function parseDate(text) {
  const match = DATE.exec(String(text ?? ''));
  if (!match) return null;
  const [y, m, d] = match.slice(1).map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d ? [y, m, d] : null;
}

/** A JSON object given as text, re-serialized compactly; null when it is not one. */
function parseMetadata(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? JSON.stringify(value) : null;
  } catch {
    return null;
  }
}

/**
 * Checks one value: `{ value }` as it may stand in the state ('' when
 * empty), or `{ value: '', problem }` saying in words what is wrong.
 */
export function checkValue(key, raw) {
  const text = typeof raw === 'string' ? raw.trim() : '';
  if (!text) return { value: '' };
  switch (key) {
    case 'actor':
      return isUuid(text) ? { value: text.toLowerCase() } : { value: '', problem: `“${text.slice(0, 40)}” is not a person’s uuid` };
    case 'from':
    case 'to':
      return parseDate(text) ? { value: text } : { value: '', problem: `“${text.slice(0, 40)}” is not a date (YYYY-MM-DD)` };
    case 'metadata': {
      if (text.length > MAX_METADATA) return { value: '', problem: `must be at most ${MAX_METADATA} characters` };
      const value = parseMetadata(text);
      return value ? { value } : { value: '', problem: 'must be a JSON object, like {"plan": "team"}' };
    }
    default:
      return text.length > MAX_TEXT ? { value: '', problem: `must be at most ${MAX_TEXT} characters` } : { value: text };
  }
}

/** A value for `key` as it may stand in the state, or '' when it is not valid there. */
export function cleanValue(key, value) {
  return checkValue(key, value).value;
}

/** An empty filter. */
export function emptyFilter() {
  return Object.fromEntries(FILTER_KEYS.map((k) => [k, '']));
}

/** What is wrong with a date range: From after To. */
export function rangeProblem(filter) {
  const from = parseDate(filter?.from);
  const to = parseDate(filter?.to);
  if (from && to && filter.from > filter.to) return `From (${filter.from}) is after To (${filter.to})`;
  return '';
}

/**
 * The view state a query string describes. Invalid values are dropped, and
 * each is reported in `problems` ("Actor: “bob” is not a person’s uuid"), so
 * the page can say why it ignores them.
 */
export function readState(search) {
  const params = new URLSearchParams(search);
  const filter = emptyFilter();
  const problems = [];
  for (const key of FILTER_KEYS) {
    const raw = params.get(key);
    const { value, problem } = checkValue(key, raw ?? '');
    filter[key] = value;
    if (problem) problems.push(`${FIELD_NAMES[key]}: ${problem}`);
  }
  const range = rangeProblem(filter);
  if (range) {
    problems.push(`${range}; the dates are ignored`);
    filter.from = '';
    filter.to = '';
  }
  const rawBucket = params.get('bucket');
  const bucket = Object.hasOwn(BUCKETS, rawBucket) ? rawBucket : DEFAULT_BUCKET;
  if (rawBucket !== null && bucket !== rawBucket) problems.push(`Bucket: “${rawBucket.slice(0, 20)}” is not hour or day`);
  return { filter, bucket, problems };
}

/** The query string ("" or "?…") for a view state; empty and default values are left out. */
export function writeState({ filter, bucket }) {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const value = cleanValue(key, filter?.[key]);
    if (value) params.set(key, value);
  }
  if (bucket && bucket !== DEFAULT_BUCKET && Object.hasOwn(BUCKETS, bucket)) params.set('bucket', bucket);
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The first instant of a UTC day, in ms. */
function startOfDay([y, m, d]) {
  return Date.UTC(y, m - 1, d);
}

/**
 * The filter as the API's ActivityFilter. The date range is in UTC days and
 * inclusive: from the first instant of `from` to the last microsecond of `to`.
 */
export function toActivityFilter(filter) {
  const out = {};
  for (const key of ['action', 'module', 'mode', 'resourceType', 'correlationId', 'metadataText']) {
    const value = cleanValue(key, filter?.[key]);
    if (value) out[key] = value;
  }
  const actor = cleanValue('actor', filter?.actor);
  if (actor) out.actorUuid = actor;
  const metadata = cleanValue('metadata', filter?.metadata);
  if (metadata) out.metadata = JSON.parse(metadata);
  const from = parseDate(filter?.from);
  if (from) out.since = new Date(startOfDay(from)).toISOString();
  const to = parseDate(filter?.to);
  if (to) {
    const next = startOfDay([to[0], to[1], to[2] + 1]);
    out.until = new Date(next - 1).toISOString().replace(/Z$/, '999Z');
  }
  return out;
}

/** Whether the filter's range ends before today (UTC): nothing new can arrive in it. */
export function endsInPast(filter, now = Date.now()) {
  const to = parseDate(filter?.to);
  return Boolean(to) && startOfDay([to[0], to[1], to[2] + 1]) <= now;
}

/** The distinct "prefix.*" forms of a list of actions, for the action filter. */
export function actionPrefixes(actions) {
  const prefixes = new Set();
  for (const action of actions ?? []) {
    const dot = String(action).indexOf('.');
    if (dot > 0) prefixes.add(`${String(action).slice(0, dot)}.*`);
  }
  return [...prefixes].sort();
}

/** A short description of a filter for the tab title: "post.* · mode cron". */
export function describeFilter(filter) {
  const parts = [];
  if (filter?.action) parts.push(filter.action);
  for (const key of ['module', 'mode', 'resourceType']) if (filter?.[key]) parts.push(`${FIELD_NAMES[key].toLowerCase()} ${filter[key]}`);
  if (filter?.actor) parts.push(`actor ${filter.actor.split('-')[0]}`);
  if (filter?.correlationId) parts.push(`correlation ${filter.correlationId}`);
  if (filter?.metadataText) parts.push(`“${filter.metadataText}”`);
  if (filter?.metadata) parts.push(`metadata ${filter.metadata}`);
  if (filter?.from || filter?.to) parts.push(`${filter.from || '…'} – ${filter.to || 'now'}`);
  return parts.join(' · ');
}
