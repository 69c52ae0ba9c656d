// The filter form: its option lists (from the server's distinct values) and
// its values, read and written as a filter object (see filters.js).

import { h } from './dom.js';
import { FILTER_KEYS, actionPrefixes, cleanValue, emptyFilter } from './filters.js';
import { personName } from './format.js';

const SELECTS = ['action', 'module', 'mode', 'resourceType'];

/** Replaces a select's options after its first ("Any …"), keeping its value. */
function fillSelect(select, groups, value) {
  const any = select.options[0];
  const children = [any];
  for (const { label, values } of groups) {
    if (!values.length) continue;
    const options = values.map((v) => h('option', { value: v }, v));
    children.push(label ? h('optgroup', { label }, options) : options);
  }
  select.replaceChildren(...children.flat());
  ensureOption(select, value);
  select.value = value;
}

/** Adds `value` as an option when the select lacks it (e.g. from a shared URL). */
function ensureOption(select, value) {
  if (!value || [...select.options].some((o) => o.value === value)) return false;
  select.append(h('option', { value }, value));
  return true;
}

/**
 * On a phone the form folds away behind a toggle button, which says how
 * many filters are on; it starts open only when some are.
 */
function foldable(form, toggle) {
  let touched = false;
  toggle.addEventListener('click', () => {
    touched = true;
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    form.classList.toggle('open', open);
  });
  return (active) => {
    toggle.textContent = active ? `Filters · ${active} on` : 'Filters';
    if (!touched) {
      toggle.setAttribute('aria-expanded', String(active > 0));
      form.classList.toggle('open', active > 0);
    }
  };
}

export function createFilterForm(form, { onChange, toggle }) {
  const fields = Object.fromEntries(FILTER_KEYS.map((k) => [k, form.elements.namedItem(k)]));
  const showActive = toggle ? foldable(form, toggle) : () => {};
  const actorList = document.getElementById(fields.actor.getAttribute('list'));
  const knownActors = new Map();
  let options = { actionTypes: [], modules: [], modes: [], resourceTypes: [] };

  function read() {
    const filter = emptyFilter();
    for (const key of FILTER_KEYS) filter[key] = cleanValue(key, fields[key].value);
    return filter;
  }

  function syncDateBounds() {
    fields.to.min = fields.from.value || '';
    fields.from.max = fields.to.value || '';
  }

  function emit() {
    syncDateBounds();
    const filter = read();
    showActive(FILTER_KEYS.filter((k) => filter[k]).length);
    onChange(filter);
  }

  for (const key of SELECTS.concat(['from', 'to'])) fields[key].addEventListener('change', emit);

  function applyActor() {
    const text = fields.actor.value.trim();
    const valid = text === '' || cleanValue('actor', text) !== '';
    fields.actor.setCustomValidity(valid ? '' : 'Enter a person’s uuid, or pick one from the list.');
    fields.actor.setAttribute('aria-invalid', String(!valid));
    if (valid) emit();
    else fields.actor.reportValidity();
  }
  fields.actor.addEventListener('change', applyActor);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    applyActor();
  });
  form.addEventListener('reset', (event) => {
    event.preventDefault();
    set(emptyFilter());
    emit();
  });

  /** Shows `filter` in the form. */
  function set(filter) {
    for (const key of FILTER_KEYS) {
      const value = filter?.[key] ?? '';
      if (SELECTS.includes(key)) ensureOption(fields[key], value);
      fields[key].value = value;
    }
    fields.actor.setCustomValidity('');
    fields.actor.removeAttribute('aria-invalid');
    syncDateBounds();
    showActive(FILTER_KEYS.filter((k) => filter?.[k]).length);
  }

  return {
    read,
    set,

    /** Fills the option lists from actionTypes, modules, modes and resourceTypes. */
    setOptions(next) {
      options = {
        actionTypes: next.actionTypes ?? [],
        modules: next.modules ?? [],
        modes: next.modes ?? [],
        resourceTypes: next.resourceTypes ?? [],
      };
      const current = read();
      fillSelect(fields.action, [
        { label: 'Groups', values: actionPrefixes(options.actionTypes) },
        { label: 'Actions', values: options.actionTypes },
      ], current.action);
      fillSelect(fields.module, [{ values: options.modules }], current.module);
      fillSelect(fields.mode, [{ values: options.modes }], current.mode);
      fillSelect(fields.resourceType, [{ values: options.resourceTypes }], current.resourceType);
    },

    /** Adds values that live activities bring and the lists do not have yet. */
    learn(activity) {
      const lists = [
        ['actionTypes', activity.action],
        ['modules', activity.module],
        ['modes', activity.mode],
        ['resourceTypes', activity.resourceType],
      ];
      let changed = false;
      for (const [list, value] of lists) {
        if (value && !options[list].includes(value)) {
          options[list] = [...options[list], value].sort();
          changed = true;
        }
      }
      if (changed) this.setOptions(options);
      this.learnActors([activity]);
    },

    /** Offers the people seen so far as actor suggestions. */
    learnActors(activities) {
      let added = false;
      for (const a of activities) {
        if (!a.actorUuid || knownActors.has(a.actorUuid)) continue;
        knownActors.set(a.actorUuid, personName(a.actor) ?? '');
        added = true;
      }
      if (!added) return;
      const sorted = [...knownActors].sort((x, y) => (x[1] || '~').localeCompare(y[1] || '~'));
      actorList.replaceChildren(...sorted.slice(0, 500).map(([uuid, name]) => h('option', { value: uuid }, name || uuid)));
    },
  };
}
