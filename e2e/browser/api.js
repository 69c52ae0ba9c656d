// The server's GraphQL API over HTTP, for tests that log what the page should show.

export function api(baseUrl, token = '') {
  async function request(query, variables = {}) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(new URL('/graphql', baseUrl), {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data;
  }

  return {
    request,

    /** Logs one activity and returns it (uuid, action, insertedAt, badge classes). */
    async log(input) {
      const data = await request(
        `mutation($input: LogInput!) { log(input: $input) {
          activity { uuid action mode insertedAt actionTone modeTone } userErrors { field message } } }`,
        { input },
      );
      if (data.log.userErrors.length) throw new Error(`log refused: ${JSON.stringify(data.log.userErrors)}`);
      return data.log.activity;
    },

    /** Logs many in one transaction and returns them. */
    async logBatch(inputs) {
      const data = await request(
        `mutation($inputs: [LogInput!]!) { logActivities(inputs: $inputs) { activities { uuid action insertedAt } userErrors { field message } } }`,
        { inputs },
      );
      if (data.logActivities.userErrors.length) throw new Error(`batch refused: ${JSON.stringify(data.logActivities.userErrors)}`);
      return data.logActivities.activities;
    },

    async upsertUsers(users) {
      const { saveUsers } = await request(
        'mutation($u: [UserInput!]!) { saveUsers(inputs: $u) { users { uuid email firstName lastName } userErrors { field message } } }',
        { u: users },
      );
      if (saveUsers.userErrors.length) throw new Error(`users refused: ${JSON.stringify(saveUsers.userErrors)}`);
      return saveUsers.users;
    },
  };
}
