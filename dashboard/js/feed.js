// The activities on screen: one per uuid, newest first, ordered the way the
// server orders them (insertedAt desc, then uuid desc).

/**
 * A sort key for an RFC 3339 time that compares correctly as a string,
 * down to the microsecond, whatever the offset ("Z" or "+00:00") and the
 * number of fraction digits the server printed.
 */
export function timeKey(iso) {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(String(iso));
  let seconds;
  let fraction;
  if (match) {
    seconds = Date.parse(`${match[1]}${match[3]}`) / 1000;
    fraction = match[2] ?? '';
  } else {
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return '';
    seconds = Math.floor(ms / 1000);
    fraction = String(ms - seconds * 1000).padStart(3, '0');
  }
  if (Number.isNaN(seconds)) return '';
  return `${String(seconds).padStart(12, '0')}.${fraction.padEnd(9, '0').slice(0, 9)}`;
}

/** Negative when `a` comes first (is newer), positive when `b` does. */
export function newestFirst(a, b) {
  const ka = timeKey(a.insertedAt);
  const kb = timeKey(b.insertedAt);
  if (ka !== kb) return ka < kb ? 1 : -1;
  if (a.uuid === b.uuid) return 0;
  return a.uuid < b.uuid ? 1 : -1;
}

/** An ordered set of activities keyed by uuid. */
export class Feed {
  constructor() {
    /** @type {object[]} newest first */
    this.items = [];
    this.byUuid = new Map();
  }

  get size() {
    return this.items.length;
  }

  /** The newest activity, or undefined. */
  newest() {
    return this.items[0];
  }

  /**
   * Adds activities not seen yet, each in its place; returns the ones added
   * with the index each landed at, in the order they were inserted.
   */
  merge(activities) {
    const added = [];
    for (const activity of activities) {
      if (!activity || !activity.uuid || this.byUuid.has(activity.uuid)) continue;
      const index = this.#indexFor(activity);
      this.items.splice(index, 0, activity);
      this.byUuid.set(activity.uuid, activity);
      added.push({ activity, index });
    }
    return added;
  }

  /** The oldest activity, or undefined. */
  oldest() {
    return this.items[this.items.length - 1];
  }

  /** Drops the `n` newest activities; returns them. */
  dropNewest(n) {
    const dropped = this.items.splice(0, Math.max(0, n));
    for (const a of dropped) this.byUuid.delete(a.uuid);
    return dropped;
  }

  /** Drops the `n` oldest activities; returns them. */
  dropOldest(n) {
    const dropped = n > 0 ? this.items.splice(-n, n) : [];
    for (const a of dropped) this.byUuid.delete(a.uuid);
    return dropped;
  }

  /** Forgets everything. */
  clear() {
    this.items = [];
    this.byUuid.clear();
  }

  /** Where `activity` belongs: binary search, since new rows are usually at the top. */
  #indexFor(activity) {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (newestFirst(this.items[mid], activity) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
