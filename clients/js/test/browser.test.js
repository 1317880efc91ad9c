// The demo page in a real headless Chromium (Debian's package, driven by playwright-core): open
// /demo, choose a file, upload it in each mode, see the key and size, and follow the read-back link.
// Skipped, with the reason, only when no Chromium is installed; .ci/run installs it.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemo } from '../testing/demo.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const missing = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM}${process.env.KIT_BROWSER_UNAVAILABLE ? ` (${process.env.KIT_BROWSER_UNAVAILABLE})` : ''}: install Debian's chromium package (bash .ci/run does) or set CHROMIUM_PATH`;
if (missing) console.log(`# SKIPPING the demo page browser test: ${missing}`);

// As the workplace notes prescribe for a closed network: no background connections, no sync,
// no component updates, a fresh profile.
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let demo;
let context;
let profile;
before(async () => {
  if (missing) return;
  demo = await startDemo();
  const { chromium } = await import('playwright-core');
  profile = mkdtempSync(path.join(tmpdir(), 'kit-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000,
  });
});

after(async () => {
  await context?.close();
  await demo?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the demo page uploads a chosen file in both modes and links to it', { skip: missing }, async () => {
  const page = await context.newPage();
  const console_ = [];
  page.on('console', (m) => console_.push(m.text()));
  page.on('pageerror', (e) => console_.push(`pageerror: ${e.message}`));
  const response = await page.goto(`${demo.brokerUrl}/demo`);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), 'sts-broker demo: upload a file');

  for (const mode of ['sts', 'server']) {
    const content = `uploaded by the ${mode} mode from a real browser\n`;
    await page.check(`input[name=mode][value=${mode}]`);
    await page.setInputFiles('#file', { name: `Browser ${mode}.TXT`, mimeType: 'text/plain', buffer: Buffer.from(content) });
    await page.click('#upload');
    const outcome = await page.waitForSelector('#upload-ok, #upload-error', { timeout: 15_000 });
    assert.equal(await outcome.getAttribute('id'), 'upload-ok', `${mode}: ${await outcome.innerText()} / ${console_.join(' | ')}`);
    const key = await page.textContent('#key');
    assert.match(key, /^uploads\/anonymous\/[0-9a-z]+-[0-9a-f]+\.txt$/);
    assert.equal(await page.textContent('#size'), `${Buffer.byteLength(content)} bytes`);
    const href = await page.getAttribute('#read-back', 'href');
    assert.equal(href, `${demo.bucketUrl}/${key}`);

    // The link works in the browser, and serves what was chosen.
    const reader = await context.newPage();
    const read = await reader.goto(href);
    assert.equal(read.status(), 200);
    assert.equal(await read.text(), content);
    await reader.close();
  }

  // An empty file: the policy's content-length-range refuses it, and the page says why.
  await page.setInputFiles('#file', { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) });
  await page.click('#upload');
  await page.waitForSelector('#upload-error', { timeout: 15_000 });
  assert.equal(await page.textContent('#error-code'), 'EntityTooSmall');

  // The page never shows or logs the credential it signed with (the broker hands out the same
  // cached one to this anonymous caller).
  const token = await (await fetch(`${demo.brokerUrl}/getToken`)).json();
  const html = await page.content();
  for (const secret of [token.AccessKeySecret, token.SecurityToken]) {
    assert.ok(!html.includes(secret), 'the page shows a secret');
    assert.ok(!console_.some((line) => line.includes(secret)), 'the page logs a secret');
  }
  assert.deepEqual(console_.filter((l) => l.startsWith('pageerror')), []);
  if (process.env.KIT_SCREENSHOT) await page.screenshot({ path: process.env.KIT_SCREENSHOT, fullPage: true });
});
