import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BADGE_CLASSES,
  actionBadgeClass,
  activityActionClass,
  activityModeClass,
  modeBadgeClass,
  toneClass,
} from '../../dashboard/js/badges.js';

test('action rules give the server\'s classes', () => {
  assert.equal(actionBadgeClass('post.created'), 'badge-success');
  assert.equal(actionBadgeClass('post.deleted'), 'badge-error');
  assert.equal(actionBadgeClass('profile.updated'), 'badge-warning');
  assert.equal(actionBadgeClass('password.changed'), 'badge-warning');
  assert.equal(actionBadgeClass('comment.liked'), 'badge-info');
  assert.equal(actionBadgeClass('user.followed'), 'badge-info');
  assert.equal(actionBadgeClass('role.assigned'), 'badge-ghost');
});

test('the first matching action rule wins, in the server\'s order', () => {
  assert.equal(actionBadgeClass('created.then.deleted'), 'badge-success');
  assert.equal(actionBadgeClass('deleted.then.created'), 'badge-success');
  assert.equal(actionBadgeClass('liked.then.updated'), 'badge-warning');
  assert.equal(actionBadgeClass('user.unfollowed'), 'badge-info', '"unfollowed" contains "followed"');
});

test('actions that are not text are neutral', () => {
  for (const odd of [undefined, null, 42, {}, '']) assert.equal(actionBadgeClass(odd), 'badge-ghost');
});

test('mode rules are exact and case-sensitive', () => {
  assert.equal(modeBadgeClass('manual'), 'badge-warning');
  assert.equal(modeBadgeClass('auto'), 'badge-info');
  assert.equal(modeBadgeClass('cron'), 'badge-secondary');
  assert.equal(modeBadgeClass('script'), 'badge-accent');
  assert.equal(modeBadgeClass('Manual'), 'badge-ghost');
  assert.equal(modeBadgeClass(null), 'badge-ghost');
  assert.equal(modeBadgeClass('toString'), 'badge-ghost', 'no prototype keys');
});

test('a tone from the server maps to a class only when it is a known tone', () => {
  assert.equal(toneClass('SUCCESS', 'badge-ghost'), 'badge-success');
  assert.equal(toneClass('NEUTRAL', 'badge-info'), 'badge-ghost');
  assert.equal(toneClass('x" onclick="alert(1)', 'badge-ghost'), 'badge-ghost');
  assert.equal(toneClass('toString', 'badge-ghost'), 'badge-ghost', 'no prototype keys');
  assert.equal(activityActionClass({ action: 'post.created', actionTone: 'ERROR' }), 'badge-error');
  assert.equal(activityActionClass({ action: 'post.created', actionTone: 'nonsense' }), 'badge-success');
  assert.equal(activityModeClass({ mode: 'manual', modeTone: 'INFO' }), 'badge-info');
  assert.equal(activityModeClass({ mode: 'cron', modeTone: 'NEUTRAL' }), 'badge-secondary', 'the dashboard tells cron apart');
  assert.equal(activityModeClass({ mode: 'script', modeTone: 'NEUTRAL' }), 'badge-accent');
  assert.equal(activityModeClass({ mode: 'auto' }), 'badge-info', 'no tone: the local rule');
});

test('every tone the schema defines has a class', async () => {
  const { readFile } = await import('node:fs/promises');
  const sdl = await readFile(new URL('../../schema.graphql', import.meta.url), 'utf8');
  const tones = sdl.match(/enum Tone \{([^}]*)\}/)[1].match(/^\s*([A-Z_]+)\s*$/gm).map((t) => t.trim());
  assert.deepEqual(tones, ['SUCCESS', 'ERROR', 'WARNING', 'INFO', 'NEUTRAL']);
  for (const tone of tones) assert.notEqual(toneClass(tone, null), null, tone);
});

test('every class the rules give is one the stylesheet defines', async () => {
  const { readFile } = await import('node:fs/promises');
  const css = await readFile(new URL('../../dashboard/app.css', import.meta.url), 'utf8');
  for (const cls of BADGE_CLASSES) assert.match(css, new RegExp(`\\.${cls}\\s*\\{`), cls);
});
