// Stub mini-program platform objects for the kit's tests (not part of the package). Each one
// checks that the kit calls its platform's `uploadFile` and request API with exactly the
// parameter names that platform documents (written out here, independently of the kit's own
// descriptors), answers the way that platform does (callbacks or a promise; `status` or
// `statusCode`; a string status on DingTalk; HTTP errors through `fail` on Alipay and DingTalk),
// and hands the actual work to functions the test supplies: usually a real multipart POST and a
// real fetch.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** What each platform's documentation names (docs/client-kit.md#platforms gives the sources). */
export const PLATFORM_DOCS = {
  alipay: {
    object: 'my', adapter: 'uploadWithAlipay',
    upload: ['fileName', 'filePath', 'fileType', 'formData', 'url'], fileKey: 'fileName',
    request: 'request', headerParam: 'headers', dataType: 'text', response: 'alipay',
  },
  wechat: {
    object: 'wx', adapter: 'uploadWithWechat',
    upload: ['filePath', 'formData', 'name', 'url'], fileKey: 'name',
    request: 'request', headerParam: 'header', dataType: 'text', response: 'wechat',
  },
  douyin: {
    object: 'tt', adapter: 'uploadWithDouyin',
    upload: ['filePath', 'formData', 'name', 'url'], fileKey: 'name',
    request: 'request', headerParam: 'header', dataType: 'string', response: 'wechat',
    refused: ['referer', 'user-agent', 'content-type'],
  },
  dingtalk: {
    object: 'dd', adapter: 'uploadWithDingTalk',
    upload: ['fileName', 'filePath', 'fileType', 'formData', 'url'], fileKey: 'fileName',
    request: 'httpRequest', headerParam: 'headers', dataType: 'text', response: 'alipay',
    stringStatus: true,
  },
  baidu: {
    object: 'swan', adapter: 'uploadWithBaidu',
    upload: ['filePath', 'formData', 'name', 'url'], fileKey: 'name',
    request: 'request', headerParam: 'header', dataType: 'string', response: 'wechat',
  },
  qq: {
    object: 'qq', adapter: 'uploadWithQQ',
    upload: ['filePath', 'formData', 'name', 'url'], fileKey: 'name',
    request: 'request', headerParam: 'header', dataType: 'text', response: 'wechat',
  },
  uni: {
    object: 'uni', adapter: 'uploadWithUni',
    upload: ['filePath', 'fileType', 'formData', 'name', 'url'], fileKey: 'name',
    request: 'request', headerParam: 'header', dataType: 'text', response: 'wechat',
  },
  taro: {
    object: 'Taro', adapter: 'uploadWithTaro',
    upload: ['filePath', 'formData', 'name', 'url'], fileKey: 'name',
    request: 'request', headerParam: 'header', dataType: 'text', response: 'wechat',
  },
};

export const PLATFORM_NAMES = Object.keys(PLATFORM_DOCS);

/** What a mini program's uploadFile does with its arguments: a multipart POST, formData then the file. */
export async function postMultipart({ url, filePath, name, formData }) {
  const body = new FormData();
  for (const [k, v] of Object.entries(formData)) body.append(k, v);
  body.append(name, new Blob([readFileSync(filePath)]), path.basename(filePath));
  const r = await fetch(url, { method: 'POST', body });
  return { status: r.status, data: await r.text(), headers: Object.fromEntries(r.headers) };
}

/**
 * A stub platform object. `style`: 'callback' (success/fail) or 'promise' (a returned promise,
 * callbacks ignored). `post(args)` does the upload ({ url, filePath, name, formData } →
 * { status, data, headers }) or throws a platform failure object; `get(url, headers)` answers
 * the request API ({ status, data, headers }) or throws one. `calls` records every call.
 */
export function stubPlatform(platform, { style = 'callback', post = postMultipart, get } = {}) {
  const docs = PLATFORM_DOCS[platform];
  const calls = { uploadFile: [], request: [] };
  const answer = (args, work) => {
    const { success, fail, ...rest } = args;
    assert.equal(typeof success, 'function', `${docs.object}: success`);
    assert.equal(typeof fail, 'function', `${docs.object}: fail`);
    assert.equal(args.complete, undefined, `${docs.object}: no complete callback is needed`);
    const result = Promise.resolve().then(() => work(rest));
    if (style === 'promise') return result;
    let settled = false;
    const once = (f) => (v) => {
      if (!settled) {
        settled = true;
        f(v);
      }
    };
    result.then(once(success), once(fail));
    // A task, as the platforms return; abort() fails the call as WeChat (errMsg) and Alipay (error 9) do.
    return { abort: () => once(fail)({ errMsg: 'request:fail abort', error: 9, errorMessage: 'abort' }), onProgressUpdate() {} };
  };
  const api = {
    uploadFile(args) {
      const { success, fail, ...rest } = args;
      calls.uploadFile.push(rest);
      assert.deepEqual(Object.keys(rest).sort(), docs.upload, `${docs.object}.uploadFile parameters`);
      assert.equal(rest[docs.fileKey], 'file', `${docs.object}.uploadFile ${docs.fileKey}`);
      if (docs.upload.includes('fileType')) assert.match(rest.fileType, /^(image|video|audio)$/);
      assert.equal(Object.keys(rest.formData)[0], 'key', 'key is the first form field');
      for (const v of Object.values(rest.formData)) assert.equal(typeof v, 'string', 'form values are strings');
      return answer(args, async ({ url, filePath, formData }) => {
        const res = await post({ url, filePath, name: rest[docs.fileKey], formData });
        const statusCode = docs.stringStatus ? String(res.status) : res.status;
        return { statusCode, data: res.data, header: res.headers };
      });
    },
  };
  api[docs.request] = (args) => {
    const { success, fail, ...rest } = args;
    calls.request.push(rest);
    // A POST (getUrls) carries its body as `data`, and so does a part's PUT.
    const expected = ['dataType', docs.headerParam, 'method', 'url', ...(rest.method === 'POST' || 'data' in rest ? ['data'] : [])];
    assert.deepEqual(Object.keys(rest).sort(), expected.sort(), `${docs.object}.${docs.request} parameters`);
    assert.equal(rest.dataType, docs.dataType, `${docs.object}.${docs.request} dataType`);
    for (const h of docs.refused ?? []) {
      assert.ok(!Object.keys(rest[docs.headerParam]).some((k) => k.toLowerCase() === h), `${docs.object} refuses ${h}`);
    }
    if (style === 'callback' && docs.response === 'alipay') {
      // Alipay and DingTalk: an HTTP error status arrives through fail, with the answer.
      return answer({ success, fail }, async () => {
        const r = await get(rest.url, rest[docs.headerParam], rest.method, rest.data);
        const res = { status: r.status, data: r.data, headers: r.headers };
        if (r.status >= 200 && r.status < 300) return res;
        throw { error: 19, errorMessage: 'http status error', ...res };
      });
    }
    return answer({ success, fail }, async () => {
      const r = await get(rest.url, rest[docs.headerParam], rest.method, rest.data);
      return docs.response === 'alipay'
        ? { status: r.status, data: r.data, headers: r.headers }
        : { statusCode: r.status, data: r.data, header: r.headers };
    });
  };
  return { api, calls };
}

/**
 * `get` for stubPlatform over a real fetch, with the request's method and `data`. As WeChat's and
 * Alipay's request APIs do, a request whose header names no content type goes out as
 * `application/json`; one that names an empty one goes out without it.
 */
export function getOver(fetchFn = fetch) {
  return async (url, headers, method = 'GET', data = undefined) => {
    const sent = { ...headers };
    const typeName = Object.keys(sent).find((k) => k.toLowerCase() === 'content-type');
    if (typeName === undefined && data !== undefined) sent['content-type'] = 'application/json';
    else if (typeName !== undefined && sent[typeName] === '') delete sent[typeName];
    const r = await fetchFn(url, { method, headers: sent, body: data });
    return { status: r.status, data: await r.text(), headers: Object.fromEntries(r.headers) };
  };
}

/**
 * Gives a stub platform object WeChat's FileSystemManager calls over the real file system:
 * `getFileInfo({ filePath })` → `{ size }`, `readFile({ filePath, position, length })` → `{ data:
 * ArrayBuffer }` (no encoding), both answering through success/fail. `calls.readFile` records them.
 */
export function withFiles(api, calls) {
  calls.readFile = [];
  const settle = (args, work) => {
    Promise.resolve().then(work).then(args.success, (e) => args.fail({ errMsg: `readFile:fail ${e.message}` }));
  };
  api.getFileSystemManager = () => ({
    getFileInfo(args) {
      settle(args, () => ({ size: statSync(args.filePath).size }));
    },
    readFile(args) {
      const { success, fail, ...rest } = args;
      calls.readFile.push(rest);
      assert.deepEqual(Object.keys(rest).sort(), ['filePath', 'length', 'position'], 'readFile parameters');
      settle(args, () => {
        const bytes = readFileSync(args.filePath).subarray(args.position, args.position + args.length);
        return { data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
      });
    },
  });
  return api;
}
