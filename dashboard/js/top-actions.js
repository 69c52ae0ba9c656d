// The most frequent actions for the current filter, each a shortcut to filter by it.

import { actionBadgeClass } from './badges.js';
import { h } from './dom.js';

/** How many actions are listed. */
export const TOP = 6;

/** Fills `list` from activityCounts(groupBy: ACTION) buckets (largest first). */
export function renderTopActions(list, buckets, { current = '', onPick }) {
  // Redrawing replaces the buttons: keep keyboard focus on the same action.
  const focused = list.contains(document.activeElement) ? document.activeElement.closest('[data-key]')?.dataset.key : undefined;
  const top = (buckets ?? []).filter((b) => b.key).slice(0, TOP);
  const max = Math.max(1, ...top.map((b) => b.count));
  list.replaceChildren(
    ...top.map((bucket) => {
      const bar = h('span', { class: `bar ${actionBadgeClass(bucket.key)}`, 'aria-hidden': 'true' });
      bar.style.setProperty('--share', `${Math.max(2, (bucket.count / max) * 100)}%`);
      const button = h(
        'button',
        {
          type: 'button',
          class: 'top-action',
          'aria-pressed': String(bucket.key === current),
          title: `Show only ${bucket.key}`,
          dataset: { key: bucket.key },
        },
        h('span', { class: 'name' }, bucket.key),
        h('span', { class: 'count' }, bucket.count.toLocaleString()),
        bar,
      );
      button.addEventListener('click', () => onPick(bucket.key === current ? '' : bucket.key));
      return h('li', {}, button);
    }),
  );
  if (!top.length) list.append(h('li', { class: 'muted small', tabindex: focused !== undefined ? '-1' : null }, 'Nothing in this window.'));
  if (focused !== undefined) {
    const same = [...list.querySelectorAll('[data-key]')].find((b) => b.dataset.key === focused);
    (same ?? list.querySelector('button, li'))?.focus();
  }
}
