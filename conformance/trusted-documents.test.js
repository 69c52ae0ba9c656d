// Trusted documents with the real tooling: GraphQL Codegen's client preset
// (persistedDocuments) generates the manifest from codegen/*.graphql, a
// server of our own (ACTIVITY_FEED_BIN) starts with TRUSTED_DOCUMENTS set
// to it, and runs those documents, by id and as text, and nothing else.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.ACTIVITY_FEED_BIN;
if (!BIN) throw new Error('ACTIVITY_FEED_BIN must name the server binary');
const SECRET = 'conformance-trusted-documents-secret-32b';

/** Starts the server with `env`; resolves with its base URL once it listens, or rejects with its log. */
function startServer(env) {
  const child = spawn(BIN, ['serve'], {
    env: { PATH: process.env.PATH, BIND: '127.0.0.1:0', LOG_FORMAT: 'json', RETENTION_INTERVAL: '0s', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      log += chunk;
      for (const line of log.split('\n')) {
        try {
          const entry = JSON.parse(line);
          if (entry.fields?.message === 'listening') resolve(`http://${entry.fields.addr}`);
        } catch {
          // Not a whole log line yet.
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}:\n${log}`)));
    setTimeout(() => reject(new Error(`the server did not listen in 30 s:\n${log}`)), 30000).unref();
  });
  return { child, url };
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function post(url, token, body) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return res.json();
}

test('a manifest from GraphQL Codegen client preset: its documents run by id and as text, others do not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'af-trusted-'));
  let server;
  try {
    // Generate the manifest with the real codegen.
    await run(join(here, 'node_modules', '.bin', 'graphql-codegen'), ['--config', 'codegen-persisted.ts'], {
      cwd: here,
      env: { ...process.env, CODEGEN_OUT: `${dir}/gql/`, CODEGEN_SCHEMA: join(here, '..', 'schema.graphql') },
    });
    const manifestPath = join(dir, 'gql', 'persisted-documents.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const entries = Object.entries(manifest);
    assert.ok(entries.length >= 2, `codegen wrote ${entries.length} documents`);
    const [feedId, feedText] = entries.find(([, text]) => text.includes('query Feed'));
    assert.match(feedId, /^sha256:[0-9a-f]{64}$/, 'a prefixed sha256 key');
    const hash = feedId.slice('sha256:'.length);

    server = startServer({
      DATABASE_URL: `sqlite://${join(dir, 'feed.db')}?mode=rwc`,
      JWT_SECRET: SECRET,
      TRUSTED_DOCUMENTS: manifestPath,
    });
    const url = await server.url;
    const { stdout } = await run(BIN, ['token', '--role', 'service', '--sub', '0190c2a0-0000-7000-8000-00000000c0de'], {
      env: { PATH: process.env.PATH, JWT_SECRET: SECRET },
    });
    const token = stdout.trim();

    const byId = await post(url, token, { documentId: feedId, variables: { first: 2 } });
    assert.equal(byId.errors, undefined, JSON.stringify(byId));
    assert.ok(Array.isArray(byId.data.activityFeed.edges));
    const byApq = await post(url, token, { extensions: { persistedQuery: { version: 1, sha256Hash: hash } }, variables: { first: 1 } });
    assert.equal(byApq.errors, undefined, JSON.stringify(byApq));
    const byText = await post(url, token, { query: feedText, variables: { first: 1 } });
    assert.equal(byText.errors, undefined, JSON.stringify(byText));

    const other = await post(url, token, { query: '{ activityCount }' });
    assert.equal(other.errors?.[0]?.extensions?.code, 'DOCUMENT_NOT_TRUSTED', JSON.stringify(other));
    assert.equal(other.data ?? null, null);
    const unknown = await post(url, token, { documentId: `sha256:${'0'.repeat(64)}` });
    assert.equal(unknown.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_FOUND', JSON.stringify(unknown));
  } finally {
    if (server) await stop(server.child);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a manifest with a document the schema does not have stops the server at start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'af-trusted-bad-'));
  try {
    const path = join(dir, 'manifest.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, JSON.stringify({ stale: 'query Stale { activityCount noSuchField }' }));
    const server = startServer({ DATABASE_URL: `sqlite://${join(dir, 'feed.db')}?mode=rwc`, JWT_SECRET: SECRET, TRUSTED_DOCUMENTS: path });
    await assert.rejects(server.url, /noSuchField/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
