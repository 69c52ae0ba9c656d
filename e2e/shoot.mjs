// Screenshots of a running dashboard, for looking at it while working on it:
//   node shoot.mjs http://127.0.0.1:8000 [out-dir]
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { launch } from './browser/chromium.js';

const base = process.argv[2] ?? 'http://127.0.0.1:8000';
const out = process.argv[3] ?? path.join(import.meta.dirname, 'artifacts', 'manual');
await mkdir(out, { recursive: true });
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`console.${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
  await page.goto(base);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10000 });
  await page.locator('#rows tr').first().waitFor({ timeout: 10000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(out, 'desktop.png') });
  await page.screenshot({ path: path.join(out, 'desktop-full.png'), fullPage: true });
  await page.locator('#rows tr .row-open').first().click();
  await page.locator('#detail[open]').waitFor();
  await page.screenshot({ path: path.join(out, 'detail.png') });
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(out, 'phone.png'), fullPage: false });
  await page.screenshot({ path: path.join(out, 'phone-full.png'), fullPage: true });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
}
