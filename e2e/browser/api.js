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
          activity { uuid action mode insertedAt actionTone modeTone } errors { field message } } }`,
        { input },
      );
      if (data.log.errors.length) throw new Error(`log refused: ${JSON.stringify(data.log.errors)}`);
      return data.log.activity;
    },

    /** Logs many in one transaction and returns them. */
    async logBatch(inputs) {
      const data = await request(
        `mutation($inputs: [LogInput!]!) { logBatch(inputs: $inputs) { activity { uuid action insertedAt } errors { message } } }`,
        { inputs },
      );
      return data.logBatch.map((p) => p.activity);
    },

    async upsertUsers(users) {
      return (await request(
        'mutation($u: [UserInput!]!) { upsertUsers(inputs: $u) { uuid email firstName lastName } }',
        { u: users },
      )).upsertUsers;
    },
  };
}
