// The access token: kept in localStorage, asked for in a dialog when the
// server refuses the page, sent by the HTTP and websocket clients.

const KEY = 'activity-feed.token';

/** The stored token, or '' (also when storage is blocked). */
export function loadToken() {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

/** Stores `token` ('' forgets it). */
export function saveToken(token) {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    // Storage blocked: the token lives as long as the page.
  }
}

/** What people paste, as a bare token: "Bearer abc" and "abc" both give "abc". */
export function normalizeToken(text) {
  return String(text ?? '').trim().replace(/^bearer\s+/i, '').trim();
}

/** The connection_init payload that carries a token, per the server's contract. */
export function connectionInitPayload(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Shows the token dialog; resolves to the token entered, or null when the
 * person cancels. Only one dialog is open at a time. Its one submit button
 * is "Save and connect", so Enter saves; Cancel is a plain button.
 */
let pending = null;
export function askForToken(dialog, reason) {
  if (pending) return pending;
  const form = dialog.querySelector('form');
  const input = dialog.querySelector('input[name="token"]');
  const why = dialog.querySelector('#auth-reason');
  if (why && reason) why.textContent = reason;
  input.value = '';
  const cancel = dialog.querySelector('[data-cancel]');
  const onCancel = () => dialog.close('cancel');
  cancel?.addEventListener('click', onCancel);
  pending = new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        pending = null;
        cancel?.removeEventListener('click', onCancel);
        const token = dialog.returnValue === 'save' ? normalizeToken(input.value) : '';
        input.value = '';
        resolve(token || null);
      },
      { once: true },
    );
  });
  form.reset();
  dialog.returnValue = '';
  dialog.showModal();
  input.focus();
  return pending;
}

/** Why the server refused a token, for the dialog: an expired one is said to be expired. */
export function refusalReason(hadToken, message = '') {
  if (!hadToken) return 'This server asks for an access token.';
  if (/expired/i.test(message)) return 'The stored token has expired. Enter a new one.';
  const why = String(message).replace(/^Forbidden:\s*/i, '').trim();
  return why ? `The server refused the stored token (${why}). Enter another one.` : 'The server refused the stored token. Enter another one.';
}
