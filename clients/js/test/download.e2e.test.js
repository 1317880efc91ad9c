// Signed download URLs end to end against a running `sts-broker demo`: an upload read back byte
// for byte through getUrl and getUrls, from a page (fetch) and through every mini-program
// adapter's request API (stub platforms that really ask the broker); a key outside the caller's
// Dir is refused with the broker's code and nothing is signed.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as kit from '../src/index.js';
import { startDemo } from '../testing/demo.js';
import { PLATFORM_DOCS, PLATFORM_NAMES, stubPlatform, getOver } from '../testing/platforms.js';

let demo;
let keys;
before(async () => {
  demo = await startDemo({ env: { BROKER_RATE_LIMIT_PER_MINUTE: '100000', BROKER_RATE_LIMIT_BURST: '1000' } });
  keys = [];
  for (const text of ['first file\n', 'second file\n']) {
    const file = new Blob([text], { type: 'text/plain' });
    const result = await kit.uploadWithFetch({ brokerUrl: demo.brokerUrl, file, filename: 'a.txt', cache: new Map() });
    keys.push(result.key);
  }
});
after(async () => {
  await demo?.stop();
});

const read = async (url) => (await fetch(url)).text();

test('a page reads its uploads back through getUrl and getUrls', async () => {
  const one = await kit.getUrl(keys[0], { brokerUrl: demo.brokerUrl, filename: 'report.txt', expires: 120 });
  assert.equal(one.key, keys[0]);
  assert.equal(one.profile, 'default');
  assert.ok(one.url.startsWith(`${demo.bucketUrl}/uploads/anonymous/`), one.url);
  assert.match(one.url, /x-oss-expires=120&/);
  const response = await fetch(one.url);
  assert.equal(await response.text(), 'first file\n');
  assert.equal(response.headers.get('content-disposition'), "attachment; filename*=UTF-8''report.txt");
  const many = await kit.uploadWithFetch.getUrls(keys, { brokerUrl: demo.brokerUrl, process: 'image/resize,w_200' });
  assert.deepEqual(many.urls.map((u) => u.key), keys);
  assert.deepEqual(await Promise.all(many.urls.map((u) => read(u.url))), ['first file\n', 'second file\n']);
  assert.equal((await fetch(many.urls[0].url)).headers.get('x-emulator-oss-process'), 'image/resize,w_200');
});

test('a key outside the caller\'s Dir, or a process not allowed, is refused with the broker\'s code', async () => {
  await assert.rejects(
    kit.getUrl('uploads/someone-else/x.txt', { brokerUrl: demo.brokerUrl }),
    (e) => e instanceof kit.BrokerError && e.status === 403 && e.code === 'key-outside-prefix',
  );
  await assert.rejects(
    kit.getUrls([keys[0], 'uploads/anonymous/../x'], { brokerUrl: demo.brokerUrl }),
    (e) => e instanceof kit.BrokerError && e.status === 400 && e.code === 'invalid-key',
  );
  await assert.rejects(
    kit.getUrl(keys[0], { brokerUrl: demo.brokerUrl, process: 'image/resize,w_9999' }),
    (e) => e instanceof kit.BrokerError && e.code === 'process-not-allowed',
  );
});

for (const platform of PLATFORM_NAMES) {
  const { adapter, object } = PLATFORM_DOCS[platform];
  test(`${adapter}.getUrl and .getUrls ask the broker through ${object}'s request API`, async () => {
    const { api, calls } = stubPlatform(platform, { get: getOver() });
    const one = await kit[adapter].getUrl(api, keys[1], { brokerUrl: demo.brokerUrl });
    assert.equal(await read(one.url), 'second file\n');
    const many = await kit[adapter].getUrls(api, keys, { brokerUrl: demo.brokerUrl });
    assert.deepEqual(many.urls.map((u) => u.key), keys);
    assert.equal(await read(many.urls[0].url), 'first file\n');
    assert.equal(calls.request.length, 2);
    assert.equal(calls.request[1].method, 'POST');
    assert.deepEqual(JSON.parse(calls.request[1].data), { keys });
  });
}
