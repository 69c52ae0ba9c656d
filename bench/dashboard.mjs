// The dashboard at a tier's size (issue 13's last target): opens it in
// headless Chromium against a running server and times, from navigation,
// the first rows, the chart and the four filled dropdowns, and when all
// three are there. Each run is a fresh browser context (no cache, no saved
// state), as a person opening the page for the first time.
//   node bench/dashboard.mjs http://127.0.0.1:18100 [runs]
// Prints one JSON object: every run's times and their median, in ms.
// Needs e2e's packages (cd e2e && npm ci) and Debian's chromium, which
// `bench/run --dashboard` installs.
import { launch } from '../e2e/browser/chromium.js';

const base = process.argv[2] ?? 'http://127.0.0.1:8000';
const runs = Number(process.argv[3] ?? 7);
const DROPDOWNS = ['f-action', 'f-module', 'f-mode', 'f-resourceType'];

async function once(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const t0 = Date.now();
  const at = (promise) => promise.then(() => Date.now() - t0);
  await page.goto(base, { waitUntil: 'commit' });
  const [rows, chart, dropdowns] = await Promise.all([
    at(page.locator('#rows tr').first().waitFor({ timeout: 30000 })),
    at(page.waitForFunction(
      () => document.querySelector('.chart-card')?.getAttribute('aria-busy') === 'false',
      null, { timeout: 30000, polling: 'raf' })),
    at(page.waitForFunction(
      (ids) => ids.every((id) => (document.getElementById(id)?.options.length ?? 0) > 1),
      DROPDOWNS, { timeout: 30000, polling: 'raf' })),
  ]);
  await context.close();
  if (errors.length) throw new Error(`the page logged errors: ${errors.join('; ')}`);
  return { rows, chart, dropdowns, all: Math.max(rows, chart, dropdowns) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await launch();
try {
  await once(browser); // warm-up: the server's first requests, the OS's caches
  const results = [];
  for (let i = 0; i < runs; i += 1) results.push(await once(browser));
  const keys = ['rows', 'chart', 'dropdowns', 'all'];
  console.log(JSON.stringify({
    base,
    runs: results,
    median: Object.fromEntries(keys.map((k) => [k, median(results.map((r) => r[k]))])),
    max: Object.fromEntries(keys.map((k) => [k, Math.max(...results.map((r) => r[k]))])),
  }));
} finally {
  await browser.close();
}
