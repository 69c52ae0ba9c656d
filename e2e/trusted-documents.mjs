// The dashboard's GraphQL documents as a trusted-documents manifest
// ({ "<sha256>": "<document>" }, the format GraphQL Codegen's client preset
// emits), written to dashboard/trusted-documents.json. The server embeds it
// and trusts it beside any TRUSTED_DOCUMENTS manifest, so the dashboard it
// serves keeps working in that mode. Run after changing dashboard/js/queries.js:
//   node e2e/trusted-documents.mjs
// unit/trusted-documents.test.js fails while the committed file is stale.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { DOCUMENTS } from '../dashboard/js/queries.js';

/** Every document the dashboard can send, whatever the server's features (queries.js's DOCUMENTS). */
export function dashboardDocuments() {
  return [...new Set(DOCUMENTS)];
}

/** The manifest text: keys sorted, so the file only changes with the documents. */
export function manifest() {
  const entries = dashboardDocuments()
    .map((doc) => [createHash('sha256').update(doc).digest('hex'), doc])
    .sort(([a], [b]) => a.localeCompare(b));
  return `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
}

export const MANIFEST_PATH = fileURLToPath(new URL('../dashboard/trusted-documents.json', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(MANIFEST_PATH, manifest());
  console.log(`wrote ${MANIFEST_PATH}`);
}
