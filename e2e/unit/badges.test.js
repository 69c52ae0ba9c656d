import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BADGE_CLASSES,
  actionBadgeClass,
  activityActionClass,
  activityModeClass,
  knownBadgeClass,
  modeBadgeClass,
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

test('a class from the server is used only when it is a known badge class', () => {
  assert.equal(knownBadgeClass('badge-accent', 'badge-ghost'), 'badge-accent');
  assert.equal(knownBadgeClass('x" onclick="alert(1)', 'badge-ghost'), 'badge-ghost');
  assert.equal(activityActionClass({ action: 'post.created', actionBadgeColor: 'badge-error' }), 'badge-error');
  assert.equal(activityActionClass({ action: 'post.created', actionBadgeColor: 'nonsense' }), 'badge-success');
  assert.equal(activityModeClass({ mode: 'cron' }), 'badge-secondary');
});

test('every class the rules give is one the stylesheet defines', async () => {
  const { readFile } = await import('node:fs/promises');
  const css = await readFile(new URL('../../dashboard/app.css', import.meta.url), 'utf8');
  for (const cls of BADGE_CLASSES) assert.match(css, new RegExp(`\\.${cls}\\s*\\{`), cls);
});
