// common.mjs — what the two panel walks (panel_serve.mjs, receive_panel.mjs) share: the
// config they read on stdin, screenshots, waiting for background work by reloading, the
// narrow-screen check, and chromium's launch and close around the walk. Copied beside the
// walk by tests/blackbox/browser_support.py.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

// {base, token, chromium, shots (a folder or null), …}: the test's JSON on stdin.
export const cfg = JSON.parse(fs.readFileSync(0, 'utf8'));

// Saves a full-page screenshot as <shots>/<name>.png when the test asked for them.
export async function shot(page, name) {
  if (!cfg.shots) return;
  fs.mkdirSync(cfg.shots, { recursive: true });
  await page.screenshot({ path: path.join(cfg.shots, name + '.png'), fullPage: true });
}

// Reloads until check() holds (deliveries and handler runs happen in the background).
export async function until(page, check, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await page.waitForTimeout(300);
    await page.reload();
  }
}

// Asserts the page needs no sideways scrolling at width px.
export async function fitsWidth(page, width, what) {
  const actual = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(actual <= width, what + ' is ' + actual + ' px wide at ' + width);
}

// Launches chromium, runs walk(browser, context, page) on a 1280-wide page, closes the
// browser whatever happens, and prints out (the test reads that JSON last).
export async function walk(out, body) {
  const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await body(browser, context, await context.newPage());
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}
