// Launching Debian's Chromium with playwright-core: no browser download,
// and no background traffic that the machine's closed network would refuse.
// Playwright gives the browser a fresh temporary profile (--user-data-dir)
// and removes it when the browser closes; each test gets its own context,
// so no storage (such as a saved token) leaks from one test to the next.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}
