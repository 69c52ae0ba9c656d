// The view's state (the filter and the chart's bucket) and the URL's query
// string, both ways, so a view can be shared and survives a reload; and the
// filter as the API's ActivityFilter.

/** The filter fields, in the order the URL lists them. */
export const FILTER_KEYS = Object.freeze(['action', 'module', 'mode', 'resourceType', 'actor', 'from', 'to']);
/** The chart's bucket sizes: activityCounts' groupBy values. */
export const BUCKETS = Object.freeze({ hour: 'HOUR', day: 'DAY' });
export const DEFAULT_BUCKET = 'hour';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isUuid(text) {
  return typeof text === 'string' && UUID.test(text.trim());
}

/** A calendar date "YYYY-MM-DD" that really exists, as [y, m, d], else null. */
function parseDate(text) {
  const match = DATE.exec(String(text ?? ''));
  if (!match) return null;
  const [y, m, d] = match.slice(1).map(Number);
  const date = new Date(y, m - 1, d);
  return date.getFullYear() === y && date.getMonth() === m - 1 && date.getDate() === d ? [y, m, d] : null;
}

/** A value for `key` as it may stand in the state, or '' when it is not valid there. */
export function cleanValue(key, value) {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!text) return '';
  if (key === 'actor') return isUuid(text) ? text.toLowerCase() : '';
  if (key === 'from' || key === 'to') return parseDate(text) ? text : '';
  return text.slice(0, 100);
}

/** An empty filter. */
export function emptyFilter() {
  return Object.fromEntries(FILTER_KEYS.map((k) => [k, '']));
}

/** The view state a query string describes; unknown or invalid values are dropped. */
export function readState(search) {
  const params = new URLSearchParams(search);
  const filter = emptyFilter();
  for (const key of FILTER_KEYS) filter[key] = cleanValue(key, params.get(key));
  const bucket = Object.hasOwn(BUCKETS, params.get('bucket')) ? params.get('bucket') : DEFAULT_BUCKET;
  return { filter, bucket };
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

/** Local midnight at the start of a date, as a Date. */
function startOfDay([y, m, d]) {
  return new Date(y, m - 1, d);
}

/**
 * The filter as the API's ActivityFilter. The date range is in the viewer's
 * time zone and inclusive: from the first instant of `from` to the last
 * microsecond of `to`.
 */
export function toActivityFilter(filter) {
  const out = {};
  for (const key of ['action', 'module', 'mode', 'resourceType']) {
    const value = cleanValue(key, filter?.[key]);
    if (value) out[key] = value;
  }
  const actor = cleanValue('actor', filter?.actor);
  if (actor) out.actorUuid = actor;
  const from = parseDate(filter?.from);
  if (from) out.since = startOfDay(from).toISOString();
  const to = parseDate(filter?.to);
  if (to) {
    const next = startOfDay([to[0], to[1], to[2] + 1]);
    out.until = new Date(next.getTime() - 1).toISOString().replace(/Z$/, '999Z');
  }
  return out;
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
