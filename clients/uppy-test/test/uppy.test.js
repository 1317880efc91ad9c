// The real Uppy (pinned @uppy/core + @uppy/aws-s3 6.3.1, Companion mode) in headless Chromium
// against `sts-broker demo`: a 300 KiB file through `/s3/params` (a server-signed form with the
// broker's key) and a 12 MiB file in 5 MiB parts through `/s3/multipart…`, each read back from
// the bucket equal to what the page made. Skipped, with the reason, only when no Chromium is
// installed.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundle } from '../scripts/bundle.js';
import { startDemo } from '../../js/testing/demo.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const missing = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM}${process.env.KIT_BROWSER_UNAVAILABLE ? ` (${process.env.KIT_BROWSER_UNAVAILABLE})` : ''}: install Debian's chromium package (bash .ci/run does) or set CHROMIUM_PATH`;
if (missing) console.log(`# SKIPPING the Uppy upload test: ${missing}`);

const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const MIB = 1024 * 1024;

/** The bytes the page makes (src/entry.js `bytes`), made again here to compare. */
function bytes(size, seed) {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 1) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

let demo;
let browser;
let profile;
before(async () => {
  if (missing) return;
  demo = await startDemo({ env: { BROKER_MAX_UPLOAD_BYTES: String(32 * MIB) } });
  const puppeteer = (await import('puppeteer-core')).default;
  profile = mkdtempSync(path.join(tmpdir(), 'uppy-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, args: FLAGS, userDataDir: profile, timeout: 60_000,
  });
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('Uppy uploads a form and a 12 MiB file in parts through the broker', { skip: missing, timeout: 120_000 }, async () => {
  const script = readFileSync(await bundle(), 'utf8');
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const requests = [];
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  // A page of the broker's origin; the bucket (the emulator) is another origin, as in production.
  await page.goto(`${demo.brokerUrl}/healthz`);
  await page.addScriptTag({ content: script });
  const files = [
    { name: 'small.bin', type: 'application/octet-stream', size: 300 * 1024, seed: 7 },
    { name: 'Big Video.MP4', type: 'video/mp4', size: 12 * MIB, seed: 11 },
  ];
  const result = await page.evaluate(
    (options) => window.stsBrokerUppy.upload(options),
    { companionEndpoint: demo.brokerUrl, threshold: 5 * MIB, files },
  );
  assert.deepEqual(result.failed, [], JSON.stringify(result.failed));
  assert.equal(result.successful.length, 2);
  assert.deepEqual(errors, []);
  const byName = Object.fromEntries(result.successful.map((f) => [f.name, f]));
  for (const file of files) {
    const uploaded = byName[file.name];
    const url = new URL(uploaded.uploadURL);
    const key = decodeURIComponent(url.pathname.split('/').slice(2).join('/'));
    assert.match(key, /^uploads\/anonymous\/[0-9a-f-]{36}(\.bin|\.mp4)$/, key);
    const stored = Buffer.from(await (await fetch(`${demo.bucketUrl}/${key}`)).arrayBuffer());
    assert.equal(stored.length, file.size, file.name);
    assert.ok(stored.equals(bytes(file.size, file.seed)), `${file.name} differs`);
  }
  // The big file went in three parts (5 + 5 + 2 MiB), each signed by the broker.
  const signs = requests.filter((r) => /GET .*\/s3\/multipart\/[^/]+\/\d+\?key=/.test(r));
  assert.equal(signs.length, 3, requests.join('\n'));
  assert.ok(requests.some((r) => r.startsWith('GET ') && r.includes('/s3/params?')), requests.join('\n'));
  assert.ok(requests.some((r) => /POST .*\/s3\/multipart\/[^/]+\/complete/.test(r)), requests.join('\n'));
});
