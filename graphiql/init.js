// GraphiQL for this server: the pinned bundle of graphiql/vendor/ (globals
// React, ReactDOM and GraphiQL), queries over HTTP POST and subscriptions over
// the same /graphql websocket (graphql-transport-ws), both with the token the
// dashboard keeps, so one token serves both pages.
import { loadToken, normalizeToken, saveToken } from '/dashboard/js/auth.js';

const { React, ReactDOM, GraphiQL } = window;

// GraphiQL's dialogs add a <style> element (to lock scrolling) and give it
// the nonce they find in this global, which the page's CSP lets through.
window.__webpack_nonce__ = document.querySelector('meta[name="style-nonce"]')?.content;

const endpoint = new URL('/graphql', window.location.href);
const socket = new URL(endpoint);
socket.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

/** The `Authorization` value for the stored token, or undefined without one. */
function bearer() {
  const token = loadToken();
  return token ? `Bearer ${token}` : undefined;
}

/** `init` with the token's header, unless GraphiQL's header editor set one. */
function withToken(init = {}) {
  const headers = { ...init.headers };
  const auth = bearer();
  const named = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
  if (auth && !named) headers.authorization = auth;
  return { ...init, headers, credentials: 'same-origin' };
}

const fetcher = GraphiQL.createFetcher({
  url: endpoint.href,
  subscriptionUrl: socket.href,
  // The token is read at each request, so one entered later counts.
  fetch: (url, init) => window.fetch(url, withToken(init)),
  // The fetcher copies these into the connection_init payload of each
  // subscription's socket (the `Authorization` key the server reads there);
  // a getter, so each copy takes the token stored at that moment. Without a
  // token it is undefined, and JSON leaves it out.
  wsConnectionParams: Object.defineProperty({}, 'Authorization', { enumerable: true, get: bearer }),
});

const root = ReactDOM.createRoot(document.getElementById('graphiql'));
let generation = 0;

/** Renders GraphiQL; a new key after a token change fetches the schema again. */
function render() {
  root.render(React.createElement(GraphiQL, { fetcher, key: generation }));
}

const form = document.getElementById('token-bar');
const input = form.elements.token;
input.value = loadToken();
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = normalizeToken(input.value);
  input.value = token;
  saveToken(token);
  generation += 1;
  render();
});

render();
