// The filter form: its option lists (from the server's distinct values), its
// values, read and written as a filter object (see filters.js), what is
// wrong with them said in the page, and the actor found by name or email.

import { h } from './dom.js';
import { FIELD_NAMES, FILTER_KEYS, actionPrefixes, checkValue, emptyFilter, isUuid, rangeProblem } from './filters.js';
import { personName } from './format.js';

const SELECTS = ['action', 'module', 'mode', 'resourceType'];
/** Fields typed in, applied on Enter or when focus leaves them. */
const TEXTS = ['actor', 'correlationId', 'metadata', 'metadataText'];
/** How long typing pauses before the actor field searches people. */
const SEARCH_DELAY_MS = 200;
/** How many people a search suggests. */
const SUGGESTIONS = 8;
/** How many people's names are remembered for the actor hint. */
const MAX_NAMES = 500;

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

/** "Ada Lovelace · ada@example.com", or what there is of it. */
function personLine(user) {
  const name = personName(user);
  return [name, user?.email && user.email !== name ? user.email : null].filter(Boolean).join(' · ');
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

/**
 * `onChange(filter)` gets each valid filter; `searchUsers(text)` resolves to
 * the people matching `text` (the API's `users(search:)`).
 */
export function createFilterForm(form, { onChange, toggle, searchUsers = async () => [] }) {
  const fields = Object.fromEntries(FILTER_KEYS.map((k) => [k, form.elements.namedItem(k)]));
  const showActive = toggle ? foldable(form, toggle) : () => {};
  const actorList = document.getElementById(fields.actor.getAttribute('list'));
  const actorWho = document.getElementById('f-actor-who');
  const errorBox = document.getElementById('filters-error');
  /** uuid -> "name · email", for the hint under the actor field. */
  const names = new Map();
  /** The people the last search found, and for which text. */
  let found = { text: '', users: [] };
  let searchTimer = null;
  let options = { actionTypes: [], modules: [], modes: [], resourceTypes: [] };
  /** The last filter applied, so an invalid edit can be told apart from it. */
  let current = emptyFilter();

  function remember(user) {
    if (!user?.uuid) return;
    if (names.size >= MAX_NAMES) names.clear();
    const line = personLine(user);
    if (line) names.set(user.uuid, line);
  }

  function showWho() {
    const uuid = checkValue('actor', fields.actor.value).value;
    actorWho.textContent = uuid ? (names.get(uuid) ?? '') : '';
  }

  /** Shows what is wrong (field -> message) and marks the fields; clears it all for {}. */
  function showProblems(problems) {
    for (const key of FILTER_KEYS) {
      if (problems[key]) fields[key].setAttribute('aria-invalid', 'true');
      else fields[key].removeAttribute('aria-invalid');
    }
    const lines = Object.entries(problems).filter(([, m]) => m);
    const text = [...new Set(lines.map(([key, m]) => (m.startsWith('From (') ? m : `${FIELD_NAMES[key]}: ${m}`)))].join('. ');
    errorBox.textContent = text ? `${text}.` : '';
    errorBox.hidden = !text;
  }

  /** The form's filter, and what is wrong with it (field -> message). */
  function check() {
    const filter = emptyFilter();
    const problems = {};
    for (const key of FILTER_KEYS) {
      const { value, problem } = checkValue(key, fields[key].value);
      filter[key] = value;
      if (problem) problems[key] = problem;
    }
    const range = rangeProblem(filter);
    if (range) problems.from = problems.to = range;
    return { filter, problems };
  }

  function read() {
    return check().filter;
  }

  function syncDateBounds() {
    fields.to.min = fields.from.value || '';
    fields.from.max = fields.to.value || '';
  }

  /** Applies the form when all of it is valid; else says what is wrong and changes nothing. */
  function emit() {
    syncDateBounds();
    const { filter, problems } = check();
    showProblems(problems);
    if (Object.keys(problems).length) return false;
    showWho();
    showActive(FILTER_KEYS.filter((k) => filter[k]).length);
    if (FILTER_KEYS.some((k) => filter[k] !== current[k])) {
      current = filter;
      onChange(filter);
    }
    return true;
  }

  async function search(text) {
    if (found.text === text) return found.users;
    const users = await searchUsers(text, SUGGESTIONS);
    for (const user of users) remember(user);
    found = { text, users };
    // Each suggestion's value is the uuid the filter takes, its label who it is.
    actorList.replaceChildren(...users.map((u) => h('option', { value: u.uuid }, personLine(u) || u.uuid)));
    return users;
  }

  /** A name or email in the actor field becomes the one person it finds. */
  async function resolveActor() {
    const text = fields.actor.value.trim();
    if (!text || isUuid(text)) return true;
    let users;
    try {
      users = await search(text);
    } catch {
      showProblems({ actor: 'people cannot be searched right now; enter a uuid' });
      return false;
    }
    if (fields.actor.value.trim() !== text) return false;
    if (users.length === 1) {
      fields.actor.value = users[0].uuid;
      return true;
    }
    showProblems({
      actor: users.length
        ? `${users.length}${users.length >= SUGGESTIONS ? ' or more' : ''} people match “${text}”; pick one from the list`
        : `nobody matches “${text}”`,
    });
    return false;
  }

  for (const key of SELECTS.concat(['from', 'to'])) fields[key].addEventListener('change', emit);
  for (const key of TEXTS) {
    fields[key].addEventListener('change', async () => {
      if (key === 'actor' && !(await resolveActor())) return;
      emit();
    });
  }
  fields.actor.addEventListener('input', () => {
    clearTimeout(searchTimer);
    const text = fields.actor.value.trim();
    if (!text || isUuid(text)) {
      showWho();
      return;
    }
    searchTimer = setTimeout(() => search(text).catch(() => {}), SEARCH_DELAY_MS);
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!(await resolveActor())) return;
    emit();
  });
  form.addEventListener('reset', (event) => {
    event.preventDefault();
    const applied = current;
    set(emptyFilter());
    current = applied;
    emit();
  });

  /** Shows `filter` in the form. */
  function set(filter) {
    for (const key of FILTER_KEYS) {
      const value = filter?.[key] ?? '';
      if (SELECTS.includes(key)) ensureOption(fields[key], value);
      fields[key].value = value;
    }
    current = { ...emptyFilter(), ...filter };
    showProblems({});
    syncDateBounds();
    showWho();
    showActive(FILTER_KEYS.filter((k) => filter?.[k]).length);
  }

  return {
    read,
    set,

    /** Puts focus on the field of `key` when it can be seen; returns whether it could. */
    focus(key) {
      const field = fields[key];
      if (!field || !field.checkVisibility?.()) return false;
      field.focus();
      return document.activeElement === field;
    },

    /** Fills the option lists from actionTypes, modules, modes and resourceTypes. */
    setOptions(next) {
      options = {
        actionTypes: next.actionTypes ?? [],
        modules: next.modules ?? [],
        modes: next.modes ?? [],
        resourceTypes: next.resourceTypes ?? [],
      };
      const now = read();
      fillSelect(fields.action, [
        { label: 'Groups', values: actionPrefixes(options.actionTypes) },
        { label: 'Actions', values: options.actionTypes },
      ], now.action);
      fillSelect(fields.module, [{ values: options.modules }], now.module);
      fillSelect(fields.mode, [{ values: options.modes }], now.mode);
      fillSelect(fields.resourceType, [{ values: options.resourceTypes }], now.resourceType);
    },

    /** Empties the option lists (after signing out: they showed what the old token could see). */
    clearOptions() {
      this.setOptions({});
      actorList.replaceChildren();
      names.clear();
      found = { text: '', users: [] };
      showWho();
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
    },

    /** Remembers the people of these activities, to name the chosen actor. */
    learnActors(activities) {
      for (const a of activities) {
        if (a.actorUuid && a.actor && !names.has(a.actorUuid)) remember({ ...a.actor, uuid: a.actorUuid });
      }
      showWho();
    },
  };
}
