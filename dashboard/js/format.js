// Times, people and ids as the table and the detail show them.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago", then the date
 * with the time ("3 Nov, 14:05"): phones have no hover to show it.
 */
export function relativeTime(iso, now = Date.now()) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return String(iso ?? '');
  const ago = now - at;
  if (ago < 5 * SECOND) return 'just now';
  if (ago < MINUTE) return `${Math.floor(ago / SECOND)} s ago`;
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)} min ago`;
  if (ago < DAY) return `${Math.floor(ago / HOUR)} h ago`;
  if (ago < 7 * DAY) return `${Math.floor(ago / DAY)} d ago`;
  const date = new Date(at);
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleString(undefined, {
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' }),
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** The exact local time to the second, plus the stored UTC value. */
export function exactTime(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return String(iso ?? '');
  const local = at.toLocaleString(undefined, {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  });
  return `${local} (${iso})`;
}

/** The person an activity was done to: its `resource` when that is a User, else null. */
export function resourcePerson(activity) {
  const resource = activity?.resource;
  return resource?.__typename === 'User' ? resource : null;
}

/** A person's full name, else their email, else null. */
export function personName(user) {
  if (!user) return null;
  const name = [user.firstName, user.lastName].filter((p) => p && p.trim()).join(' ');
  return name || user.email || null;
}

/** The first block of a uuid, enough to tell rows apart at a glance. */
export function shortUuid(uuid) {
  return typeof uuid === 'string' ? uuid.split('-')[0] : '';
}

/** How a person appears in a cell: name, else email, else the (short) uuid, else "—". */
export function personLabel(user, uuid) {
  return personName(user) ?? (uuid ? shortUuid(uuid) : '—');
}

/** A count with thousands separators. */
export function count(n) {
  return Number(n ?? 0).toLocaleString();
}

/** "1 activity", "2 activities", "1,234 activities": a count and its noun. */
export function plural(n, one, many = `${one}s`) {
  return `${count(n)} ${Number(n) === 1 ? one : many}`;
}
