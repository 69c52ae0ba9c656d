// The activity table: one row per activity, in the feed's order.

import { activityActionClass, activityModeClass } from './badges.js';
import { h } from './dom.js';
import { exactTime, personLabel, personName, relativeTime, resourcePerson, shortUuid } from './format.js';
import { summarizeMetadata } from './metadata.js';

/** A badge; `text` is shown as given. */
export function badge(text, cls, extra = '') {
  return h('span', { class: `badge ${cls} ${extra}`.trim() }, text);
}

/** An action's badge; a narrow column may break its name after the dots. */
export function actionBadge(action, cls) {
  const parts = String(action).split(/(?<=\.)/);
  const node = badge('', cls, 'badge-action');
  parts.forEach((part, i) => node.append(part, ...(i < parts.length - 1 ? [document.createElement('wbr')] : [])));
  return node;
}

/** A person in a cell: the name or email, and a second line with the email or uuid. */
function personCell(user, uuid, cls) {
  if (!uuid && !user) return h('td', { class: cls }, h('span', { class: 'muted' }, '—'));
  const name = personName(user);
  const second = name && user?.email && name !== user.email ? user.email : uuid;
  return h(
    'td',
    { class: cls, title: uuid ?? '' },
    h('span', { class: name ? 'person' : 'person unknown' }, personLabel(user, uuid)),
    name ? h('span', { class: 'sub', title: second ?? '' }, second === uuid ? shortUuid(uuid) : second) : null,
  );
}

function resourceCell(activity) {
  const { resourceType, resourceUuid } = activity;
  const resourceUser = resourcePerson(activity);
  if (!resourceType && !resourceUuid) return h('td', { class: 'col-resource' }, h('span', { class: 'muted' }, '—'));
  const label = personName(resourceUser) ?? (resourceUuid ? shortUuid(resourceUuid) : '');
  return h(
    'td',
    { class: 'col-resource', title: resourceUuid ?? '' },
    h('span', { class: 'kind' }, resourceType ?? 'resource'),
    label ? h('span', { class: 'sub' }, label) : null,
  );
}

/** The row for one activity. */
export function renderRow(activity, now = Date.now()) {
  const time = h(
    'time',
    { datetime: activity.insertedAt, title: exactTime(activity.insertedAt) },
    relativeTime(activity.insertedAt, now),
  );
  const open = h(
    'button',
    {
      type: 'button',
      class: 'row-open',
      'aria-haspopup': 'dialog',
      'aria-label': `${activity.action}: show details`,
    },
    actionBadge(activity.action, activityActionClass(activity)),
  );
  const summary = summarizeMetadata(activity.metadata);
  return h(
    'tr',
    { dataset: { uuid: activity.uuid, action: activity.action } },
    h('td', { class: 'col-time' }, time),
    h('td', { class: 'col-action' }, open, activity.mode ? badge(activity.mode, activityModeClass(activity), 'mode-inline') : null,
      // On a phone the Details column folds under the action, like the mode.
      summary ? h('span', { class: 'details-inline' }, summary) : null),
    h('td', { class: 'col-mode' }, activity.mode ? badge(activity.mode, activityModeClass(activity)) : h('span', { class: 'muted' }, '—')),
    personCell(activity.actor, activity.actorUuid, 'col-actor'),
    resourceCell(activity),
    personCell(activity.target, activity.targetUuid, 'col-target'),
    h('td', { class: 'col-details' }, summary ? h('span', { class: 'summary', title: summary }, summary) : h('span', { class: 'muted' }, '—')),
  );
}

/**
 * Keeps `tbody` in step with a Feed: `insert` takes what Feed.merge returned,
 * `remove` what Feed.dropNewest/dropOldest did.
 * `onOpen(uuid, button)` is called when a row is chosen (click or keyboard).
 */
export function createTable(tbody, { onOpen }) {
  /** uuid -> its row, so dropping rows needs no search of the DOM. */
  const rows = new Map();
  tbody.addEventListener('click', (event) => {
    if (event.target.closest('a, input, select, textarea')) return;
    const row = event.target.closest('tr[data-uuid]');
    if (!row || (window.getSelection()?.toString() ?? '') !== '') return;
    const button = row.querySelector('.row-open');
    // A click anywhere on the row puts focus on its button, so closing the
    // detail returns focus there and not to <body>.
    if (button && document.activeElement !== button) button.focus({ preventScroll: true });
    onOpen(row.dataset.uuid, button);
  });

  return {
    /** Inserts rows; `fresh` marks live arrivals so they flash briefly. */
    insert(added, { fresh = false } = {}) {
      const now = Date.now();
      for (const { activity, index } of added) {
        const row = renderRow(activity, now);
        if (fresh) {
          row.classList.add('fresh');
          row.addEventListener('animationend', () => row.classList.remove('fresh'), { once: true });
        }
        tbody.insertBefore(row, tbody.children[index] ?? null);
        rows.set(activity.uuid, row);
      }
    },

    /** Removes the rows of these activities. */
    remove(activities) {
      for (const activity of activities) {
        rows.get(activity.uuid)?.remove();
        rows.delete(activity.uuid);
      }
    },

    /** The row button of an activity, if it is shown. */
    button(uuid) {
      return rows.get(uuid)?.querySelector('.row-open') ?? null;
    },

    clear() {
      tbody.replaceChildren();
      rows.clear();
    },

    /** Refreshes the relative times. */
    tick(now = Date.now()) {
      for (const time of tbody.querySelectorAll('time[datetime]')) {
        const text = relativeTime(time.getAttribute('datetime'), now);
        if (time.textContent !== text) time.textContent = text;
      }
    },
  };
}
