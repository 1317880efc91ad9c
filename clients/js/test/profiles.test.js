// Upload profiles and upload callbacks, client side, against a stub broker + OSS on loopback
// (node:http; the real broker does not serve profiles yet). `profile` adds `?profile=<name>` to
// /getToken and /getPostObjectParams and gets its own cached credential; a server-signed form
// with a `callback` field is posted as given (its `profile` name is not); OSS's 200 with the
// app's JSON is the result's `callback`, its 203 CallbackFailed a CallbackFailedError, from a
// page (real fetch + FormData) and from every mini-program adapter (stub object, real POST).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as kit from '../src/index.js';
import { PLATFORM_DOCS, PLATFORM_NAMES, stubPlatform, getOver } from '../testing/platforms.js';

const { createPostForm, uploadWithFetch, BrokerError, UploadError, CallbackFailedError } = kit;

const CALLBACK = Buffer.from(JSON.stringify({ callbackUrl: 'https://broker.example/ossCallback', callbackBody: 'grant=…' })).toString('base64');
const APP_ANSWER = { url: 'https://app.example/avatars/alice/a.jpg', moderated: true };

let server;
let baseUrl;
const requests = [];
const posts = [];
/** What the stub OSS answers a POST with: 'answer' (200 + app JSON), 'text', 'failed' (203), 'plain' (204). */
let ossMode = 'answer';

function iso(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

async function handle(req, res) {
  const url = new URL(req.url, baseUrl);
  const send = (status, body, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type, 'x-request-id': 'req-1' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  if (req.method === 'GET') {
    requests.push(`${url.pathname}${url.search}`);
    const profile = url.searchParams.get('profile');
    if (url.searchParams.has('profile') && !/^[a-z0-9-]{1,32}$/.test(profile)) {
      return send(400, { code: 'unknown-profile', message: 'no such profile', request_id: 'r-400' });
    }
    if (url.pathname === '/getToken') {
      if (profile === 'avatar') return send(403, { code: 'server-signing-only', message: 'this profile has a callback', request_id: 'r-403' });
      const now = Date.now();
      return send(200, {
        Code: 'Success', AccessKeyId: 'STS.k', AccessKeySecret: 's', SecurityToken: 't', Expiration: iso(now + 3600_000),
        Bucket: 'b', Region: 'cn-hangzhou', Host: `${baseUrl}/oss`, Dir: `${profile ?? 'uploads'}/alice/`,
        ServerTime: iso(now), RefreshAfter: iso(now + 3000_000),
        Profile: url.searchParams.get('answer-as') ?? profile ?? 'default',
      });
    }
    if (url.pathname === '/getPostObjectParams') {
      const fields = {
        host: `${baseUrl}/oss`, dir: `${profile ?? 'uploads'}/alice/`, expire: Math.floor(Date.now() / 1000) + 600,
        policy: 'cG9saWN5', 'x-oss-signature-version': 'OSS4-HMAC-SHA256',
        'x-oss-credential': 'STS.k/20300101/cn-hangzhou/oss/aliyun_v4_request', 'x-oss-date': '20300101T000000Z',
        'x-oss-signature': 'ab', 'x-oss-security-token': 'CAIS-token-0123456789abcdef', success_action_status: '200',
        profile: profile ?? 'default',
      };
      if (profile === 'avatar') fields.callback = CALLBACK;
      return send(200, fields);
    }
  }
  if (req.method === 'POST' && url.pathname === '/oss') {
    const form = await new Request(url, { method: 'POST', headers: req.headers, body: Readable.toWeb(req), duplex: 'half' }).formData();
    const names = [...form.keys()];
    posts.push({ names, fields: Object.fromEntries([...form].filter(([k]) => k !== 'file')), file: await form.get('file')?.text() });
    if (ossMode === 'answer') return send(200, APP_ANSWER);
    if (ossMode === 'text') return send(200, 'thanks', 'text/plain');
    if (ossMode === 'plain') return send(204, '');
    return send(203, '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>CallbackFailed</Code><Message>Error status : 502.</Message><RequestId>6A1F</RequestId><HostId>b.oss-cn-hangzhou.aliyuncs.com</HostId><EC>0007-00000203</EC></Error>', 'application/xml');
  }
  return send(404, { code: 'not-found' });
}

before(async () => {
  server = createServer((req, res) => {
    handle(req, res).catch((e) => { res.writeHead(500); res.end(String(e)); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
});
after(() => new Promise((r) => server.close(r)));

function tempFile(name, content) {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'kit-profiles-')), name);
  writeFileSync(p, content);
  return p;
}

test('sts mode: ?profile= on /getToken, one cached credential per profile, the default without it', async () => {
  requests.length = 0;
  const cache = new Map();
  const opts = { brokerUrl: baseUrl, cache };
  const docs1 = await createPostForm({ ...opts, profile: 'docs', filename: 'a.pdf' });
  const docs2 = await createPostForm({ ...opts, profile: 'docs', filename: 'b.pdf' });
  const pics = await createPostForm({ ...opts, profile: 'pics', filename: 'c.png' });
  const plain = await createPostForm({ ...opts, filename: 'd.txt' });
  assert.deepEqual(requests, ['/getToken?profile=docs', '/getToken?profile=pics', '/getToken']);
  assert.match(docs1.key, /^docs\/alice\/.+\.pdf$/);
  assert.match(docs2.key, /^docs\/alice\/.+\.pdf$/);
  assert.match(pics.key, /^pics\/alice\/.+\.png$/);
  assert.match(plain.key, /^uploads\/alice\/.+\.txt$/);
  assert.equal(cache.size, 3);
  assert.ok([...cache.keys()].every((k) => !k.includes('alice')));
});

test('profile names are percent-encoded and left to the broker to judge', async () => {
  requests.length = 0;
  await assert.rejects(createPostForm({ brokerUrl: baseUrl, profile: 'a b&c=d', cache: new Map() }),
    (e) => e instanceof BrokerError && e.status === 400 && e.code === 'unknown-profile');
  await assert.rejects(createPostForm({ brokerUrl: baseUrl, mode: 'server', profile: '', cache: new Map() }),
    (e) => e instanceof BrokerError && e.code === 'unknown-profile' && /getPostObjectParams answered 400/.test(e.message));
  assert.deepEqual(requests, ['/getToken?profile=a%20b%26c%3Dd', '/getPostObjectParams?profile=']);
  await assert.rejects(createPostForm({ brokerUrl: baseUrl, profile: 7 }), (e) => e instanceof TypeError && /profile must be a string/.test(e.message));
});

test('a profile with a callback is server-signing-only on /getToken: a BrokerError with that code', async () => {
  await assert.rejects(createPostForm({ brokerUrl: baseUrl, profile: 'avatar', cache: new Map() }), (e) => {
    assert.ok(e instanceof BrokerError);
    assert.deepEqual([e.status, e.code, e.requestId], [403, 'server-signing-only', 'r-403']);
    return true;
  });
});

test('an answer for another profile than the one asked for is malformed', async () => {
  // The stub names the profile `answer-as` says, as a cache that dropped the query might.
  const fetchAs = (as) => (url, init) => fetch(`${url}${url.includes('?') ? '&' : '?'}answer-as=${as}`, init);
  await assert.rejects(createPostForm({ brokerUrl: baseUrl, profile: 'docs', fetch: fetchAs('default'), cache: new Map() }),
    (e) => e instanceof BrokerError && e.code === 'malformed' && /for profile default, not docs/.test(e.message));
  await assert.rejects(createPostForm({ brokerUrl: baseUrl, fetch: fetchAs('docs'), cache: new Map() }),
    (e) => e instanceof BrokerError && e.code === 'malformed');
});

test('server mode: ?profile= on /getPostObjectParams; the callback field is posted, the profile name is not', async () => {
  requests.length = 0;
  const form = await createPostForm({ brokerUrl: baseUrl, mode: 'server', profile: 'avatar', filename: 'me.JPG' });
  assert.deepEqual(requests, ['/getPostObjectParams?profile=avatar']);
  assert.match(form.key, /^avatar\/alice\/.+\.jpg$/);
  assert.equal(form.fields.callback, CALLBACK);
  for (const meta of ['host', 'dir', 'expire', 'profile']) assert.equal(form.fields[meta], undefined, meta);
});

test('a page upload: the app\'s answer is `callback`; 203 is a CallbackFailedError (the object was stored)', async () => {
  const file = new File(['avatar bytes'], 'me.jpg', { type: 'image/jpeg' });
  posts.length = 0;
  ossMode = 'answer';
  const result = await uploadWithFetch({ brokerUrl: baseUrl, mode: 'server', profile: 'avatar', file });
  assert.deepEqual(result.callback, APP_ANSWER);
  assert.equal(result.status, 200);
  assert.equal(result.location, `${baseUrl}/oss/${result.key}`);
  assert.equal(posts[0].names.at(-1), 'file');
  assert.equal(posts[0].names[0], 'key');
  assert.equal(posts[0].fields.callback, CALLBACK);
  assert.equal(posts[0].fields.profile, undefined);
  assert.equal(posts[0].file, 'avatar bytes');

  ossMode = 'text';
  assert.equal((await uploadWithFetch({ brokerUrl: baseUrl, mode: 'server', profile: 'avatar', file })).callback, 'thanks');

  // Without a callback in the form there is no `callback`, whatever the body.
  ossMode = 'answer';
  const noCallback = await uploadWithFetch({ brokerUrl: baseUrl, mode: 'server', profile: 'docs', file });
  assert.equal('callback' in noCallback, false);

  ossMode = 'failed';
  await assert.rejects(uploadWithFetch({ brokerUrl: baseUrl, mode: 'server', profile: 'avatar', file }), (e) => {
    assert.ok(e instanceof CallbackFailedError);
    assert.ok(e instanceof UploadError, 'a catch-all for UploadError still sees it');
    assert.deepEqual([e.code, e.status, e.stored, e.requestId], ['CallbackFailed', 203, true, '6A1F']);
    assert.match(e.key, /^avatar\/alice\//);
    assert.equal(e.location, `${baseUrl}/oss/${e.key}`);
    assert.match(e.message, /Error status : 502/);
    return true;
  });
});

for (const platform of PLATFORM_NAMES) {
  const { adapter, object } = PLATFORM_DOCS[platform];
  for (const style of ['callback', 'promise']) {
    test(`${adapter} (${style}): profile, the callback's answer and 203 through ${object}`, async () => {
      const filePath = tempFile('avatar.png', `${platform} avatar`);
      const { api, calls } = stubPlatform(platform, { style, get: getOver() });
      const options = { brokerUrl: baseUrl, mode: 'server', profile: 'avatar', filePath };
      ossMode = 'answer';
      const result = await kit[adapter](api, options);
      assert.equal(calls.request[0].url, `${baseUrl}/getPostObjectParams?profile=avatar`);
      assert.equal(calls.uploadFile[0].formData.callback, CALLBACK);
      assert.equal(calls.uploadFile[0].formData.profile, undefined);
      assert.deepEqual(result.callback, APP_ANSWER);
      assert.equal(posts.at(-1).file, `${platform} avatar`);

      ossMode = 'failed';
      await assert.rejects(kit[adapter](api, options),
        (e) => e instanceof CallbackFailedError && e.code === 'CallbackFailed' && e.stored === true && e.status === 203);

      // sts mode with a plain profile: ?profile= on /getToken through the platform's request API.
      ossMode = 'plain';
      const sts = await kit[adapter](api, { brokerUrl: baseUrl, profile: 'docs', filePath, cache: new Map() });
      assert.equal(calls.request.at(-1).url, `${baseUrl}/getToken?profile=docs`);
      assert.deepEqual([sts.status, 'callback' in sts], [204, false]);
      assert.match(sts.key, /^docs\/alice\/.+\.png$/);
    });
  }
}
