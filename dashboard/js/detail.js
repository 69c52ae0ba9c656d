// The detail dialog: every field of one activity, and its metadata made readable.

import { activityActionClass, activityModeClass } from './badges.js';
import { h } from './dom.js';
import { exactTime, personName, relativeTime, resourcePerson } from './format.js';
import { describeMetadata, renderMetadata } from './metadata.js';
import { badge } from './table.js';

function none() {
  return h('span', { class: 'muted' }, '—');
}

function mono(text) {
  return h('code', { class: 'mono' }, text);
}

/** A person: name, email and uuid, each on its own line, with what is unknown left out. */
function person(user, uuid) {
  if (!uuid && !user) return none();
  const name = personName(user);
  return h(
    'div',
    { class: 'stack' },
    name ? h('strong', {}, name) : h('span', { class: 'muted' }, 'Unknown person'),
    user?.email && user.email !== name ? h('span', {}, user.email) : null,
    uuid ? mono(uuid) : null,
  );
}

function field(label, ...value) {
  return [h('dt', {}, label), h('dd', {}, ...value)];
}

/** A field only when it has a value: empty ones would push the metadata down. */
function optional(label, present, ...value) {
  return present ? field(label, ...value) : [];
}

/** The fields list for `activity`; `onFilter(key, value)` narrows the view to a value. */
export function renderDetail(activity, { onFilter = () => {} } = {}) {
  const filterButton = (key, value, text) =>
    h('button', { type: 'button', class: 'btn btn-small btn-quiet', dataset: { filterKey: key, filterValue: value } }, text);

  const resourceUser = resourcePerson(activity);
  const resource = activity.resourceType || activity.resourceUuid
    ? h(
      'div',
      { class: 'stack' },
      h('span', {}, activity.resourceType ?? '(no type)'),
      resourceUser ? h('span', {}, personName(resourceUser) ?? resourceUser.email ?? '') : null,
      activity.resourceUuid ? mono(activity.resourceUuid) : null,
    )
    : none();

  const fields = h(
    'dl',
    { class: 'fields' },
    field('Action', badge(activity.action, activityActionClass(activity)), ' ', filterButton('action', activity.action, 'Only this action')),
    field('When', h('div', { class: 'stack' },
      h('span', {}, `${exactTime(activity.insertedAt).replace(/ \(.*\)$/, '')}`),
      h('span', { class: 'muted' }, `${relativeTime(activity.insertedAt)} · UTC ${activity.insertedAt}`))),
    ...optional('Mode', activity.mode, activity.mode ? badge(activity.mode, activityModeClass(activity)) : null),
    ...optional('Module', activity.module, activity.module),
    ...optional('Actor', activity.actorUuid || activity.actor, person(activity.actor, activity.actorUuid),
      activity.actorUuid ? filterButton('actor', activity.actorUuid, 'Only this actor') : null),
    ...optional('Resource', activity.resourceType || activity.resourceUuid, resource),
    ...optional('Target', activity.targetUuid || activity.target, person(activity.target, activity.targetUuid)),
    field('Activity id', mono(activity.uuid)),
    // Request context, on servers that record it, when it was recorded.
    ...[['correlationId', 'Correlation id'], ['clientIp', 'Client IP'], ['userAgent', 'User agent']]
      .flatMap(([key, label]) => optional(label, activity[key], activity[key] ? mono(activity[key]) : null)),
  );

  const entries = describeMetadata(activity.metadata);
  let raw = '';
  try {
    raw = JSON.stringify(activity.metadata, null, 2) ?? '';
  } catch {
    raw = String(activity.metadata);
  }
  const metadata = h(
    'section',
    { class: 'metadata', 'aria-labelledby': 'detail-metadata' },
    h('h3', { id: 'detail-metadata' }, 'Metadata'),
    entries.length ? renderMetadata(entries) : h('p', { class: 'muted' }, 'No metadata.'),
    entries.length ? h('details', { class: 'raw' }, h('summary', {}, 'As JSON'), h('pre', {}, raw)) : null,
  );

  const root = h('div', {}, fields, metadata);
  root.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-filter-key]');
    if (button) onFilter(button.dataset.filterKey, button.dataset.filterValue);
  });
  return root;
}

/** Wires the dialog; `show(activity)` opens it. */
export function createDetail(dialog, { onFilter }) {
  const body = dialog.querySelector('#detail-body');
  const title = dialog.querySelector('#detail-title');
  for (const button of dialog.querySelectorAll('[data-close]')) {
    button.addEventListener('click', () => dialog.close());
  }
  // A click on the backdrop (outside the box) closes it too.
  dialog.addEventListener('click', (event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  });

  return {
    show(activity) {
      title.textContent = activity.action;
      body.replaceChildren(renderDetail(activity, {
        onFilter: (key, value) => {
          dialog.close();
          onFilter(key, value);
        },
      }));
      if (!dialog.open) dialog.showModal();
      body.scrollTop = 0;
    },
    close() {
      if (dialog.open) dialog.close();
    },
  };
}
