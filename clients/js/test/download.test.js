// Signed download URLs without a broker: what getUrl/getUrls send (query, JSON body, profile,
// headers), what they refuse before asking, answers that do not match the question, broker
// errors, and every platform adapter's getUrl/getUrls going through that platform's request API.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as kit from '../src/index.js';
import { getUrl, getUrls, BrokerError } from '../src/index.js';

/** A fake broker that answers the download routes as the contract says, recording each call. */
function fakeBroker({ status = 200, answer } = {}) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init });
    if (status !== 200) {
      return Response.json({ code: 'key-outside-prefix', message: 'no', request_id: 'r-9' }, { status });
    }
    const u = new URL(url, 'https://page.example');
    const profile = u.searchParams.get('profile') ?? 'default';
    if (u.pathname === '/getObjectUrl') {
      const key = u.searchParams.get('key');
      return Response.json(answer ?? { url: `https://cdn.example/${key}?x-oss-signature=abc`, key, expire: 1900000000, profile });
    }
    const body = JSON.parse(init.body);
    return Response.json(answer ?? {
      urls: body.keys.map((key) => ({ key, url: `https://cdn.example/${key}?sig` })), expire: 1900000000, profile,
    });
  };
  return { fetch, calls };
}

test('getUrl asks /getObjectUrl with the key, process, filename, expires and profile', async () => {
  const broker = fakeBroker();
  const answer = await getUrl('uploads/alice/a b&c.jpg', {
    brokerUrl: 'https://broker.example/', fetch: broker.fetch, headers: { Authorization: 'Bearer a' },
    process: 'image/resize,w_200', filename: '照片.jpg', expires: 600, profile: 'avatar',
  });
  assert.equal(answer.key, 'uploads/alice/a b&c.jpg');
  assert.equal(answer.expire, 1900000000);
  const { url, init } = broker.calls[0];
  const sent = new URL(url);
  assert.equal(sent.origin + sent.pathname, 'https://broker.example/getObjectUrl');
  assert.deepEqual(Object.fromEntries(sent.searchParams), {
    key: 'uploads/alice/a b&c.jpg', process: 'image/resize,w_200', filename: '照片.jpg', expires: '600', profile: 'avatar',
  });
  assert.equal(init.method, 'GET');
  assert.equal(init.headers.Authorization, 'Bearer a');
  const plain = await getUrl('k', { fetch: broker.fetch });
  assert.equal(broker.calls[1].url, '/getObjectUrl?key=k');
  assert.equal(plain.profile, 'default');
});

test('getUrls posts the keys as JSON and keeps their order', async () => {
  const broker = fakeBroker();
  const keys = ['uploads/alice/2.jpg', 'uploads/alice/1.jpg'];
  const answer = await getUrls(keys, { brokerUrl: 'https://b', fetch: broker.fetch, process: 'style/thumb', expires: 60 });
  assert.deepEqual(answer.urls.map((u) => u.key), keys);
  const { url, init } = broker.calls[0];
  assert.equal(url, 'https://b/getObjectUrls');
  assert.equal(init.method, 'POST');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.deepEqual(JSON.parse(init.body), { keys, process: 'style/thumb', expires: 60 });
  await getUrls(['k'], { brokerUrl: 'https://b', fetch: broker.fetch, profile: 'p' });
  assert.equal(broker.calls[1].url, 'https://b/getObjectUrls?profile=p');
});

test('bad arguments are refused before the broker is asked', async () => {
  const broker = fakeBroker();
  for (const key of ['', undefined, 42]) await assert.rejects(getUrl(key, { fetch: broker.fetch }), TypeError);
  for (const expires of [0, -1, 1.5, '60']) {
    await assert.rejects(getUrl('k', { fetch: broker.fetch, expires }), TypeError);
  }
  for (const keys of [[], 'k', Array.from({ length: 101 }, (_, i) => `k${i}`), ['k', '']]) {
    await assert.rejects(getUrls(keys, { fetch: broker.fetch }), TypeError);
  }
  await assert.rejects(getUrl('k', { fetch: broker.fetch, profile: 7 }), TypeError);
  assert.equal(broker.calls.length, 0);
});

test('an answer for another key, profile or count is malformed; errors carry the broker code', async () => {
  const cases = [
    [() => getUrl('k', { fetch: fakeBroker({ answer: { url: 'u', key: 'other', expire: 1 } }).fetch })],
    [() => getUrl('k', { fetch: fakeBroker({ answer: { url: 'u', key: 'k' } }).fetch })],
    [() => getUrl('k', { profile: 'a', fetch: fakeBroker({ answer: { url: 'u', key: 'k', expire: 1, profile: 'b' } }).fetch })],
    [() => getUrls(['a', 'b'], { fetch: fakeBroker({ answer: { urls: [{ key: 'a', url: 'u' }], expire: 1 } }).fetch })],
    [() => getUrls(['a', 'b'], { fetch: fakeBroker({ answer: { urls: [{ key: 'b', url: 'u' }, { key: 'a', url: 'u' }], expire: 1 } }).fetch })],
  ];
  for (const [call] of cases) await assert.rejects(call(), (e) => e instanceof BrokerError && e.code === 'malformed');
  await assert.rejects(
    getUrl('uploads/bob/x', { fetch: fakeBroker({ status: 403 }).fetch }),
    (e) => e instanceof BrokerError && e.status === 403 && e.code === 'key-outside-prefix' && e.requestId === 'r-9',
  );
});

/** A mini program's request API in front of the fake broker, in the platform's own shape. */
function platformApi(broker, method) {
  const seen = [];
  const api = {
    [method]: (args) => {
      seen.push(args);
      broker.fetch(args.url, { method: args.method, body: args.data })
        .then(async (r) => args.success({ statusCode: r.status, data: await r.text(), header: {} }));
    },
    uploadFile: () => {},
  };
  return { api, seen };
}

test('every adapter signs download URLs through its own platform', async () => {
  const adapters = {
    uploadWithAlipay: 'request', uploadWithWechat: 'request', uploadWithDouyin: 'request',
    uploadWithDingTalk: 'httpRequest', uploadWithBaidu: 'request', uploadWithQQ: 'request',
    uploadWithUni: 'request', uploadWithTaro: 'request',
  };
  for (const [name, method] of Object.entries(adapters)) {
    const broker = fakeBroker();
    const { api, seen } = platformApi(broker, method);
    const one = await kit[name].getUrl(api, 'uploads/alice/a.jpg', { brokerUrl: 'https://b', filename: 'a.jpg' });
    assert.equal(one.key, 'uploads/alice/a.jpg', name);
    const many = await kit[name].getUrls(api, ['x', 'y'], { brokerUrl: 'https://b' });
    assert.deepEqual(many.urls.map((u) => u.key), ['x', 'y'], name);
    assert.equal(seen.length, 2, `${name} used ${method}`);
    assert.equal(seen[1].method, 'POST');
    assert.deepEqual(JSON.parse(seen[1].data), { keys: ['x', 'y'] });
  }
  const broker = fakeBroker();
  const page = await kit.uploadWithFetch.getUrls(['z'], { brokerUrl: 'https://b', fetch: broker.fetch });
  assert.equal(page.urls[0].key, 'z');
  assert.equal((await kit.uploadWithFetch.getUrl('z', { fetch: broker.fetch })).key, 'z');
});
