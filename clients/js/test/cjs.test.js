// The CommonJS entry: cjs/index.js is what scripts/build-cjs.js makes of src/ today, require()
// gives the same exports as the ES module, both by path and by the package's name ("exports"
// → "require"), and it works: the same signatures and forms as the ES module, and an upload
// through a stub mini-program object.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as esm from '../src/index.js';
import { buildCjs } from '../scripts/build-cjs.js';

const require = createRequire(import.meta.url);
const read = (p) => readFileSync(new URL(p, import.meta.url), 'utf8');

test('cjs/index.js and cjs/index.d.ts are up to date with src/ and types/ (else: npm run build:cjs)', () => {
  const { js, dts } = buildCjs();
  assert.ok(read('../cjs/index.js') === js, 'cjs/index.js is stale: run `npm run build:cjs`');
  assert.ok(read('../cjs/index.d.ts') === dts, 'cjs/index.d.ts is stale: run `npm run build:cjs`');
  assert.equal(JSON.parse(read('../cjs/package.json')).type, 'commonjs');
});

test('require() by path and by package name gives the ES module\'s exports', async () => {
  const byPath = require('../cjs/index.js');
  const byName = require('@sts-broker/upload-kit');
  assert.equal(byName, byPath);
  assert.equal(require.resolve('@sts-broker/upload-kit'), require.resolve('../cjs/index.js'));
  assert.deepEqual(Object.keys(byPath).sort(), Object.keys(esm).sort());
  for (const [name, value] of Object.entries(esm)) assert.equal(typeof byPath[name], typeof value, name);
  // import by name is the ES module itself.
  assert.equal((await import('@sts-broker/upload-kit')).createPostForm, esm.createPostForm);
});

test('the CommonJS build signs and builds forms exactly as the ES module does', async () => {
  const cjs = require('../cjs/index.js');
  const token = {
    AccessKeyId: 'STS.k', AccessKeySecret: 'secret', SecurityToken: 'tok', Expiration: '2030-01-01T01:00:00Z',
    Bucket: 'b', Region: 'cn-hangzhou', Dir: 'uploads/alice/',
  };
  const at = Date.UTC(2030, 0, 1);
  for (const version of ['v4', 'v1']) {
    assert.deepEqual(cjs.signPostForm(token, 'uploads/alice/x.jpg', { nowMs: at, version }),
      esm.signPostForm(token, 'uploads/alice/x.jpg', { nowMs: at, version }));
  }
  assert.equal(cjs.extensionOf('IMG.JPG'), '.jpg');
  const params = {
    host: 'https://b.example', dir: 'uploads/alice/', expire: 1, policy: 'cG9s', callback: 'Y2I=', profile: 'avatar',
  };
  const fetch = async () => Response.json(params);
  const form = await cjs.createPostForm({ mode: 'server', profile: 'avatar', fetch, filename: 'a.png' });
  assert.deepEqual(Object.keys(form.fields), ['key', 'policy', 'callback']);
  const wx = {
    uploadFile: (o) => o.success({ statusCode: 203, data: '<Error><Code>CallbackFailed</Code></Error>' }),
  };
  await assert.rejects(cjs.uploadWithWechat(wx, { mode: 'server', profile: 'avatar', fetch, filePath: '/tmp/a.png' }),
    (e) => e instanceof cjs.CallbackFailedError && e instanceof cjs.UploadError && e.code === 'CallbackFailed');
});
