// GraphQL over HTTP POST, with the bearer token when there is one.

/** The server wants a (different) token: HTTP 401 or a GraphQL error coded UNAUTHENTICATED. */
export class AuthError extends Error {
  constructor(message = 'This server needs an access token.') {
    super(message);
    this.name = 'AuthError';
  }
}

/** The request failed: the network, the server, or the operation's errors. */
export class RequestError extends Error {
  constructor(message, errors = []) {
    super(message);
    this.name = 'RequestError';
    this.errors = errors;
  }
}

/** Whether a list of GraphQL errors says the caller is not authenticated. */
export function isAuthErrorList(errors) {
  return Array.isArray(errors) && errors.some((e) => e?.extensions?.code === 'UNAUTHENTICATED');
}

/** The first error's message, for people. */
function messageOf(errors) {
  const first = Array.isArray(errors) ? errors[0] : null;
  return typeof first?.message === 'string' && first.message ? first.message : 'The server returned an error.';
}

/**
 * A client for `endpoint`; `token()` gives the current token or ''.
 * `request` resolves to `data`, or rejects with AuthError or RequestError.
 */
export function createGraphQLClient({ endpoint, token, fetchImpl = (...args) => fetch(...args) }) {
  async function request(query, variables = {}, { signal } = {}) {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    const bearer = token();
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let response;
    try {
      response = await fetchImpl(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
        signal,
        credentials: 'same-origin',
      });
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      throw new RequestError('The server cannot be reached.');
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      if (response.status === 401) throw new AuthError();
      throw new RequestError(`The server answered ${response.status} ${response.statusText}`.trim());
    }
    // A 401's body says why the token was refused (expired, wrong issuer…).
    if (response.status === 401) throw new AuthError(isAuthErrorList(body?.errors) ? messageOf(body.errors) : undefined);
    if (isAuthErrorList(body?.errors)) throw new AuthError(messageOf(body.errors));
    if (Array.isArray(body?.errors) && body.errors.length) throw new RequestError(messageOf(body.errors), body.errors);
    if (!response.ok || !body?.data) {
      throw new RequestError(`The server answered ${response.status} ${response.statusText}`.trim());
    }
    return body.data;
  }
  return { request };
}
