// The platform adapters without a broker or OSS: each platform's failure shapes become the kit's
// codes (Alipay's numbers, errMsg texts, DingTalk's 无效参数), every status OSS may answer is
// read right (string statusCode, 201, 204, 203 CallbackFailed, others refused), callbacks and
// promises in their platform variants (uni-app's [err, res], Taro's both at once), each
// platform's request API with its own parameter names, refused headers, and argument errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as kit from '../src/index.js';
import { PLATFORM_DOCS, PLATFORM_NAMES, stubPlatform } from '../testing/platforms.js';

const { UploadError, CallbackFailedError, BrokerError, requestFetch } = kit;

/** A broker's server-mode answer, from a fetch-like function: no network needed. */
function serverFetch(extra = {}) {
  const calls = [];
  const fetch = async (url) => {
    calls.push(url);
    return Response.json({
      host: 'https://bucket.example', dir: 'uploads/alice/', expire: 1900000000, policy: 'cG9saWN5',
      'x-oss-signature-version': 'OSS4-HMAC-SHA256',
      'x-oss-credential': 'STS.k/20300101/cn-hangzhou/oss/aliyun_v4_request', 'x-oss-date': '20300101T000000Z',
      'x-oss-signature': 'ab', 'x-oss-security-token': 'CAIS-security-token-0123456789abcdef', success_action_status: '200',
      ...extra,
    });
  };
  return { fetch, calls };
}

const base = (extra) => ({ brokerUrl: 'https://broker.example', mode: 'server', filePath: '/tmp/a.jpg', fetch: serverFetch(extra).fetch });

const alipayFailures = [
  [{ error: 4, errorMessage: '未配置域名白名单' }, 'domain-not-allowed'],
  [{ error: 9, errorMessage: 'uploadFile:fail abort' }, 'aborted'],
  [{ error: 11, errorMessage: '文件不存在' }, 'invalid-argument'],
  [{ error: 12, errorMessage: '上传文件失败' }, 'network'],
  [{ error: 20, errorMessage: '请求 URL 不支持 HTTP，请使用 HTTPS' }, 'https-required'],
];
const errMsgFailures = [
  [{ errMsg: 'uploadFile:fail url not in domain list', errno: 600002 }, 'domain-not-allowed'],
  [{ errMsg: 'uploadFile:fail abort' }, 'aborted'],
  [{ errMsg: 'uploadFile:fail parameter error: parameter.filePath should be String' }, 'invalid-argument'],
  [{ errMsg: 'uploadFile:fail timeout', errNo: 21101 }, 'network'],
  [{ errMsg: 'uploadFile:fail', errCode: 1001 }, 'network'],
];
const FAILURES = {
  alipay: alipayFailures,
  dingtalk: [[{ error: 2, errorMessage: '无效参数' }, 'invalid-argument'], [{ error: 12, errorMessage: '上传文件失败' }, 'network']],
};

for (const platform of PLATFORM_NAMES) {
  const { adapter, object } = PLATFORM_DOCS[platform];
  for (const style of ['callback', 'promise']) {
    test(`${adapter} (${style}): ${object}'s failures become UploadErrors with the kit's code and the platform's`, async () => {
      for (const [failure, code] of FAILURES[platform] ?? errMsgFailures) {
        const { api } = stubPlatform(platform, { style, post: async () => { throw failure; } });
        await assert.rejects(kit[adapter](api, base()), (e) => {
          assert.ok(e instanceof UploadError, String(e));
          assert.equal(e.code, code, JSON.stringify(failure));
          assert.equal(e.platformCode, failure.error ?? failure.errno ?? failure.errCode ?? failure.errNo);
          assert.match(e.message, /the upload did not complete/);
          assert.ok(e.message.includes(failure.errorMessage ?? failure.errMsg));
          assert.match(e.key, /^uploads\/alice\//);
          return true;
        });
      }
    });

    test(`${adapter} (${style}): 200, 201 and 204 succeed; 203 is CallbackFailed; anything else is refused`, async () => {
      const answers = [
        [200, '', { status: 200 }],
        [204, '', { status: 204 }],
        [201, '<PostResponse><Key>uploads/alice/x.jpg</Key></PostResponse>', { status: 201 }],
      ];
      for (const [status, data, expected] of answers) {
        const { api } = stubPlatform(platform, { style, post: async () => ({ status, data, headers: {} }) });
        const result = await kit[adapter](api, base());
        assert.equal(result.status, expected.status);
        assert.equal(result.location, `https://bucket.example/${result.key}`);
        assert.equal('callback' in result, false);
      }
      const xml = '<Error><Code>CallbackFailed</Code><Message>Error status : 502. token CAIS-security-token-0123456789abcdef</Message><RequestId>5C1B</RequestId><EC>0007-00000203</EC></Error>';
      const { api } = stubPlatform(platform, { style, post: async () => ({ status: 203, data: xml, headers: {} }) });
      await assert.rejects(kit[adapter](api, base({ callback: 'eyJjYWxsYmFja1VybCI6Imh0dHBzOi8vYiJ9' })), (e) => {
        assert.ok(e instanceof CallbackFailedError && e instanceof UploadError);
        assert.deepEqual([e.name, e.code, e.status, e.stored, e.requestId], ['CallbackFailedError', 'CallbackFailed', 203, true, '5C1B']);
        assert.equal(e.location, `https://bucket.example/${e.key}`);
        assert.match(e.message, /stored the object but the upload callback failed .*Error status : 502/);
        assert.ok(!e.message.includes('CAIS-security-token'), 'the token is redacted');
        return true;
      });
      const { api: odd } = stubPlatform(platform, { style, post: async () => ({ status: 202, data: '', headers: {} }) });
      await assert.rejects(kit[adapter](odd, base()), (e) => e instanceof UploadError && e.code === 'HTTP202' && e.status === 202);
    });
  }

  test(`${adapter}: a callback's JSON answer is the result's callback`, async () => {
    const answer = { url: 'https://app.example/a.jpg', moderated: true };
    const { api } = stubPlatform(platform, { post: async () => ({ status: 200, data: JSON.stringify(answer), headers: {} }) });
    const result = await kit[adapter](api, base({ callback: 'eyJjYWxsYmFja1VybCI6Imh0dHBzOi8vYiJ9' }));
    assert.deepEqual(result.callback, answer);
  });

  test(`${adapter}: ${object}'s request API gets its own parameter names; refused headers stay home`, async () => {
    const seen = [];
    const { api, calls } = stubPlatform(platform, {
      get: async (url, headers) => { seen.push(headers); return { status: 503, data: '{"code":"sts-unavailable"}', headers: { 'Retry-After': '4' } }; },
    });
    const f = requestFetch(api, platform);
    const r = await f('https://broker.example/getToken', {
      headers: { Authorization: 'Bearer a', 'User-Agent': 'x', Referer: 'https://r', 'content-type': 'text/plain' },
    });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '4');
    assert.equal((await r.json()).code, 'sts-unavailable');
    assert.equal(calls.request[0].method, 'GET');
    assert.equal(seen[0].Authorization, 'Bearer a');
    assert.equal(seen[0].Referer, undefined);
    if (platform === 'douyin') assert.deepEqual(Object.keys(seen[0]), ['Authorization']);
    // Through an adapter, the broker's error is a BrokerError.
    const { api: down } = stubPlatform(platform, { get: async () => ({ status: 503, data: '{"code":"sts-unavailable"}', headers: {} }) });
    await assert.rejects(kit[adapter](down, { brokerUrl: 'https://broker.example', filePath: '/tmp/a.jpg', cache: new Map() }),
      (e) => e instanceof BrokerError && e.status === 503 && e.code === 'sts-unavailable');
  });
}

test('a request API that fails tells the broker error why (Alipay numbers, errMsg texts)', async () => {
  const cases = [
    ['alipay', { error: 4, errorMessage: '无权调用该接口' }, 'domain-not-allowed'],
    ['alipay', { error: 11, errorMessage: '无权跨域' }, 'domain-not-allowed'],
    ['alipay', { error: 13, errorMessage: '超时' }, 'network'],
    ['wechat', { errMsg: 'request:fail url not in domain list' }, 'domain-not-allowed'],
    ['douyin', { errMsg: 'request:fail abort', errNo: 21102 }, 'aborted'],
    ['dingtalk', { error: 12, errorMessage: '网络出错' }, 'network'],
  ];
  for (const [platform, failure, code] of cases) {
    const { api } = stubPlatform(platform, { get: async () => { throw failure; } });
    await assert.rejects(
      kit[PLATFORM_DOCS[platform].adapter](api, { brokerUrl: 'https://b', filePath: '/tmp/a.jpg', cache: new Map() }),
      (e) => {
        assert.ok(e instanceof BrokerError, String(e));
        assert.equal(e.code, code, `${platform} ${JSON.stringify(failure)}`);
        assert.match(e.message, /could not reach the broker/);
        return true;
      },
    );
  }
});

test('Alipay and DingTalk HTTP answers through fail are answers; statusCode strings are numbers', async () => {
  const denied = '<Error><Code>AccessDenied</Code><Message>no</Message><RequestId>R1</RequestId></Error>';
  for (const [status, ok] of [['403', false], [403, false], ['204', true]]) {
    const my = {
      uploadFile: (o) => (ok ? o.success({ statusCode: status, data: '' }) : o.fail({ error: 19, statusCode: status, data: denied })),
    };
    const run = kit.uploadWithAlipay(my, base());
    if (ok) assert.equal((await run).status, 204);
    else await assert.rejects(run, (e) => e.code === 'AccessDenied' && e.status === 403 && e.requestId === 'R1');
  }
  const wx = { uploadFile: (o) => o.success({ statusCode: '200', data: '' }) };
  assert.equal((await kit.uploadWithWechat(wx, base())).status, 200);
});

test('fileType: image unless told, always passed to Alipay, DingTalk and uni-app', async () => {
  for (const [platform, fileType] of [['alipay', undefined], ['dingtalk', 'video'], ['uni', 'audio']]) {
    const { api, calls } = stubPlatform(platform, { post: async () => ({ status: 204, data: '', headers: {} }) });
    await kit[PLATFORM_DOCS[platform].adapter](api, { ...base(), fileType });
    assert.equal(calls.uploadFile[0].fileType, fileType ?? 'image');
  }
});

test('promise variants: uni-app Vue 2 [err, res], a wrapper resolving nothing, Taro calling both', async () => {
  const ok = { statusCode: 204, data: '' };
  const vue2 = { uploadFile: () => Promise.resolve([null, ok]) };
  assert.equal((await kit.uploadWithUni(vue2, base())).status, 204);
  const vue2Failed = { uploadFile: () => Promise.resolve([{ errMsg: 'uploadFile:fail abort' }, undefined]) };
  await assert.rejects(kit.uploadWithUni(vue2Failed, base()), (e) => e.code === 'aborted');
  const wrapper = {
    uploadFile: (o) => {
      setTimeout(() => o.success({ statusCode: 200, data: '' }), 5);
      return Promise.resolve(undefined);
    },
  };
  assert.equal((await kit.uploadWithWechat(wrapper, base())).status, 200);
  let rejected = 0;
  const taro = {
    uploadFile: (o) => {
      o.fail({ errMsg: 'uploadFile:fail timeout' });
      return Promise.reject(new Error('uploadFile:fail timeout')).catch((e) => { rejected += 1; throw e; });
    },
  };
  await assert.rejects(kit.uploadWithTaro(taro, base()), (e) => e.code === 'network' && /timeout/.test(e.message));
  assert.equal(rejected, 1);
  const taroOk = { uploadFile: (o) => { o.success(ok); return Promise.resolve(ok); } };
  assert.equal((await kit.uploadWithTaro(taroOk, base())).status, 204);
});

test('argument errors are thrown as they are, not dressed up as network failures', async () => {
  for (const platform of PLATFORM_NAMES) {
    const { adapter } = PLATFORM_DOCS[platform];
    const { api } = stubPlatform(platform);
    await assert.rejects(kit[adapter](api, { brokerUrl: 'b' }), new RegExp(`${adapter} needs filePath`));
    await assert.rejects(kit[adapter]({}, { filePath: 'x' }), /needs the platform object/);
  }
  const throwing = { uploadFile: () => { throw new TypeError('parameter.url should be String'); } };
  await assert.rejects(kit.uploadWithQQ(throwing, base()), (e) => e instanceof TypeError && !(e instanceof UploadError));
  assert.throws(() => requestFetch({ request() {} }, 'feishu'), /unknown platform feishu/);
  assert.throws(() => requestFetch({ request() {} }, 'dingtalk'), /httpRequest/);
  await assert.rejects(kit.uploadWithDingTalk({ uploadFile() {}, request() {} }, { filePath: 'x' }), /httpRequest/);
});
