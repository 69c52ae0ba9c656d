// Readable metadata. Producers send any JSON object; people should read it
// as "key: value" lines, with changes shown as "a → b", whatever its shape:
//   {"from": a, "to": b}            → change: a → b
//   {"title_from": a, "title_to": b} → title: a → b
//   {"plan": {"from": a, "to": b}}   → plan: a → b
//   {"address": {"city": "Oslo"}}    → address: / city: Oslo (nested)
//   "{\"k\": 1}" (JSON in a string)  → read as the object it holds
// Describing never throws: an unexpected shape falls back to plain text.

/** How deep nested maps are shown as nested lines before they are inlined. */
const MAX_DEPTH = 6;
/** The arrow between the old and the new value of a change. */
export const ARROW = '→';

/**
 * @typedef {{key: string, type: 'value', text: string}
 *   | {key: string, type: 'change', from: string, to: string, rest: Entry[]}
 *   | {key: string, type: 'group', entries: Entry[]}} Entry
 */

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function hasOwn(obj, key) {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** A string holding a JSON object or array becomes that value; anything else stays. */
export function unwrapJsonString(value) {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  const opens = text.startsWith('{') ? '}' : text.startsWith('[') ? ']' : null;
  if (!opens || !text.endsWith(opens)) return value;
  try {
    return JSON.parse(text);
  } catch {
    return value;
  }
}

/** One scalar as people read it. */
function scalarText(v) {
  if (v === null || v === undefined) return '(none)';
  if (v === '') return '(empty)';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return String(v);
}

/** Any value on one line, without JSON punctuation: "a, b" or "k: v; k2: v2". */
export function inlineText(value, depth = 0) {
  const v = unwrapJsonString(value);
  if (Array.isArray(v)) {
    if (v.length === 0) return '(empty list)';
    if (depth > MAX_DEPTH) return `${v.length} items`;
    return v.map((item) => {
      const text = inlineText(item, depth + 1);
      return isPlainObject(unwrapJsonString(item)) ? `(${text})` : text;
    }).join(', ');
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) return '(empty)';
    if (depth > MAX_DEPTH) return `${keys.length} fields`;
    if (isChange(v) && keys.length === 2) return changeText(v, depth);
    return keys.map((k) => `${k}: ${inlineText(v[k], depth + 1)}`).join('; ');
  }
  return scalarText(v);
}

function isChange(obj) {
  return hasOwn(obj, 'from') && hasOwn(obj, 'to');
}

function changeText(obj, depth) {
  return `${inlineText(obj.from, depth + 1)} ${ARROW} ${inlineText(obj.to, depth + 1)}`;
}

function change(key, from, to, rest, depth) {
  return {
    key,
    type: 'change',
    from: inlineText(from, depth + 1),
    to: inlineText(to, depth + 1),
    rest,
  };
}

/** The entries of an object: pairs folded into changes, in the order keys first appear. */
function describeObject(obj, depth) {
  const keys = Object.keys(obj);
  const entries = [];
  const done = new Set();
  for (const key of keys) {
    if (done.has(key)) continue;
    if ((key === 'from' || key === 'to') && isChange(obj)) {
      entries.push(change('change', obj.from, obj.to, [], depth));
      done.add('from').add('to');
      continue;
    }
    const pair = pairOf(obj, key);
    if (pair) {
      entries.push(change(pair.base, obj[pair.fromKey], obj[pair.toKey], [], depth));
      done.add(pair.fromKey).add(pair.toKey);
      continue;
    }
    done.add(key);
    entries.push(describeValue(key, obj[key], depth + 1));
  }
  return entries;
}

/** The `<base>_from` / `<base>_to` pair `key` belongs to, when both are there. */
function pairOf(obj, key) {
  const match = /^(.+)_(from|to)$/.exec(key);
  if (!match) return null;
  const base = match[1];
  const fromKey = `${base}_from`;
  const toKey = `${base}_to`;
  return hasOwn(obj, fromKey) && hasOwn(obj, toKey) ? { base, fromKey, toKey } : null;
}

/** One key and its value as an entry. */
function describeValue(key, raw, depth) {
  const v = unwrapJsonString(raw);
  if (depth > MAX_DEPTH) return { key, type: 'value', text: inlineText(v, depth) };
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) return { key, type: 'value', text: '(empty)' };
    if (isChange(v)) {
      const rest = keys
        .filter((k) => k !== 'from' && k !== 'to')
        .map((k) => describeValue(k, v[k], depth + 1));
      return change(key, v.from, v.to, rest, depth);
    }
    return { key, type: 'group', entries: describeObject(v, depth) };
  }
  if (Array.isArray(v)) {
    const nested = v.some((item) => {
      const u = unwrapJsonString(item);
      return u !== null && typeof u === 'object';
    });
    if (!nested) return { key, type: 'value', text: inlineText(v, depth) };
    return {
      key,
      type: 'group',
      entries: v.map((item, i) => describeValue(String(i + 1), item, depth + 1)),
    };
  }
  return { key, type: 'value', text: scalarText(v) };
}

/**
 * Metadata as a list of entries, for any value at all.
 * @returns {Entry[]}
 */
export function describeMetadata(metadata) {
  try {
    const v = unwrapJsonString(metadata);
    if (v === null || v === undefined) return [];
    if (isPlainObject(v)) return describeObject(v, 0);
    if (Array.isArray(v)) return v.map((item, i) => describeValue(String(i + 1), item, 1));
    return [{ key: 'value', type: 'value', text: scalarText(v) }];
  } catch {
    let text;
    try {
      text = String(metadata);
    } catch {
      text = '(unreadable)';
    }
    return [{ key: 'value', type: 'value', text }];
  }
}

/** The value part of an entry on one line. */
function entryText(entry) {
  switch (entry.type) {
    case 'change': {
      const base = `${entry.from} ${ARROW} ${entry.to}`;
      return entry.rest.length ? `${base} (${entry.rest.map(lineText).join('; ')})` : base;
    }
    case 'group':
      return entry.entries.map(lineText).join('; ');
    default:
      return entry.text;
  }
}

function lineText(entry) {
  return `${entry.key}: ${entryText(entry)}`;
}

/**
 * Entries as indented text lines, as the detail view shows them:
 * "key: value", "key: a → b", and a group's lines two spaces further in.
 */
export function metadataLines(entries, indent = '') {
  const lines = [];
  for (const entry of entries) {
    if (entry.type === 'group') {
      lines.push(`${indent}${entry.key}:`);
      lines.push(...metadataLines(entry.entries, `${indent}  `));
    } else if (entry.type === 'change') {
      lines.push(`${indent}${entry.key}: ${entry.from} ${ARROW} ${entry.to}`);
      lines.push(...metadataLines(entry.rest, `${indent}  `));
    } else {
      lines.push(`${indent}${entry.key}: ${entry.text}`);
    }
  }
  return lines;
}

/** A one-line summary for a table row, at most `max` characters. */
export function summarizeMetadata(metadata, max = 90) {
  const text = describeMetadata(metadata).map(lineText).join(' · ');
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
}

/**
 * The entries as a definition list; changes get `from`/`to` spans so they
 * can be styled, and their text reads "a → b".
 */
export function renderMetadata(entries, doc = document) {
  const dl = doc.createElement('dl');
  dl.className = 'meta';
  for (const entry of entries) {
    const dt = doc.createElement('dt');
    dt.textContent = entry.key;
    const dd = doc.createElement('dd');
    if (entry.type === 'group') {
      dd.append(renderMetadata(entry.entries, doc));
    } else if (entry.type === 'change') {
      const value = doc.createElement('span');
      value.className = 'change';
      const from = doc.createElement('span');
      from.className = 'from';
      from.textContent = entry.from;
      const to = doc.createElement('span');
      to.className = 'to';
      to.textContent = entry.to;
      value.append(from, ` ${ARROW} `, to);
      dd.append(value);
      if (entry.rest.length) dd.append(renderMetadata(entry.rest, doc));
    } else {
      dd.textContent = entry.text;
    }
    dl.append(dt, dd);
  }
  return dl;
}
