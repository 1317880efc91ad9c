// The Uppy test's groundwork: the pinned Uppy bundles, and in headless Chromium (Debian's, driven
// by puppeteer-core) the bundle loads and builds an Uppy whose S3 plugin is in Companion mode
// against the broker. Skipped, with the reason, only when no Chromium is installed.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundle } from '../scripts/bundle.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const missing = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM}${process.env.KIT_BROWSER_UNAVAILABLE ? ` (${process.env.KIT_BROWSER_UNAVAILABLE})` : ''}: install Debian's chromium package (bash .ci/run does) or set CHROMIUM_PATH`;
if (missing) console.log(`# SKIPPING the Uppy browser tests: ${missing}`);

export const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let browser;
let profile;
after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the pinned Uppy bundles into one script', async () => {
  const file = await bundle();
  const text = readFileSync(file, 'utf8');
  assert.ok(text.length > 50_000, `${text.length} bytes`);
  assert.match(text, /companionEndpoint/);
  assert.match(text, /stsBrokerUppy/);
});

test('the bundle builds an Uppy in Companion mode in Chromium', { skip: missing }, async () => {
  const file = await bundle();
  const puppeteer = (await import('puppeteer-core')).default;
  profile = mkdtempSync(path.join(tmpdir(), 'uppy-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, args: FLAGS, userDataDir: profile, timeout: 60_000,
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setContent('<!doctype html><title>uppy</title>');
  await page.addScriptTag({ content: readFileSync(file, 'utf8') });
  const plugin = await page.evaluate(() => {
    const uppy = window.stsBrokerUppy.makeUppy({ companionEndpoint: 'http://127.0.0.1:9', threshold: 5 * 1024 * 1024 });
    const s3 = uppy.getPlugin('AwsS3');
    return { id: s3?.id, type: s3?.type };
  });
  assert.deepEqual(plugin, { id: 'AwsS3', type: 'uploader' });
  assert.deepEqual(errors, []);
});
