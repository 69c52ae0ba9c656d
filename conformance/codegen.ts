// GraphQL Codegen for this API: the client preset with `strictScalars`, so
// that no scalar is typed `any` or `unknown`. Copy it into a frontend and
// point `schema` at the server's schema.graphql (or its URL) and
// `documents` at your operations. The scalar mapping is the one the README
// documents:
//   UUID      string, e.g. "0190c2a0-…" (RFC 4122 text)
//   DateTime  string, RFC 3339 in UTC: "2026-11-26T14:03:07.123456Z"
//   JSON      an object: every JSON field and argument of this schema holds one
import type { CodegenConfig } from '@graphql-codegen/cli';

export const scalars = {
  UUID: 'string',
  DateTime: 'string',
  JSON: 'Record<string, unknown>',
};

const config: CodegenConfig = {
  schema: process.env.CODEGEN_SCHEMA ?? '../schema.graphql',
  documents: ['codegen/**/*.graphql'],
  generates: {
    [process.env.CODEGEN_OUT ?? 'codegen/generated/']: {
      preset: 'client',
      config: { strictScalars: true, scalars },
    },
  },
};

export default config;
