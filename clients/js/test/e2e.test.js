// End to end: the kit against a running `sts-broker demo` (broker, strict STS and OSS emulators).
// Uploads in both modes land under the caller's Dir and read back; stub `my`/`wx` objects check
// the exact uploadFile arguments and then really post them; refusals carry OSS's error code.
// Expiry and clock skew are in clock.test.js.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createPostForm, getCredential, signPostForm, uploadWithAlipay, uploadWithWechat,
  uploadWithFetch, UploadError,
} from '../src/index.js';
import { startDemo } from '../testing/demo.js';

let demo;
/** One cache for the page-style tests, as one page would have: the broker allows a burst of 10. */
const cache = new Map();
const keySecrets = new Set();
const secrets = new Set();
const consoleCalls = [];
const originalConsole = {};

before(async () => {
  // Whatever the kit might print goes through here and is searched for secrets at the end.
  for (const m of ['log', 'info', 'warn', 'error', 'debug']) {
    originalConsole[m] = console[m];
    console[m] = (...args) => { consoleCalls.push(args.map(String).join(' ')); };
  }
  demo = await startDemo();
});

after(async () => {
  Object.assign(console, originalConsole);
  await demo?.stop();
  for (const line of consoleCalls) {
    for (const s of secrets) assert.ok(!line.includes(s), 'a secret reached the console');
  }
});

/** The real fetch, remembering every secret the broker hands out. */
async function watchingFetch(url, init) {
  const response = await fetch(url, init);
  if (String(url).endsWith('/getToken') && response.ok) {
    const body = await response.clone().json();
    secrets.add(body.AccessKeySecret);
    keySecrets.add(body.AccessKeySecret);
    secrets.add(body.SecurityToken);
  }
  return response;
}

async function readBack(location) {
  const r = await fetch(location);
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') };
}

function assertNoSecrets(text) {
  for (const s of secrets) assert.ok(!String(text).includes(s), 'a secret leaked into a message');
}

for (const [mode, signatureVersion] of [['sts', 'v4'], ['sts', 'v1'], ['server', undefined]]) {
  test(`${mode}${signatureVersion ? ` (${signatureVersion})` : ''} mode: a page upload lands under Dir and reads back`, async () => {
    const body = `hello from ${mode} ${signatureVersion ?? ''}`;
    const file = new File([body], 'Holiday Photo.TXT', { type: 'text/plain' });
    const result = await uploadWithFetch({
      brokerUrl: demo.brokerUrl, file, mode, signatureVersion, fetch: watchingFetch, cache,
    });
    assert.equal(result.status, 200);
    assert.match(result.key, /^uploads\/anonymous\/[0-9a-z]+-[0-9a-f]+\.txt$/);
    assert.equal(result.location, `${demo.bucketUrl}/${result.key}`);
    const back = await readBack(result.location);
    assert.deepEqual([back.status, back.text, back.type], [200, body, 'text/plain']);
  });
}

test('createPostForm fields are exactly what a V4 upload posts before file', async () => {
  const form = await createPostForm({ brokerUrl: demo.brokerUrl, filename: 'x.bin', fetch: watchingFetch, cache });
  assert.equal(form.url, demo.bucketUrl);
  assert.deepEqual(Object.keys(form.fields), [
    'key', 'policy', 'x-oss-signature-version', 'x-oss-credential', 'x-oss-date', 'x-oss-signature',
    'x-oss-security-token', 'success_action_status',
  ]);
  assert.equal(form.fields.key, form.key);
  assert.ok(keySecrets.size > 0);
  for (const secret of keySecrets) {
    assert.ok(!Object.values(form.fields).some((v) => v.includes(secret)), 'the secret itself is never posted');
  }
});

test('OSS refusals reject with OSS\'s error code and no secret in the message', async () => {
  // A key outside Dir (the policy and the session policy both refuse it).
  const tamper = async (url, init) => {
    if (init?.method === 'POST') init.body.set('key', 'uploads/someone-else/x.txt');
    return watchingFetch(url, init);
  };
  for (const mode of ['sts', 'server']) {
    await assert.rejects(
      uploadWithFetch({ brokerUrl: demo.brokerUrl, file: new File(['x'], 'x.txt'), mode, fetch: tamper, cache }),
      (e) => {
        assert.ok(e instanceof UploadError);
        assert.deepEqual([e.status, e.code], [403, 'AccessDenied']);
        assert.ok(e.requestId);
        assertNoSecrets(e.message);
        return true;
      },
    );
  }
  // Over the size the policy allows.
  await assert.rejects(
    uploadWithFetch({ brokerUrl: demo.brokerUrl, file: new File(['0123456789'], 'big.bin'), maxBytes: 4, fetch: watchingFetch, cache }),
    (e) => e.code === 'EntityTooLarge' && e.status === 400,
  );
  // A changed token: OSS's message must not carry it back into ours.
  const badToken = async (url, init) => {
    if (init?.method === 'POST') init.body.set('x-oss-security-token', `${init.body.get('x-oss-security-token')}x`);
    return watchingFetch(url, init);
  };
  await assert.rejects(
    uploadWithFetch({ brokerUrl: demo.brokerUrl, file: new File(['x'], 'x.txt'), fetch: badToken, cache }),
    (e) => { assertNoSecrets(e.message); return e.code === 'InvalidSecurityToken'; },
  );
});

/** What a mini program's uploadFile does with its arguments: a multipart POST, formData then file. */
async function postLikeUploadFile({ url, filePath, name, formData }) {
  const body = new FormData();
  for (const [k, v] of Object.entries(formData)) body.append(k, v);
  body.append(name, new Blob([readFileSync(filePath)]), path.basename(filePath));
  const r = await fetch(url, { method: 'POST', body });
  return { statusCode: r.status, data: await r.text() };
}

/** `my.request`/`wx.request` over fetch, in each platform's shape (Alipay: headers/status; WeChat: header/statusCode). */
function requestOver(platform) {
  return (o) => {
    const headers = platform === 'alipay' ? o.headers : o.header;
    watchingFetch(o.url, { method: o.method, headers }).then(async (r) => {
      const data = await r.text();
      if (platform === 'alipay') {
        const res = { status: r.status, data, headers: Object.fromEntries(r.headers) };
        if (r.ok) o.success(res); else o.fail({ error: 19, ...res });
      } else {
        o.success({ statusCode: r.status, data, header: Object.fromEntries(r.headers) });
      }
    }, (e) => o.fail({ errMsg: `request:fail ${e.message}` }));
  };
}

function tempFile(name, content) {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'kit-')), name);
  writeFileSync(p, content);
  return p;
}

for (const mode of ['sts', 'server']) {
  test(`Alipay (${mode}): my.uploadFile gets exactly url, fileType, fileName 'file', filePath and formData`, async () => {
    const filePath = tempFile('tmp_ab12.JPG', 'jpeg bytes from alipay');
    const calls = [];
    const my = {
      request: requestOver('alipay'),
      uploadFile(args) {
        calls.push(args);
        const { success, fail, ...rest } = args;
        assert.deepEqual(Object.keys(rest).sort(), ['fileName', 'filePath', 'fileType', 'formData', 'url']);
        assert.equal(typeof success, 'function');
        assert.equal(typeof fail, 'function');
        assert.equal(rest.url, demo.bucketUrl);
        assert.equal(rest.fileType, 'image');
        assert.equal(rest.fileName, 'file');
        assert.equal(rest.filePath, filePath);
        assert.equal(Object.keys(rest.formData)[0], 'key');
        postLikeUploadFile({ url: rest.url, filePath, name: rest.fileName, formData: rest.formData }).then(success, fail);
      },
    };
    const result = await uploadWithAlipay(my, { brokerUrl: demo.brokerUrl, filePath, mode, cache: new Map() });
    assert.equal(calls.length, 1);
    assert.equal(result.status, 200);
    assert.equal(result.key, calls[0].formData.key);
    assert.match(result.key, /^uploads\/anonymous\/.+\.jpg$/);
    assert.equal((await readBack(result.location)).text, 'jpeg bytes from alipay');
  });

  test(`WeChat (${mode}): wx.uploadFile gets exactly url, filePath, name 'file' and formData`, async () => {
    const filePath = tempFile('wx_tmp.png', 'png bytes from wechat');
    const calls = [];
    const wx = {
      request: requestOver('wechat'),
      uploadFile(args) {
        calls.push(args);
        const { success, fail, ...rest } = args;
        assert.deepEqual(Object.keys(rest).sort(), ['filePath', 'formData', 'name', 'url']);
        assert.equal(typeof success, 'function');
        assert.equal(typeof fail, 'function');
        assert.equal(rest.url, demo.bucketUrl);
        assert.equal(rest.name, 'file');
        assert.equal(rest.filePath, filePath);
        postLikeUploadFile(rest).then(success, fail);
      },
    };
    const result = await uploadWithWechat(wx, { brokerUrl: demo.brokerUrl, filePath, mode, cache: new Map() });
    assert.equal(calls.length, 1);
    assert.equal(result.status, 200);
    assert.match(result.key, /^uploads\/anonymous\/.+\.png$/);
    assert.equal((await readBack(result.location)).text, 'png bytes from wechat');
  });
}

test('mini-program refusals reject with OSS\'s code', async () => {
  const filePath = tempFile('a.jpg', 'x');
  const outside = (formData) => ({ ...formData, key: 'uploads/other/a.jpg' });
  const my = {
    request: requestOver('alipay'),
    uploadFile: ({ url, filePath: p, fileName, formData, success }) => {
      postLikeUploadFile({ url, filePath: p, name: fileName, formData: outside(formData) }).then(success);
    },
  };
  await assert.rejects(uploadWithAlipay(my, { brokerUrl: demo.brokerUrl, filePath, cache }),
    (e) => e instanceof UploadError && e.code === 'AccessDenied' && e.status === 403);
  const wx = {
    request: requestOver('wechat'),
    uploadFile: (o) => postLikeUploadFile({ ...o, formData: outside(o.formData) }).then(o.success),
  };
  await assert.rejects(uploadWithWechat(wx, { brokerUrl: demo.brokerUrl, filePath, mode: 'server', cache: new Map() }),
    (e) => e instanceof UploadError && e.code === 'AccessDenied');
  // The network failing under uploadFile.
  const offline = { request: requestOver('wechat'), uploadFile: (o) => o.fail({ errMsg: 'uploadFile:fail timeout' }) };
  await assert.rejects(uploadWithWechat(offline, { brokerUrl: demo.brokerUrl, filePath, cache }),
    (e) => e instanceof UploadError && e.code === 'network' && /timeout/.test(e.message));
});

test('the demo binary serves this checkout\'s kit (else: cargo build)', async () => {
  for (const file of ['index.js', 'client.js', 'sign.js', 'upload.js']) {
    const served = await (await fetch(`${demo.brokerUrl}/demo/kit/${file}`)).text();
    const here = readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
    assert.ok(served === here, `the sts-broker binary embeds an older src/${file}: run \`cargo build\``);
  }
});
