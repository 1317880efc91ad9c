// Uploads in parts against a running `sts-broker demo`: on every platform whose request API can PUT
// bytes (a stub platform object with its documented parameter names, WeChat's FileSystemManager
// over the real file system, real requests to the broker and the OSS emulator) and from a page
// (`Blob.slice` + fetch). The object must read back equal under the broker's key; the parts go
// out with no content type (the trap: the request APIs default to application/json, which the
// part URL does not sign); a failed part is retried and, once out of retries, the upload resumes
// from ListParts; abort() leaves no upload; a platform that cannot PUT refuses what no form carries.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as kit from '../src/index.js';
import { startDemo } from '../testing/demo.js';
import { PLATFORM_DOCS, stubPlatform, getOver, withFiles } from '../testing/platforms.js';

const KIB = 1024;
/** 4 parts of 100 KiB, 100 KiB, 100 KiB and 50 KiB above a 200 KiB threshold. */
const SIZES = { size: 350 * KIB, partSize: 100 * KIB, multipartThreshold: 200 * KIB };
const PUT_PLATFORMS = ['alipay', 'wechat', 'qq', 'uni', 'taro'];

let demo;
before(async () => {
  demo = await startDemo({ env: { BROKER_RATE_LIMIT_PER_MINUTE: '100000', BROKER_RATE_LIMIT_BURST: '1000' } });
});
after(async () => {
  await demo?.stop();
});

function tempFile(name, content) {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'kit-parts-')), name);
  writeFileSync(p, content);
  return p;
}

async function readBack(location) {
  const r = await fetch(location);
  return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) };
}

/** The request calls that PUT a part, as the stub recorded them. */
function partPuts(calls) {
  return calls.request.filter((c) => c.method === 'PUT');
}

for (const platform of PUT_PLATFORMS) {
  const { adapter, object, headerParam } = PLATFORM_DOCS[platform];
  test(`${adapter}: above multipartThreshold, ${object} reads ranges and PUTs 4 parts with no content type`, async () => {
    const content = randomBytes(SIZES.size);
    const filePath = tempFile(`clip_${platform}.MP4`, content);
    const { api, calls } = stubPlatform(platform, { get: getOver() });
    withFiles(api, calls);
    const progress = [];
    const created = [];
    const result = await kit[adapter](api, {
      brokerUrl: demo.brokerUrl, filePath, partSize: SIZES.partSize, multipartThreshold: SIZES.multipartThreshold,
      contentType: 'video/mp4', onProgress: (p) => progress.push(p), onUploadCreated: (u) => created.push(u),
    });
    assert.equal(calls.uploadFile.length, 0, 'no form upload');
    assert.match(result.key, /^uploads\/anonymous\/[0-9a-f-]{36}\.mp4$/, 'the broker chose the key');
    assert.deepEqual(created, [{ key: result.key, uploadId: result.uploadId }]);
    assert.deepEqual(calls.readFile.map((r) => [r.position, r.length]).sort((a, b) => a[0] - b[0]),
      [[0, 102400], [102400, 102400], [204800, 102400], [307200, 51200]]);
    const puts = partPuts(calls);
    assert.equal(puts.length, 4);
    // URLs are signed in batches (each worker's first asks for the parts waiting too).
    const signs = calls.request.filter((c) => c.method === 'GET' && c.url.includes('/s3/multipart/'));
    assert.ok(signs.every((c) => c.url.includes('/batch?')), 'the batch route signs');
    assert.ok(signs.length <= 3, `${signs.length} signing requests for 4 parts`);
    for (const put of puts) {
      assert.ok(put.data instanceof ArrayBuffer, 'the part is an ArrayBuffer');
      assert.equal(put.url.startsWith(demo.bucketUrl), true);
      assert.match(put.url, /[?&]partNumber=\d+&/);
      // Explicitly empty: left out, the platform would send application/json.
      assert.equal(put[headerParam]['content-type'], '');
    }
    assert.equal(progress.at(-1).loaded, SIZES.size);
    assert.ok(progress.every((p, i) => i === 0 || p.loaded >= progress[i - 1].loaded), 'progress only grows');
    assert.equal(progress[0].loaded, 0);
    const back = await readBack(result.location);
    assert.equal(back.status, 200);
    assert.ok(back.bytes.equals(content), 'the object reads back equal');
  });
}

test('uploadWithFetch: a Blob above the threshold goes in Blob.slice parts, in parallel, and reads back equal', async () => {
  const content = randomBytes(SIZES.size);
  const puts = [];
  let inFlight = 0;
  let most = 0;
  const counting = async (url, init = {}) => {
    if (init.method === 'PUT') {
      puts.push(init);
      inFlight += 1;
      most = Math.max(most, inFlight);
      try {
        return await fetch(url, init);
      } finally {
        inFlight -= 1;
      }
    }
    return fetch(url, init);
  };
  const progress = [];
  const result = await kit.uploadWithFetch({
    brokerUrl: demo.brokerUrl, file: new Blob([content]), filename: 'big.bin', fetch: counting,
    partSize: SIZES.partSize, multipartThreshold: SIZES.multipartThreshold, concurrency: 2,
    onProgress: (p) => progress.push(p.loaded),
  });
  assert.equal(puts.length, 4);
  assert.ok(puts.every((p) => p.body instanceof Blob && p.body.type === '' && p.headers === undefined), 'no content type');
  assert.ok(most <= 2, `at most 2 parts at once (saw ${most})`);
  assert.equal(progress.at(-1), SIZES.size);
  assert.ok((await readBack(result.location)).bytes.equals(content));
});

test('a part PUT with content-type application/json is refused: the part URL signs no content type', async () => {
  const started = await (await fetch(`${demo.brokerUrl}/s3/multipart`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ filename: 'a.bin', type: 'application/octet-stream', metadata: {} }),
  })).json();
  const q = `key=${encodeURIComponent(started.key)}`;
  const { url } = await (await fetch(`${demo.brokerUrl}/s3/multipart/${started.uploadId}/1?${q}`)).json();
  const json = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: 'x' });
  assert.equal(json.status, 403);
  assert.match(await json.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
  const none = await fetch(url, { method: 'PUT', body: new Blob(['x']) });
  assert.equal(none.status, 200);
  await fetch(`${demo.brokerUrl}/s3/multipart/${started.uploadId}?${q}`, { method: 'DELETE' });
});

/** A `get` whose PUTs of `partNumber` fail with a network error while `failing()` says so. */
function breakingPart(partNumber, failing) {
  const real = getOver();
  return async (url, headers, method, data) => {
    if (method === 'PUT' && new URL(url).searchParams.get('partNumber') === String(partNumber) && failing()) {
      throw { errMsg: 'request:fail timeout', errno: 5 };
    }
    return real(url, headers, method, data);
  };
}

test('uploadWithWechat: a part that keeps failing ends with key and uploadId; resume sends only the missing parts', async () => {
  const content = randomBytes(SIZES.size);
  const filePath = tempFile('resume.bin', content);
  let broken = true;
  const first = stubPlatform('wechat', { get: breakingPart(3, () => broken) });
  withFiles(first.api, first.calls);
  const options = { brokerUrl: demo.brokerUrl, filePath, ...SIZES, retries: 2, retryDelayMs: 5, concurrency: 1 };
  delete options.size;
  const failure = await kit.uploadWithWechat(first.api, options).then(() => assert.fail('part 3 never arrived'), (e) => e);
  assert.ok(failure instanceof kit.UploadError, String(failure));
  assert.equal(failure.code, 'network');
  assert.equal(failure.partNumber, 3);
  assert.match(failure.uploadId, /\S/);
  assert.equal(partPuts(first.calls).filter((c) => c.url.includes('partNumber=3&')).length, 3, 'tried 1 + 2 retries');

  broken = false;
  const second = stubPlatform('wechat', { get: breakingPart(3, () => false) });
  withFiles(second.api, second.calls);
  const result = await kit.uploadWithWechat(second.api, { ...options, resume: { key: failure.key, uploadId: failure.uploadId } });
  assert.equal(result.key, failure.key);
  const sent = partPuts(second.calls).map((c) => new URL(c.url).searchParams.get('partNumber'));
  assert.deepEqual(sent.sort(), ['3', '4'], 'parts 1 and 2 were listed, not sent again');
  assert.ok((await readBack(result.location)).bytes.equals(content));
});

test('a part that fails once is retried and the upload completes', async () => {
  const content = randomBytes(SIZES.size);
  let failures = 1;
  const { api, calls } = stubPlatform('alipay', { get: breakingPart(2, () => failures-- > 0) });
  withFiles(api, calls);
  const result = await kit.uploadWithAlipay(api, {
    brokerUrl: demo.brokerUrl, filePath: tempFile('retry.bin', content), ...SIZES, retryDelayMs: 5,
  });
  assert.equal(partPuts(calls).length, 5);
  assert.ok((await readBack(result.location)).bytes.equals(content));
});

test('abort(): the part in flight stops, the promise rejects with code aborted, and the upload is gone', async () => {
  const content = randomBytes(SIZES.size);
  const real = getOver();
  let started;
  const putStarted = new Promise((resolve) => { started = resolve; });
  const { api, calls } = stubPlatform('wechat', {
    get: async (url, headers, method, data) => {
      if (method === 'PUT') {
        started();
        return new Promise(() => {}); // never answers: only abort() ends it
      }
      return real(url, headers, method, data);
    },
  });
  withFiles(api, calls);
  let upload;
  const running = kit.uploadWithWechat(api, {
    brokerUrl: demo.brokerUrl, filePath: tempFile('abort.bin', content), ...SIZES, onUploadCreated: (u) => { upload = u; },
  });
  await putStarted;
  await running.abort();
  const e = await running.then(() => assert.fail('aborted'), (err) => err);
  assert.equal(e.code, 'aborted');
  assert.equal(e.uploadId, upload.uploadId);
  const listed = await fetch(`${demo.brokerUrl}/s3/multipart/${upload.uploadId}?key=${encodeURIComponent(upload.key)}`);
  assert.equal(listed.status, 404, 'the broker aborted the upload');
  assert.equal((await listed.json()).code, 'no-such-upload');
});

test('a platform that cannot PUT bytes refuses a file over the form limit, and sends a smaller big file as a form', async () => {
  const { api, calls } = stubPlatform('douyin', { get: getOver() });
  withFiles(api, calls);
  const e = await kit.uploadWithDouyin(api, { brokerUrl: demo.brokerUrl, filePath: '/nowhere.mp4', size: 6 * 1024 ** 3 })
    .then(() => assert.fail('over 5 GB'), (err) => err);
  assert.equal(e.code, 'too-large-for-form');
  assert.match(e.message, /5 GB/);
  assert.equal(calls.request.length, 0);
  const result = await kit.uploadWithDouyin(api, {
    brokerUrl: demo.brokerUrl, filePath: tempFile('f.png', randomBytes(SIZES.size)), multipartThreshold: SIZES.multipartThreshold,
  });
  assert.equal(calls.uploadFile.length, 1);
  assert.equal(result.status, 200);
});
