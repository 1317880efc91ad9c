// Every mini-program adapter end to end against a running `sts-broker demo`: a stub platform
// object (testing/platforms.js) checks the platform's exact uploadFile and request parameters,
// then really posts the multipart form to the OSS emulator and really asks the broker, in
// callback style and in promise style, in both modes. The object must land under Dir and read
// back. Also: refusals keep OSS's code on every platform, and WeChat-style queueing keeps at most
// 10 uploads in flight per platform object while all of them land.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as kit from '../src/index.js';
import { startDemo } from '../testing/demo.js';
import { PLATFORM_DOCS, PLATFORM_NAMES, stubPlatform, getOver, postMultipart } from '../testing/platforms.js';

let demo;
before(async () => {
  // Many uploads from one anonymous caller: lift the demo's default 60/min, burst 10.
  demo = await startDemo({ env: { BROKER_RATE_LIMIT_PER_MINUTE: '100000', BROKER_RATE_LIMIT_BURST: '1000' } });
});
after(async () => {
  await demo?.stop();
});

function tempFile(name, content) {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'kit-adapters-')), name);
  writeFileSync(p, content);
  return p;
}

async function readBack(location) {
  const r = await fetch(location);
  return { status: r.status, text: await r.text() };
}

for (const platform of PLATFORM_NAMES) {
  const { adapter, object } = PLATFORM_DOCS[platform];
  for (const style of ['callback', 'promise']) {
    for (const mode of ['sts', 'server']) {
      test(`${adapter} (${style} style, ${mode}): ${object}.uploadFile with its own parameter names lands under Dir`, async () => {
        const content = `${platform} ${style} ${mode} bytes`;
        const filePath = tempFile(`tmp_${platform}.PNG`, content);
        const { api, calls } = stubPlatform(platform, { style, get: getOver() });
        const result = await kit[adapter](api, {
          brokerUrl: demo.brokerUrl, filePath, mode, cache: new Map(),
          // A header of the app's own reaches the broker; ones a platform refuses never go out.
          headers: { 'X-Trace': platform, 'User-Agent': 'app/1.0', Referer: 'https://app.example/' },
        });
        assert.equal(calls.uploadFile.length, 1);
        assert.equal(calls.request.length, 1);
        assert.equal(calls.request[0].url, `${demo.brokerUrl}/${mode === 'sts' ? 'getToken' : 'getPostObjectParams'}`);
        const sent = calls.request[0][PLATFORM_DOCS[platform].headerParam];
        assert.equal(sent['X-Trace'], platform);
        assert.equal(sent.Referer, undefined, 'no platform lets a mini program set Referer');
        assert.equal(calls.uploadFile[0].url, demo.bucketUrl);
        assert.equal(calls.uploadFile[0].filePath, filePath);
        assert.equal(result.status, 200);
        assert.equal(result.key, calls.uploadFile[0].formData.key);
        assert.match(result.key, /^uploads\/anonymous\/[0-9a-z]+-[0-9a-z]{2}[0-9a-f]{16}\.png$/);
        assert.equal(result.callback, undefined, 'no callback without a profile that has one');
        assert.deepEqual(await readBack(result.location), { status: 200, text: content });
      });
    }
  }

  test(`${adapter}: OSS's refusal keeps its code (a key outside Dir is AccessDenied)`, async () => {
    const filePath = tempFile('a.jpg', 'x');
    const outside = (args) => postMultipart({ ...args, formData: { ...args.formData, key: 'uploads/other/a.jpg' } });
    for (const style of ['callback', 'promise']) {
      const { api } = stubPlatform(platform, { style, get: getOver(), post: outside });
      await assert.rejects(kit[adapter](api, { brokerUrl: demo.brokerUrl, filePath, cache: new Map() }), (e) => {
        assert.ok(e instanceof kit.UploadError, String(e));
        assert.deepEqual([e.status, e.code], [403, 'AccessDenied']);
        assert.ok(e.requestId);
        return true;
      });
    }
  });
}

test('at most 10 uploads are in flight per platform object; the rest queue and all land', async () => {
  const filePath = tempFile('q.txt', 'queued');
  let inFlight = 0;
  let most = 0;
  const post = async (args) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    try {
      await new Promise((r) => setTimeout(r, 20));
      return await postMultipart(args);
    } finally {
      inFlight -= 1;
    }
  };
  const cache = new Map();
  const { api: wx, calls } = stubPlatform('wechat', { get: getOver(), post });
  const results = await Promise.all(Array.from({ length: 25 }, () => kit.uploadWithWechat(wx, {
    brokerUrl: demo.brokerUrl, filePath, cache,
  })));
  assert.equal(most, 10);
  assert.equal(calls.uploadFile.length, 25);
  assert.equal(new Set(results.map((r) => r.key)).size, 25);
  for (const r of results) assert.equal(r.status, 200);
  assert.equal((await readBack(results[24].location)).text, 'queued');

  // Another platform object has its own 10; a failing upload gives its slot back.
  most = 0;
  const { api: other } = stubPlatform('wechat', { get: getOver(), post });
  const { api: broken } = stubPlatform('wechat', {
    get: getOver(),
    post: async () => { throw { errMsg: 'uploadFile:fail timeout' }; },
  });
  const failures = await Promise.allSettled(Array.from({ length: 12 }, () => kit.uploadWithWechat(broken, {
    brokerUrl: demo.brokerUrl, filePath, cache,
  })));
  assert.ok(failures.every((f) => f.status === 'rejected' && f.reason.code === 'network'));
  await Promise.all([
    ...Array.from({ length: 10 }, () => kit.uploadWithWechat(wx, { brokerUrl: demo.brokerUrl, filePath, cache })),
    ...Array.from({ length: 10 }, () => kit.uploadWithWechat(other, { brokerUrl: demo.brokerUrl, filePath, cache })),
    kit.uploadWithWechat(broken, { brokerUrl: demo.brokerUrl, filePath, cache }).catch((e) => e),
  ]);
  assert.equal(most, 20);
});
