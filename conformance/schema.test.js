// The schema as the build tools of frontends read it, without a server:
// graphql-inspector's diff against the last release's schema (only listed
// breaking changes), relay-compiler building a @refetchable fragment, and
// GraphQL Codegen's client preset with strictScalars and the documented
// scalar mapping (codegen.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildSchema, parse, print, visit } from 'graphql';
import { CriticalityLevel, diff } from '@graphql-inspector/core';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const SCHEMA = join(here, '..', 'schema.graphql');
const bin = (name) => join(here, 'node_modules', '.bin', name);

const current = await readFile(SCHEMA, 'utf8');
const baseline = await readFile(join(here, 'schema.baseline.graphql'), 'utf8');
const allowed = JSON.parse(await readFile(join(here, 'schema-changes.json'), 'utf8'));

/** The breaking changes from `before` to `after`, as inspector words them. */
async function breaking(before, after) {
  const changes = await diff(buildSchema(before), buildSchema(after));
  return changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking).map((c) => c.message);
}

/** `sdl` with its root types renamed as schema-changes.json lists, so that
 * the roots' own fields are compared with the new roots' fields. */
function withRenamedRoots(sdl) {
  const rename = (node) => (Object.hasOwn(allowed.renamedRoots, node.name.value)
    ? { ...node, name: { ...node.name, value: allowed.renamedRoots[node.name.value] } }
    : undefined);
  return print(visit(parse(sdl), { ObjectTypeDefinition: rename, NamedType: rename }));
}

test('graphql-inspector: the only breaking changes since the last release are the listed ones', async () => {
  assert.deepEqual((await breaking(baseline, current)).sort(), [...allowed.breaking].sort());
});

test('graphql-inspector: with the roots renamed, no root field was removed or changed incompatibly', async () => {
  assert.deepEqual(await breaking(withRenamedRoots(baseline), current), []);
  const changes = await diff(buildSchema(withRenamedRoots(baseline)), buildSchema(current));
  const deprecated = changes.filter((c) => c.type === 'FIELD_DEPRECATION_ADDED').map((c) => c.path.replace(/\.@deprecated$/, ''));
  // The replaced root fields are still there, deprecated (each names its replacement in the SDL).
  for (const field of ['Query.activitiesForUser', 'Query.recentActivities', 'Mutation.logBatch', 'Mutation.upsertUsers', 'Mutation.prune']) {
    assert.ok(deprecated.includes(field), `${field} deprecated: ${deprecated}`);
  }
});

test('graphql-inspector: the check catches a removal that is not listed', async () => {
  const withoutAField = current.replace(/^\s*"""\s*\n\s*Whether an earlier `log`[\s\S]*?replayed: Boolean!\n/m, '\n');
  assert.notEqual(withoutAField, current, 'the field to remove was found');
  assert.deepEqual(await breaking(current, withoutAField), ["Field 'replayed' was removed from object type 'LogPayload'"]);
});

test('relay-compiler builds a @refetchable Activity fragment', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'relay-'));
  try {
    await cp(join(here, 'relay'), join(dir, 'src'), { recursive: true });
    await writeFile(join(dir, 'relay.config.json'), JSON.stringify({ src: './src', schema: SCHEMA, language: 'javascript' }));
    await run(bin('relay-compiler'), [], { cwd: dir });
    const refetch = await readFile(join(dir, 'src', '__generated__', 'ActivityRowRefetchQuery.graphql.js'), 'utf8');
    assert.match(refetch, /node\(id: \$id\)/);
    assert.match(refetch, /\.\.\.ActivityRow_activity/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Runs graphql-codegen with `config` into a fresh directory; returns [exit error, output dir]. */
async function codegen(config) {
  const out = await mkdtemp(join(tmpdir(), 'codegen-'));
  try {
    await run(bin('graphql-codegen'), ['--config', config], {
      cwd: here,
      env: { ...process.env, CODEGEN_OUT: `${out}/`, CODEGEN_SCHEMA: SCHEMA },
    });
    return [null, out];
  } catch (error) {
    return [error, out];
  }
}

test('GraphQL Codegen with strictScalars and the documented mapping types every scalar', async () => {
  const [error, out] = await codegen('codegen.ts');
  try {
    assert.equal(error, null, error?.stderr ?? error?.stdout);
    const types = await readFile(join(out, 'graphql.ts'), 'utf8');
    // Codegen 7 writes the mapped scalar types inline, so the operations show them.
    assert.match(types, /node: \{ id: string, uuid: string, insertedAt: string, metadata: Record<string, unknown>, actionTone: Tone,/);
    assert.match(types, /since\?: string \| null/, 'DateTime inputs');
    assert.match(types, /actorUuidIn\?: Array<string> \| null/, 'UUID inputs');
    assert.doesNotMatch(types, /[:<]\s*any\b/, "no scalar typed any");
    assert.match(types, /export type Tone =[^;]*'SUCCESS'/);
    assert.match(types, /export type ErrorCode =[^;]*'IDEMPOTENCY_CONFLICT'/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('GraphQL Codegen without the mapping fails: strictScalars is on', async () => {
  const [error, out] = await codegen('codegen-unmapped.ts');
  await rm(out, { recursive: true, force: true });
  assert.notEqual(error, null, 'codegen succeeded without a scalar mapping');
  assert.match(`${error.stdout}${error.stderr}`, /Unknown scalar type/);
});
