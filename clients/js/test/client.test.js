// The kit without a broker: file names to extensions, unique keys, the credential cache against a
// fake broker on an injected clock, broker errors, outages, and the mini-program request adapter.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  createPostForm, getCredential, extensionOf, newObjectKey, requestFetch, parseOssError,
  objectUrl, BrokerError,
} from '../src/index.js';

test('extensions are kept, lower-cased and sanitised', () => {
  const cases = {
    'IMG_0001.JPG': '.jpg',
    'photo.jpeg': '.jpeg',
    'archive.tar.gz': '.gz',
    'wxfile://tmp_3f9a.png': '.png',
    'http://tmp/abc.def.webp': '.webp',
    'https://usr/x.heic?size=3#frag': '.heic',
    'C:\\Users\\me\\scan.PDF': '.pdf',
    'noext': '',
    '.bashrc': '',
    'trailing.': '',
    'dir.d/file': '',
    'evil.<script>': '.script',
    'x.p%68p': '.p68p',
    'a.../../etc': '',
    'long.abcdefghijklmnop': '.abcdefghij',
    '图片.图片': '',
    '': '',
  };
  for (const [name, ext] of Object.entries(cases)) assert.equal(extensionOf(name), ext, name);
  assert.equal(extensionOf(undefined), '');
  assert.equal(extensionOf(42), '');
});

test('keys are unique, under dir, and carry the extension', () => {
  const keys = new Set();
  for (let i = 0; i < 5000; i += 1) keys.add(newObjectKey('uploads/alice/', 'a.PNG', 1_700_000_000_000));
  assert.equal(keys.size, 5000);
  for (const k of keys) assert.match(k, /^uploads\/alice\/[0-9a-z]+-[0-9a-z]{2}[0-9a-f]{16}\.png$/);
});

/** A fake broker: answers /getToken with a token read on `serverClock`, counting requests. */
function fakeBroker({ serverClock, status = () => 200, refreshInMs = 3000_000 }) {
  const calls = [];
  let serial = 0;
  const fetch = async (url, init) => {
    calls.push({ url, headers: init.headers });
    const s = status(calls.length);
    if (s !== 200) {
      return new Response(JSON.stringify({ code: 'sts-unavailable', message: 'try later', request_id: 'r-1' }), {
        status: s, headers: { 'retry-after': '7', 'content-type': 'application/json' },
      });
    }
    serial += 1;
    const now = serverClock();
    const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    return Response.json({
      Code: 'Success',
      AccessKeyId: `STS.key${serial}`,
      AccessKeySecret: `secret-${serial}`,
      SecurityToken: `token-${serial}`,
      Expiration: iso(now + 3600_000),
      Bucket: 'b', Region: 'cn-hangzhou', Host: 'https://b.example', Dir: 'uploads/alice/',
      ServerTime: iso(now),
      RefreshAfter: iso(now + refreshInMs),
    });
  };
  return { fetch, calls };
}

test('the credential is cached until RefreshAfter on the broker\'s clock, then fetched again', async () => {
  let device = Date.UTC(2030, 0, 1, 8); // the device is two hours ahead of the broker
  const serverClock = () => device - 2 * 3600_000;
  const broker = fakeBroker({ serverClock });
  const opts = { brokerUrl: 'https://broker.example/', fetch: broker.fetch, now: () => device, cache: new Map() };
  const first = await createPostForm({ ...opts, filename: 'a.jpg' });
  assert.equal(broker.calls.length, 1);
  assert.equal(broker.calls[0].url, 'https://broker.example/getToken');
  // Signed on the broker's clock, not the device's.
  assert.equal(first.fields['x-oss-date'], '20300101T060000Z');
  device += 3000_000 - 1000;
  const second = await createPostForm({ ...opts, filename: 'b.jpg' });
  assert.equal(broker.calls.length, 1, 'cached before RefreshAfter');
  assert.equal(second.fields['x-oss-credential'].split('/')[0], 'STS.key1');
  assert.notEqual(second.key, first.key);
  device += 2000;
  const third = await createPostForm({ ...opts, filename: 'c.jpg' });
  assert.equal(broker.calls.length, 2, 'fetched again after RefreshAfter');
  assert.equal(third.fields['x-oss-credential'].split('/')[0], 'STS.key2');
});

test('concurrent forms share one /getToken; other callers get their own credential', async () => {
  const broker = fakeBroker({ serverClock: Date.now });
  const cache = new Map();
  const base = { brokerUrl: 'https://broker.example', fetch: broker.fetch, cache };
  const alice = { ...base, headers: { Authorization: 'Bearer alice' } };
  const forms = await Promise.all(Array.from({ length: 10 }, () => createPostForm(alice)));
  assert.equal(broker.calls.length, 1);
  assert.equal(new Set(forms.map((f) => f.key)).size, 10);
  assert.equal(broker.calls[0].headers.Authorization, 'Bearer alice');
  await createPostForm({ ...base, headers: { Authorization: 'Bearer bob' } });
  assert.equal(broker.calls.length, 2);
  for (const key of cache.keys()) assert.ok(!key.includes('alice') && !key.includes('bob'), 'cache slots hash the headers');
});

test('a broker error carries its code, status, request id and Retry-After', async () => {
  const broker = fakeBroker({ serverClock: Date.now, status: () => 503 });
  await assert.rejects(
    createPostForm({ brokerUrl: 'https://broker.example', fetch: broker.fetch, cache: new Map() }),
    (e) => e instanceof BrokerError && e.status === 503 && e.code === 'sts-unavailable'
      && e.requestId === 'r-1' && e.retryAfter === 7 && /getToken answered 503/.test(e.message),
  );
  await assert.rejects(
    createPostForm({ brokerUrl: 'https://broker.example', fetch: async () => { throw new Error('offline'); }, cache: new Map() }),
    (e) => e instanceof BrokerError && e.code === 'network',
  );
  await assert.rejects(
    createPostForm({ brokerUrl: 'x', fetch: async () => Response.json({ Code: 'Success' }), cache: new Map() }),
    (e) => e instanceof BrokerError && e.code === 'malformed' && /AccessKeyId/.test(e.message),
  );
  await assert.rejects(createPostForm({ mode: 'bogus', fetch: broker.fetch }), /unknown mode/);
});

test('through a broker outage a cached credential is used while it is still valid', async () => {
  let device = Date.UTC(2030, 0, 1, 8);
  const broker = fakeBroker({ serverClock: () => device, status: (n) => (n === 1 ? 200 : 503) });
  const opts = { brokerUrl: 'https://b', fetch: broker.fetch, now: () => device, cache: new Map() };
  await createPostForm(opts);
  device += 3000_000 + 1000; // past RefreshAfter, 10 minutes before Expiration
  const during = await createPostForm(opts);
  assert.equal(broker.calls.length, 2);
  assert.equal(during.fields['x-oss-credential'].split('/')[0], 'STS.key1');
  device += 590_000; // under a minute left: no longer worth handing out
  await assert.rejects(createPostForm(opts), (e) => e.status === 503);
});

test('server mode posts the broker\'s fields as given, key first', async () => {
  const params = {
    host: 'https://b.example', dir: 'uploads/alice/', expire: 1900000000, policy: 'cG9saWN5',
    'x-oss-signature-version': 'OSS4-HMAC-SHA256', 'x-oss-credential': 'STS.k/20300101/cn-hangzhou/oss/aliyun_v4_request',
    'x-oss-date': '20300101T000000Z', 'x-oss-signature': 'ab', 'x-oss-security-token': 't', success_action_status: '200',
  };
  const seen = [];
  const form = await createPostForm({
    brokerUrl: 'https://broker.example', mode: 'server', filename: 'Movie.MP4', contentType: 'video/mp4',
    fetch: async (url) => { seen.push(url); return Response.json(params); },
  });
  assert.deepEqual(seen, ['https://broker.example/getPostObjectParams']);
  assert.equal(form.url, 'https://b.example');
  assert.match(form.key, /^uploads\/alice\/.+\.mp4$/);
  assert.deepEqual(Object.keys(form.fields), [
    'key', 'policy', 'x-oss-signature-version', 'x-oss-credential', 'x-oss-date', 'x-oss-signature',
    'x-oss-security-token', 'success_action_status', 'Content-Type',
  ]);
});

test('requestFetch adapts my.request and wx.request, HTTP errors included', async () => {
  const token = { AccessKeyId: 'STS.x' };
  // Alipay: `headers` in, `status`/`headers` out; an HTTP error arrives through `fail`.
  const my = {
    request(o) {
      assert.equal(o.dataType, 'text');
      assert.deepEqual(o.headers, { Authorization: 'Bearer a' });
      if (o.url.endsWith('/bad')) o.fail({ error: 19, status: 503, data: '{"code":"sts-unavailable"}', headers: { 'Retry-After': '3' } });
      else if (o.url.endsWith('/down')) o.fail({ error: 12, errorMessage: 'network down' });
      else o.success({ status: 200, data: JSON.stringify(token), headers: { 'X-Request-Id': 'abc' } });
    },
  };
  const f = requestFetch(my);
  const ok = await f('https://b/getToken', { headers: { Authorization: 'Bearer a' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), token);
  assert.equal(ok.headers.get('x-request-id'), 'abc');
  const bad = await f('https://b/bad', { headers: { Authorization: 'Bearer a' } });
  assert.equal(bad.status, 503);
  assert.equal(bad.headers.get('retry-after'), '3');
  await assert.rejects(f('https://b/down', { headers: { Authorization: 'Bearer a' } }), /network down/);
  // WeChat: `header` in, `statusCode`/`header` out; every HTTP status is a success.
  const wx = {
    request(o) {
      assert.deepEqual(o.header, {});
      o.success({ statusCode: 429, data: '{"code":"rate-limited"}', header: { 'retry-after': '9' } });
    },
  };
  const r = await requestFetch(wx)('https://b/getToken');
  assert.equal(r.status, 429);
  assert.equal((await r.json()).code, 'rate-limited');
  assert.throws(() => requestFetch({}), /needs `my` or `wx`/);
});

test('OSS error bodies are parsed; object URLs are encoded per segment', () => {
  const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Invalid according to Policy: Policy expired &amp; gone.</Message>\n  <RequestId>5C3D</RequestId>\n</Error>';
  assert.deepEqual(parseOssError(xml), { code: 'AccessDenied', message: 'Invalid according to Policy: Policy expired & gone.', requestId: '5C3D' });
  assert.deepEqual(parseOssError(''), { code: undefined, message: undefined, requestId: undefined });
  assert.equal(objectUrl('http://h/bucket/', 'uploads/a b/c#d.txt'), 'http://h/bucket/uploads/a%20b/c%23d.txt');
});

test('the kit never writes to the console', () => {
  const dir = new URL('../src/', import.meta.url);
  for (const file of readdirSync(dir)) {
    assert.doesNotMatch(readFileSync(new URL(file, dir), 'utf8'), /\bconsole\s*\./, file);
  }
});

test('getCredential reports the offset it signs with', async () => {
  const device = Date.UTC(2030, 0, 1, 8);
  const broker = fakeBroker({ serverClock: () => device - 3600_000 });
  const c = await getCredential({ brokerUrl: 'b', fetch: broker.fetch, now: () => device, cache: new Map() });
  assert.equal(c.offsetMs, -3600_000);
  assert.equal(c.refreshAtMs, device - 3600_000 + 3000_000);
});
