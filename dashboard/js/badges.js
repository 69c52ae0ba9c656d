// Badge classes for actions and modes: the server's rules (issue 2), so that
// places without an activity at hand (filter options, top actions) colour
// the same way, and a class from the server is only used when it is known.

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

/** `fromServer` when it is a known badge class, else `fallback`. */
export function knownBadgeClass(fromServer, fallback) {
  return BADGE_CLASSES.includes(fromServer) ? fromServer : fallback;
}

/** The class for an activity's action badge: the server's, else the local rule. */
export function activityActionClass(activity) {
  return knownBadgeClass(activity?.actionBadgeColor, actionBadgeClass(activity?.action));
}

/** The class for an activity's mode badge: the server's, else the local rule. */
export function activityModeClass(activity) {
  return knownBadgeClass(activity?.modeBadgeColor, modeBadgeClass(activity?.mode));
}
