// The kit's clock against a running `sts-broker demo`: a cached credential is fetched again after
// RefreshAfter (on an injected device clock), and a device clock an hour off still signs forms the
// strict OSS emulator accepts, because the kit signs on the broker's ServerTime.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPostForm, getCredential, signPostForm, uploadWithFetch } from '../src/index.js';
import { startDemo } from '../testing/demo.js';

let demo;
before(async () => { demo = await startDemo(); });
after(async () => { await demo?.stop(); });

const watchingFetch = (url, init) => fetch(url, init);

async function readBack(location) {
  const r = await fetch(location);
  return { status: r.status, text: await r.text() };
}

test('expiry: a cached credential is used until RefreshAfter and fetched again after it', async () => {
  let device = Date.now();
  const now = () => device;
  const tokenRequests = [];
  const counting = (url, init) => {
    if (String(url).endsWith('/getToken')) tokenRequests.push(device);
    return watchingFetch(url, init);
  };
  const cache = new Map();
  const opts = { brokerUrl: demo.brokerUrl, fetch: counting, now, cache };
  const upload = async (name) => {
    const r = await uploadWithFetch({ ...opts, file: new File([name], `${name}.txt`) });
    assert.equal((await readBack(r.location)).text, name);
  };
  await upload('first');
  assert.equal(tokenRequests.length, 1);
  const { refreshAtMs, offsetMs } = await getCredential(opts);
  const refreshOnDevice = refreshAtMs - offsetMs;
  assert.ok(refreshOnDevice > device + 60_000, 'RefreshAfter lies ahead');
  device = refreshOnDevice - 1000;
  // Only the device clock jumped (the emulators keep real time), so this form would be signed in
  // the future: check only that it came from the cache.
  const cached = await createPostForm({ ...opts, filename: 'just-before.txt' });
  assert.equal(tokenRequests.length, 1, 'still cached just before RefreshAfter');
  assert.equal(cached.fields['x-oss-credential'].split('/')[0], (await getCredential(opts)).token.AccessKeyId);
  device = refreshOnDevice + 1000;
  // Fetched again, with a new ServerTime offset: the form is good on the emulator's real clock.
  await upload('just-after');
  assert.equal(tokenRequests.length, 2, 'fetched again after RefreshAfter');
});

for (const skewHours of [+1, -1]) {
  test(`clock skew: a device clock ${skewHours > 0 ? 'an hour ahead' : 'an hour behind'} still signs accepted forms`, async () => {
    const now = () => Date.now() + skewHours * 3600_000;
    for (const signatureVersion of ['v4', 'v1']) {
      const r = await uploadWithFetch({
        brokerUrl: demo.brokerUrl, file: new File(['skewed'], 's.txt'), now, signatureVersion,
        fetch: watchingFetch, cache: new Map(),
      });
      assert.equal((await readBack(r.location)).text, 'skewed');
    }
    // The V4 date is the broker's time, not the device's.
    const form = await createPostForm({ brokerUrl: demo.brokerUrl, now, fetch: watchingFetch, cache: new Map() });
    const signedAt = Date.parse(form.fields['x-oss-date'].replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    assert.ok(Math.abs(signedAt - Date.now()) < 5000, form.fields['x-oss-date']);

    // Control: the same credential signed on the device's own clock is refused, so the test
    // above would catch a kit that ignored ServerTime.
    const { token } = await getCredential({ brokerUrl: demo.brokerUrl, now, fetch: watchingFetch, cache: new Map() });
    const key = `${token.Dir}control-${skewHours}.txt`;
    const fields = signPostForm(token, key, { nowMs: now() });
    const body = new FormData();
    for (const [k, v] of Object.entries(fields)) body.append(k, v);
    body.append('file', new Blob(['x']), 'x.txt');
    const refused = await fetch(token.Host, { method: 'POST', body });
    const xml = await refused.text();
    assert.equal(refused.status, 403, xml);
    assert.match(xml, skewHours > 0 ? /RequestTimeTooSkewed/ : /Policy expired/);
  });
}
