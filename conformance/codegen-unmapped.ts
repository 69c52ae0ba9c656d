// codegen.ts without its scalar mapping: schema.test.js runs it to show that
// `strictScalars` is on and would catch a scalar the mapping forgot.
import type { CodegenConfig } from '@graphql-codegen/cli';
import base from './codegen.ts';

const config: CodegenConfig = {
  ...base,
  generates: Object.fromEntries(
    Object.entries(base.generates).map(([out, target]) => [out, { ...target, config: { strictScalars: true } }]),
  ),
};

export default config;
