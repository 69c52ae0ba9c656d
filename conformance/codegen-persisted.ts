// GraphQL Codegen's client preset emitting persisted documents: the
// manifest a frontend deploys with TRUSTED_DOCUMENTS (see the README).
// `persisted-documents.json` maps each document's sha256 to its text.
import type { CodegenConfig } from '@graphql-codegen/cli';

import { scalars } from './codegen.ts';

const config: CodegenConfig = {
  schema: process.env.CODEGEN_SCHEMA ?? '../schema.graphql',
  documents: ['codegen/**/*.graphql'],
  generates: {
    [process.env.CODEGEN_OUT ?? 'codegen/generated/']: {
      preset: 'client',
      presetConfig: { persistedDocuments: { hashAlgorithm: 'sha256' } },
      config: { strictScalars: true, scalars },
    },
  },
};

export default config;
