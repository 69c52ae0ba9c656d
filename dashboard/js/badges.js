// Badge classes for actions and modes. The server says how an activity
// should look as a tone (issue 18); the dashboard maps tones to its classes.
// The server's rules are repeated here so that places without an activity at
// hand (filter options, top actions) colour the same way.

/** Every class a badge may carry; they are defined in app.css. */
export const BADGE_CLASSES = Object.freeze([
  'badge-success',
  'badge-error',
  'badge-warning',
  'badge-info',
  'badge-ghost',
  'badge-secondary',
  'badge-accent',
]);

const ACTION_RULES = [
  [['created'], 'badge-success'],
  [['deleted'], 'badge-error'],
  [['updated', 'changed'], 'badge-warning'],
  [['liked', 'followed'], 'badge-info'],
];

/** The class of each tone the server gives; anything else is not used. */
const TONE_CLASSES = Object.freeze({
  SUCCESS: 'badge-success',
  ERROR: 'badge-error',
  WARNING: 'badge-warning',
  INFO: 'badge-info',
  NEUTRAL: 'badge-ghost',
});

/** Modes the dashboard tells apart beyond the five tones, which give both NEUTRAL. */
const MODE_ACCENTS = Object.freeze({
  cron: 'badge-secondary',
  script: 'badge-accent',
});

const MODE_CLASSES = {
  manual: 'badge-warning',
  auto: 'badge-info',
  cron: 'badge-secondary',
  script: 'badge-accent',
};

/** The badge class for an action: the first rule whose word it contains. */
export function actionBadgeClass(action) {
  const text = typeof action === 'string' ? action : '';
  for (const [words, cls] of ACTION_RULES) {
    if (words.some((w) => text.includes(w))) return cls;
  }
  return 'badge-ghost';
}

/** The badge class for a mode; unknown or missing modes are neutral. */
export function modeBadgeClass(mode) {
  return (typeof mode === 'string' && Object.hasOwn(MODE_CLASSES, mode)) ? MODE_CLASSES[mode] : 'badge-ghost';
}

/** The class of a tone from the server when it is a known tone, else `fallback`. */
export function toneClass(tone, fallback) {
  return (typeof tone === 'string' && Object.hasOwn(TONE_CLASSES, tone)) ? TONE_CLASSES[tone] : fallback;
}

/** The class for an activity's action badge: its tone's, else the local rule. */
export function activityActionClass(activity) {
  return toneClass(activity?.actionTone, actionBadgeClass(activity?.action));
}

/** The class for an activity's mode badge: the dashboard's accent for cron
 * and script, else its tone's, else the local rule. */
export function activityModeClass(activity) {
  const mode = activity?.mode;
  if (typeof mode === 'string' && Object.hasOwn(MODE_ACCENTS, mode)) return MODE_ACCENTS[mode];
  return toneClass(activity?.modeTone, modeBadgeClass(mode));
}
