// End to end with profiles and an upload callback: the demo's second profile, `with-callback`,
// whose uploads the emulated OSS calls back; the broker checks each one and asks the demo's own
// app, whose answer the kit returns as `callback`. Every adapter in server mode, and the profile
// in `sts` mode (refused: a callback profile is served by server-signed forms only).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as kit from '../src/index.js';
import { uploadWithFetch, BrokerError } from '../src/index.js';
import { startDemo } from '../testing/demo.js';
import { PLATFORM_NAMES, stubPlatform, getOver } from '../testing/platforms.js';

let demo;
before(async () => {
  demo = await startDemo({ env: { BROKER_RATE_LIMIT_PER_MINUTE: '100000', BROKER_RATE_LIMIT_BURST: '10000' } });
});
after(async () => { await demo?.stop(); });

test('server mode with a callback profile returns the app\'s answer as `callback`', async () => {
  const file = new File(['hello callback'], 'hello.txt', { type: 'text/plain' });
  const result = await uploadWithFetch({
    brokerUrl: demo.brokerUrl, file, mode: 'server', profile: 'with-callback', fetch,
  });
  assert.equal(result.status, 200);
  assert.match(result.key, /^callbacks\/anonymous\//);
  assert.deepEqual(result.callback, {
    received: true, key: result.key, caller: 'anonymous', size: 14,
  });
});

test('the default profile carries no callback', async () => {
  const file = new File(['plain'], 'plain.txt', { type: 'text/plain' });
  const result = await uploadWithFetch({ brokerUrl: demo.brokerUrl, file, mode: 'server', fetch });
  assert.equal(result.status, 200);
  assert.equal(result.callback, undefined);
  assert.match(result.key, /^uploads\/anonymous\//);
});

test('a callback profile is refused for client-side signing', async () => {
  const file = new File(['x'], 'x.txt', { type: 'text/plain' });
  await assert.rejects(
    uploadWithFetch({ brokerUrl: demo.brokerUrl, file, mode: 'sts', profile: 'with-callback', fetch }),
    (e) => e instanceof BrokerError && e.status === 403 && e.code === 'server-signing-only',
  );
});

test('an unknown profile is the broker\'s 400 unknown-profile', async () => {
  const file = new File(['x'], 'x.txt', { type: 'text/plain' });
  await assert.rejects(
    uploadWithFetch({ brokerUrl: demo.brokerUrl, file, mode: 'server', profile: 'nope', fetch }),
    (e) => e instanceof BrokerError && e.status === 400 && e.code === 'unknown-profile',
  );
});

const adapterOf = (platform) => `uploadWith${{
  alipay: 'Alipay', wechat: 'Wechat', douyin: 'Douyin', dingtalk: 'DingTalk', baidu: 'Baidu', qq: 'QQ', uni: 'Uni', taro: 'Taro',
}[platform]}`;

for (const platform of PLATFORM_NAMES) {
  for (const style of ['callback', 'promise']) {
    test(`${adapterOf(platform)} (${style} style): a callback profile's upload returns the app's answer`, async () => {
      const filePath = path.join(mkdtempSync(path.join(tmpdir(), 'kit-profiles-')), 'tmp_a.png');
      writeFileSync(filePath, `${platform} ${style}`);
      const { api } = stubPlatform(platform, { style, get: getOver() });
      const result = await kit[adapterOf(platform)](api, {
        brokerUrl: demo.brokerUrl, filePath, mode: 'server', profile: 'with-callback', cache: new Map(),
      });
      assert.equal(result.status, 200);
      assert.match(result.key, /^callbacks\/anonymous\//);
      assert.equal(result.callback?.received, true);
      assert.equal(result.callback?.key, result.key);
    });
  }
}
