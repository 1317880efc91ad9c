// What the demo page says after an upload, in a real headless Chromium (as browser.test.js): the
// requests the kit made (to the broker, then straight to the bucket), until when the credential
// or the form is valid, that the bucket lives in the demo's memory, and for a file too large the
// form's size limit. Skipped, with the reason, only when no Chromium is installed.
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
if (missing) console.log(`# SKIPPING the demo page story test: ${missing}`);

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

async function upload(page, mode, name, buffer) {
  await page.check(`input[name=mode][value=${mode}]`);
  await page.setInputFiles('#file', { name, mimeType: 'text/plain', buffer });
  await page.click('#upload');
  const outcome = await page.waitForSelector('#upload-ok, #upload-error', { timeout: 30_000 });
  return { ok: (await outcome.getAttribute('id')) === 'upload-ok', text: await outcome.innerText() };
}

const steps = (page) => page.$$eval('#requests li', (items) => items.map((li) => li.textContent));

test('the demo page says what each upload did', { skip: missing }, async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${demo.brokerUrl}/demo`);
  const intro = await page.textContent('body');
  assert.match(intro, /two requests/);
  assert.match(intro, /kept in\s+its memory/);

  // sts: the credential from /getToken, then the post straight to the bucket.
  let outcome = await upload(page, 'sts', 'a.txt', Buffer.from('a\n'));
  assert.ok(outcome.ok, outcome.text);
  let said = await steps(page);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0], /^GET \/getToken to this broker, HTTP 200: the broker got a temporary credential .* limited to writing under uploads\/anonymous\/, valid until .* \(in 60 minutes\)/);
  assert.match(said[1], new RegExp(`^POST the form and the file to ${demo.bucketUrl}, HTTP 200: the file went straight to the bucket; the broker never saw it`));
  assert.match(await page.textContent('#bucket'), /^demo-bucket, .*kept in its memory: objects are gone when the demo stops$/);
  // Read back through a signed download URL (GET /getObjectUrl, not one of the upload's requests).
  const signed = await page.getAttribute('#signed-url', 'href');
  assert.ok(signed.startsWith(`${demo.bucketUrl}/uploads/anonymous/`), signed);
  assert.match(signed, /x-oss-signature-version=OSS4-HMAC-SHA256&.*x-oss-signature=[0-9a-f]{64}$/);
  assert.match(signed, /response-content-disposition=attachment/);
  assert.equal(await (await fetch(signed)).text(), 'a\n');

  // Again: the kit reuses its credential, so only the post is made.
  outcome = await upload(page, 'sts', 'b.txt', Buffer.from('b\n'));
  assert.ok(outcome.ok, outcome.text);
  said = await steps(page);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0], /^No request to the broker: the kit reused the credential .* valid until /);
  assert.match(said[1], /^POST the form and the file to /);

  // An image: a thumbnail through the demo's allowed x-oss-process, loaded by the browser.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
  await page.check('input[name=mode][value=sts]');
  await page.setInputFiles('#file', { name: 'dot.png', mimeType: 'image/png', buffer: png });
  await page.click('#upload');
  await page.waitForSelector('#thumbnail', { timeout: 30_000 });
  const thumbnail = await page.getAttribute('#thumbnail', 'src');
  assert.match(thumbnail, /x-oss-process=image%2Fresize%2Cw_200&/);
  const loaded = await page.$eval('#thumbnail', (img) => img.decode().then(() => img.naturalWidth));
  assert.equal(loaded, 1);

  // server: the broker signs the form and keeps the credential.
  outcome = await upload(page, 'server', 'c.txt', Buffer.from('c\n'));
  assert.ok(outcome.ok, outcome.text);
  said = await steps(page);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0], /^GET \/getPostObjectParams to this broker, HTTP 200: the broker signed an upload form for uploads\/anonymous\/ with a temporary credential it keeps to itself; the form is valid until .* \(in 10 minutes\)/);

  // Too large for the broker's form: the page names the limit and who set it.
  const limit = 10 * 1024 * 1024;
  outcome = await upload(page, 'server', 'big.bin', Buffer.alloc(limit + 1, 0x61));
  assert.ok(!outcome.ok, outcome.text);
  assert.equal(await page.textContent('#error-code'), 'EntityTooLarge');
  assert.equal(
    await page.textContent('#size-limit'),
    `the form accepts files of 1 byte to ${limit} bytes (10 MiB), set by the broker's BROKER_MAX_UPLOAD_BYTES; this file has ${limit + 1} bytes`,
  );
  // The same for the callback profile's form, which the broker signs too.
  outcome = await upload(page, 'callback', 'big.bin', Buffer.alloc(limit + 1, 0x61));
  assert.ok(!outcome.ok, outcome.text);
  assert.equal(await page.textContent('#error-code'), 'EntityTooLarge');
  assert.equal(
    await page.textContent('#size-limit'),
    `the form accepts files of 1 byte to ${limit} bytes (10 MiB), set by the broker, for the with-callback profile (its max_upload_bytes, else BROKER_MAX_UPLOAD_BYTES); this file has ${limit + 1} bytes`,
  );
  // And for the page's own form (sts mode), the kit's limit.
  outcome = await upload(page, 'sts', 'empty.txt', Buffer.alloc(0));
  assert.ok(!outcome.ok, outcome.text);
  assert.equal(await page.textContent('#error-code'), 'EntityTooSmall');
  assert.match(await page.textContent('#size-limit'), /^the form accepts files of 1 byte to 10485760 bytes \(10 MiB\), set by the kit's maxBytes option; this file has 0 bytes$/);

  // parts: 6 MiB in two parts, each signed by the broker and PUT straight to the bucket.
  const big = Buffer.alloc(6 * 1024 * 1024, 0x62);
  outcome = await upload(page, 'parts', 'big.bin', big);
  assert.ok(outcome.ok, outcome.text);
  said = await steps(page);
  assert.match(said[0], /^POST \/s3\/multipart to this broker, HTTP 200/);
  assert.equal(said.filter((s) => /^PUT part \d straight to the bucket with the URL the broker signed for it, HTTP 200\.$/.test(s)).length, 2, said.join('\n'));
  assert.match(said.at(-1), /^POST \/s3\/multipart\/[^/]+\/complete to this broker, HTTP 200/);
  assert.equal(await page.textContent('#progress-text'), '6291456 bytes (6 MiB) of 6291456 bytes (6 MiB) (100%)');
  const stored = await fetch(await page.getAttribute('#read-back', 'href'));
  assert.ok(Buffer.from(await stored.arrayBuffer()).equals(big), 'the object reads back equal');

  // Nothing secret on the page.
  const token = await (await fetch(`${demo.brokerUrl}/getToken`)).json();
  const html = await page.content();
  for (const secret of [token.AccessKeySecret, token.SecurityToken]) assert.ok(!html.includes(secret), 'the page shows a secret');
  assert.deepEqual(errors, []);

  // The page's icon is served, so a page view logs no refused request.
  const icon = await page.goto(`${demo.brokerUrl}/favicon.ico`);
  assert.equal(icon.status(), 200);
  assert.ok(!demo.output.join('').includes('favicon'), demo.output.join(''));
});
