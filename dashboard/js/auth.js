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
 * person cancels. Only one dialog is open at a time.
 */
let pending = null;
export function askForToken(dialog, reason) {
  if (pending) return pending;
  const form = dialog.querySelector('form');
  const input = dialog.querySelector('input[name="token"]');
  const why = dialog.querySelector('#auth-reason');
  if (why && reason) why.textContent = reason;
  input.value = '';
  pending = new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        pending = null;
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
