import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  describeMetadata,
  inlineText,
  metadataLines,
  summarizeMetadata,
  unwrapJsonString,
} from '../../dashboard/js/metadata.js';

const lines = (metadata) => metadataLines(describeMetadata(metadata));

test('plain keys read "key: value"', () => {
  assert.deepEqual(lines({ title: 'Hi', length: 12, public: true, note: null, empty: '' }), [
    'title: Hi',
    'length: 12',
    'public: true',
    'note: (none)',
    'empty: (empty)',
  ]);
});

test('a {"from", "to"} value is a change "a → b"', () => {
  assert.deepEqual(lines({ plan: { from: 'free', to: 'team' } }), ['plan: free → team']);
});

test('top-level from/to is a change, the other keys stay', () => {
  assert.deepEqual(lines({ setting: 'theme', from: 'on', to: 'off' }), ['setting: theme', 'change: on → off']);
});

test('x_from / x_to pairs fold into "x: a → b" where the pair first appears', () => {
  assert.deepEqual(
    lines({ first_name_from: 'Ada', actor_role: 'admin', first_name_to: 'Grace', email_to: 'b@x', email_from: 'a@x' }),
    ['first_name: Ada → Grace', 'actor_role: admin', 'email: a@x → b@x'],
  );
});

test('a lone x_from stays a plain key', () => {
  assert.deepEqual(lines({ title_from: 'Old' }), ['title_from: Old']);
});

test('changes from or to nothing read clearly', () => {
  assert.deepEqual(lines({ nickname_from: null, nickname_to: 'Bo' }), ['nickname: (none) → Bo']);
  assert.deepEqual(lines({ tags: { from: [], to: ['a', 'b'] } }), ['tags: (empty list) → a, b']);
});

test('a change with more keys keeps them under it', () => {
  assert.deepEqual(lines({ body: { from: 'x', to: 'y', reason: 'typo' } }), ['body: x → y', '  reason: typo']);
});

test('nested maps are nested "key: value" lines', () => {
  assert.deepEqual(lines({ address: { city: 'Oslo', geo: { lat: 59.9, lng: 10.7 } } }), [
    'address:',
    '  city: Oslo',
    '  geo:',
    '    lat: 59.9',
    '    lng: 10.7',
  ]);
});

test('pairs are folded inside nested maps too', () => {
  assert.deepEqual(lines({ profile: { bio_from: 'a', bio_to: 'b' } }), ['profile:', '  bio: a → b']);
});

test('JSON held in a string is read as what it holds, never shown raw', () => {
  const out = lines({ payload: '{"plan":{"from":"free","to":"pro"},"seats":3}', list: '[1, 2]' });
  assert.deepEqual(out, ['payload:', '  plan: free → pro', '  seats: 3', 'list: 1, 2']);
  assert.ok(out.every((l) => !l.includes('{"')), out.join('\n'));
  assert.deepEqual(lines('{"a": 1}'), ['a: 1'], 'the whole metadata as a JSON string');
});

test('strings that only look like JSON stay text', () => {
  assert.deepEqual(lines({ note: '{not json}', brace: '{' }), ['note: {not json}', 'brace: {']);
  assert.equal(unwrapJsonString('[oops'), '[oops');
});

test('arrays: scalars inline, objects as numbered groups', () => {
  assert.deepEqual(lines({ tags: ['a', 'b', 3] }), ['tags: a, b, 3']);
  assert.deepEqual(lines({ items: [{ sku: 'A1', qty: 2 }, 'loose'] }), ['items:', '  1:', '    sku: A1', '    qty: 2', '  2: loose']);
  assert.deepEqual(lines({ none: [] }), ['none: (empty list)']);
});

test('object values of a change are inlined without JSON punctuation', () => {
  assert.deepEqual(lines({ address: { from: { city: 'Oslo' }, to: { city: 'Bergen', zip: '5003' } } }), [
    'address: city: Oslo → city: Bergen; zip: 5003',
  ]);
});

test('any shape at all gives entries and never throws', () => {
  const deep = {};
  let cursor = deep;
  for (let i = 0; i < 50; i += 1) {
    cursor.next = {};
    cursor = cursor.next;
  }
  const odd = [undefined, null, 0, -1.5, true, 'text', '', [], {}, [[[]]], [null, { a: [{ b: null }] }], deep,
    { from: 1 }, { to: 2 }, { _from: 'a', _to: 'b' }, { 'from_from': 1, 'from_to': 2 }, { __proto__: null, x: 1 },
    Object.create(null), 10n, Symbol('s'), () => 1, new Date(0)];
  for (const value of odd) {
    assert.doesNotThrow(() => metadataLines(describeMetadata(value)), String(typeof value));
    assert.doesNotThrow(() => summarizeMetadata(value));
    assert.doesNotThrow(() => inlineText(value));
  }
  assert.deepEqual(lines(null), []);
  assert.deepEqual(lines({}), []);
  assert.deepEqual(lines(7), ['value: 7']);
});

test('a one-line summary for the table, cut at a length', () => {
  assert.equal(summarizeMetadata({ title_from: 'Draft', title_to: 'Final', role: 'editor' }), 'title: Draft → Final · role: editor');
  const long = summarizeMetadata({ text: 'x'.repeat(500) }, 40);
  assert.equal(long.length, 40);
  assert.ok(long.endsWith('…'));
  assert.equal(summarizeMetadata({}), '');
});
