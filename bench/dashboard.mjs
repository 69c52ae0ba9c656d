// The dashboard at a tier's size (issue 13's last target): opens it in
// headless Chromium against a running server and times the first rows, the
// chart and the four filled dropdowns, and when all three are there. Each
// run is a fresh browser context (no cache, no saved state), as a person
// opening the page for the first time.
//   node bench/dashboard.mjs http://127.0.0.1:18100 [runs]
// Prints one JSON object: every run's times and their median, in ms, two ways:
//   page    from before `page.goto` to the first animation frame after the
//           DOM shows it: the browser's own clock (frames count from its
//           navigation start), plus the time the navigation took to start;
//   driver  from before `page.goto` to when Playwright notices it: its
//           locator and function polling over the DevTools protocol adds
//           60-170 ms, so this is the page's time plus the driver's latency.
// Needs e2e's packages (cd e2e && npm ci) and Debian's chromium, which
// `bench/run --dashboard` installs.
import { launch } from '../e2e/browser/chromium.js';

const base = process.argv[2] ?? 'http://127.0.0.1:8000';
const runs = Number(process.argv[3] ?? 7);
const DROPDOWNS = ['f-action', 'f-module', 'f-mode', 'f-resourceType'];
/** The pause after each opening. */
const SETTLE_MS = 1000;

/**
 * Runs in the page before its own scripts: notes, for each of the three,
 * the first animation frame after the DOM has it.
 */
function watch(dropdowns) {
  const done = {
    rows: () => document.querySelector('#rows tr') !== null,
    chart: () => document.querySelector('.chart-card')?.getAttribute('aria-busy') === 'false',
    dropdowns: () => dropdowns.every((id) => (document.getElementById(id)?.options.length ?? 0) > 1),
  };
  const seen = {};
  window.__shown = {};
  const check = () => {
    for (const [key, test] of Object.entries(done)) {
      if (seen[key] || !test()) continue;
      seen[key] = true;
      requestAnimationFrame((frame) => { window.__shown[key] = frame; });
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
}

async function once(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(watch, DROPDOWNS);
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
  const shown = await page.waitForFunction(() => {
    const s = window.__shown;
    return s.rows && s.chart && s.dropdowns && { ...s, origin: performance.timeOrigin };
  }, null, { timeout: 30000 }).then((handle) => handle.jsonValue());
  // Both clocks are this machine's wall clock, in ms since the epoch.
  const started = shown.origin - t0;
  await context.close();
  // The closed context's renderer winds down on the same 2 cores; the next
  // opening should not be timed against it.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  if (errors.length) throw new Error(`the page logged errors: ${errors.join('; ')}`);
  const page_ = Object.fromEntries(['rows', 'chart', 'dropdowns'].map((k) => [k, Math.round(started + shown[k])]));
  return {
    page: { ...page_, all: Math.max(page_.rows, page_.chart, page_.dropdowns) },
    driver: { rows, chart, dropdowns, all: Math.max(rows, chart, dropdowns) },
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await launch();
try {
  await once(browser); // warm-up: the server's first requests, the OS's caches
  const results = [];
  for (let i = 0; i < runs; i += 1) results.push(await once(browser));
  const keys = ['rows', 'chart', 'dropdowns', 'all'];
  const summary = (pick) => ({
    median: Object.fromEntries(keys.map((k) => [k, median(results.map((r) => pick(r)[k]))])),
    max: Object.fromEntries(keys.map((k) => [k, Math.max(...results.map((r) => pick(r)[k]))])),
  });
  console.log(JSON.stringify({
    base,
    runs: results,
    page: summary((r) => r.page),
    driver: summary((r) => r.driver),
  }));
} finally {
  await browser.close();
}
