import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../dashboard/', import.meta.url);

test('index.html preloads every module main.js imports, and nothing else', () => {
  const html = readFileSync(new URL('index.html', root), 'utf8');
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="dashboard\/js\/([^"]+)">/g)]
    .map((m) => m[1])
    .sort();
  const modules = readdirSync(new URL('js/', root))
    .filter((f) => f.endsWith('.js') && f !== 'main.js')
    .sort();
  assert.deepEqual(preloaded, modules);
});
