// Screenshots of a running dashboard: desktop (1280×800) and phone (390×844),
// light and dark, and the detail on each; the README's come from here.
//   node shoot.mjs http://127.0.0.1:8000 [out-dir]
// Fails when the page logs an error or never goes live.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { launch } from './browser/chromium.js';

const base = process.argv[2] ?? 'http://127.0.0.1:8000';
const out = process.argv[3] ?? path.join(import.meta.dirname, 'artifacts', 'manual');
await mkdir(out, { recursive: true });
const VIEWS = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
];
const problems = [];
const browser = await launch();
try {
  for (const colorScheme of ['light', 'dark']) {
    for (const [name, viewport] of VIEWS) {
      const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: name === 'phone' ? 2 : 1 });
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      await page.goto(base);
      await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10000 });
      await page.locator('#rows tr').first().waitFor({ timeout: 10000 });
      await page.waitForFunction(() => document.querySelector('.chart-card')?.getAttribute('aria-busy') === 'false', null, { timeout: 10000 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(out, `${name}-${colorScheme}.png`) });
      await page.locator('#rows tr .row-open').first().click();
      await page.locator('#detail[open]').waitFor();
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(out, `detail-${name}-${colorScheme}.png`) });
      await context.close();
    }
  }
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`screenshots in ${out}`);
