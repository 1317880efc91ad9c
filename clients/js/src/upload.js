// Platform adapters: post a form from `createPostForm` with a mini program's `uploadFile` (Alipay,
// WeChat, Douyin, DingTalk, Baidu, QQ, uni-app, Taro) or a page's `fetch`, and turn a mini
// program's request API into a fetch-like function. One core does the work; each platform is a
// small descriptor of the parameter names its documentation gives. Each upload resolves
// `{ key, status, location, callback? }` or rejects with an UploadError carrying OSS's error code
// or the kit's transport code. Nothing is logged.
import {
  createPostForm, TransportError, getUrl, getUrls,
} from './client.js';
import { UploadError, CallbackFailedError, parseOssError } from './errors.js';
import { uploadInParts, newControl, DEFAULT_THRESHOLD, FORM_LIMIT } from './multipart.js';

/** Where the object can be read back (subject to the bucket's ACL), each key segment encoded. */
export function objectUrl(host, key) {
  return `${String(host).replace(/\/+$/, '')}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** OSS may echo a condition in its message; never let a token or signature ride along in an error. */
function redact(text, fields) {
  let out = String(text ?? '');
  for (const [name, value] of Object.entries(fields)) {
    if (name !== 'key' && typeof value === 'string' && value.length >= 16) out = out.split(value).join('[redacted]');
  }
  return out;
}

/** The app's answer to an upload callback, which OSS relays as the 200 body: JSON, else the text. */
function callbackAnswer(body) {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'string') return body; // a platform that parsed the JSON already
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/**
 * OSS's answer to a PostObject (204 by default, 200 with `success_action_status=200`, 201
 * with an XML body, 200 with the app's JSON when the form carried a callback, 203 when that
 * callback failed after the object was stored); anything else is OSS refusing the upload.
 */
function settle(form, status, body) {
  const location = objectUrl(form.url, form.key);
  if (status === 200 || status === 201 || status === 204) {
    const result = { key: form.key, status, location };
    if (status === 200 && form.fields.callback !== undefined) {
      const answer = callbackAnswer(body);
      if (answer !== undefined) result.callback = answer;
    }
    return result;
  }
  const oss = parseOssError(typeof body === 'string' ? body : '');
  if (status === 203) {
    const detail = oss.message ? `: ${redact(oss.message, form.fields)}` : '';
    throw new CallbackFailedError(`OSS stored the object but the upload callback failed (203 CallbackFailed)${detail}`, {
      requestId: oss.requestId, key: form.key, location,
    });
  }
  const code = oss.code ?? `HTTP${status}`;
  const detail = oss.message ? `: ${redact(oss.message, form.fields)}` : '';
  throw new UploadError(`OSS refused the upload (${status} ${code})${detail}`, {
    code, status, requestId: oss.requestId, key: form.key,
  });
}

/** The HTTP status in a platform's result: `statusCode` or `status`, a number or (DingTalk, Alipay's IDE) a string. */
function statusOf(res) {
  const s = res?.statusCode ?? res?.status;
  return typeof s === 'number' ? s : Number(s);
}

/** A failure callback's payload carries an HTTP answer (Alipay and DingTalk report some that way). */
function isHttpAnswer(res) {
  return Number.isFinite(statusOf(res)) && statusOf(res) > 0;
}

// Failure payloads: WeChat, QQ, Baidu, Douyin, uni-app and Taro give `errMsg` ("uploadFile:fail
// …") with `errno`/`errCode`/`errNo`; Alipay and DingTalk give `error` (a number) and `errorMessage`.
function platformCodeOf(err) {
  return err?.error ?? err?.errno ?? err?.errCode ?? err?.errNo;
}

function platformMessageOf(err) {
  const m = err?.errorMessage ?? err?.errMsg ?? err?.message;
  return m === undefined ? String(err) : String(m);
}

/** The kit's code for a failure message every platform spells alike. */
function codeFromMessage(message) {
  if (/abort/i.test(message)) return 'aborted';
  if (/domain list|not in domain|合法域名|域名白名单|whitelist/i.test(message)) return 'domain-not-allowed';
  if (/parameter error|invalid param|无效参数|参数错误|file not (?:found|exist)|文件不存在/i.test(message)) return 'invalid-argument';
  return 'network';
}

/** `{ code, platformCode, message }`: the platform's number first (when its docs give one), then its message. */
function classify(err, descriptor) {
  const platformCode = platformCodeOf(err);
  const message = platformMessageOf(err);
  const code = descriptor.failureCodes?.[platformCode] ?? codeFromMessage(message);
  return { code, platformCode, message };
}

function uploadFailure(err, form, descriptor) {
  const { code, platformCode, message } = classify(err, descriptor);
  return new UploadError(`the upload did not complete: ${message}`, { code, platformCode, key: form?.key });
}

/**
 * Calls `api[method](args)` and settles once, whichever way the platform answers: the
 * success/fail callbacks, or the promise it returns (Taro always; uni-app and others when
 * wrapped). uni-app's Vue 2 promises resolve `[err, res]`. Resolves `{ ok, value }`; rejects
 * only when the call itself throws (bad arguments are a bug, not a network failure).
 */
function callPlatform(api, method, args, control) {
  return new Promise((resolve, reject) => {
    let done = false;
    let task;
    const finish = (ok, value) => {
      if (!done) {
        done = true;
        control?.inflight.delete(task);
        resolve({ ok, value });
      }
    };
    let returned;
    try {
      returned = api[method]({ ...args, success: (res) => finish(true, res), fail: (err) => finish(false, err) });
    } catch (e) {
      done = true;
      reject(e);
      return;
    }
    // The task a platform returns (uploadFile, request) can be stopped: abort() reaches it.
    if (control && !done && returned && typeof returned.abort === 'function') {
      task = returned;
      control.inflight.add(task);
      if (control.aborted) task.abort(); // abort() came while this call was being made
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((res) => {
        if (Array.isArray(res) && res.length === 2) {
          if (res[0]) finish(false, res[0]);
          else if (res[1] && typeof res[1] === 'object') finish(true, res[1]);
        } else if (res && typeof res === 'object') {
          finish(true, res);
        }
        // Anything else (undefined from a wrapper that only reports through callbacks): wait for them.
      }, (err) => finish(false, err));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The platforms. Each descriptor names the request API and the exact `uploadFile` parameters its
// documentation gives (docs/client-kit.md#platforms has the table and the sources); the core
// below does everything else.
//
// - upload(form, options): the `uploadFile` arguments besides success/fail.
// - request: { method, headers: the request header parameter's name, dataType }.
// - refusedHeaders: request headers the platform will not send (lower case), dropped; no
//   platform lets a mini program set Referer.
// - failureCodes / requestFailureCodes: the platform's documented failure numbers for
//   uploadFile / its request API → the kit's codes. Other failures are told by their message.
// - maxConcurrent: uploads in flight per platform object; more wait in a queue.
// - putBytes: its request API PUTs an ArrayBuffer (uploads in parts, docs/client-kit.md#big-files):
//   wx.request; my.request on Alipay clients ≥ 10.1.95; QQ's, uni-app's and Taro's request,
//   which take WeChat's parameters. Douyin's refuses a Content-Type header, DingTalk has only
//   httpRequest, Baidu's is not documented to: those send forms only.

/** WeChat documents at most 10 concurrent network tasks; the same bound is kept on every platform. */
const MAX_CONCURRENT = 10;

const nameFile = ({ url, fields }, { filePath }) => ({ url, filePath, name: 'file', formData: fields });

const PLATFORMS = {
  alipay: {
    label: 'uploadWithAlipay',
    putBytes: true,
    // Alipay's IDE still checks fileType (image/video/audio); older docs name the file key fileName.
    upload: ({ url, fields }, { filePath, fileType }) => ({ url, fileType, fileName: 'file', filePath, formData: fields }),
    request: { method: 'request', headers: 'headers', dataType: 'text' },
    // my.uploadFile's error table: 4 domain not on the allow-list, 9 aborted, 11 no such file or
    // a bad parameter, 12 the request failed or timed out, 20 HTTP instead of HTTPS.
    failureCodes: { 4: 'domain-not-allowed', 9: 'aborted', 11: 'invalid-argument', 12: 'network', 20: 'https-required' },
    // my.request's: 2 bad parameter, 4 and 11 not allowed to call (no allow-listed domain), 9
    // aborted; 12, 13 (timeout) and the rest are the network.
    requestFailureCodes: { 2: 'invalid-argument', 4: 'domain-not-allowed', 9: 'aborted', 11: 'domain-not-allowed' },
  },
  wechat: {
    label: 'uploadWithWechat',
    putBytes: true,
    upload: nameFile,
    request: { method: 'request', headers: 'header', dataType: 'text' },
  },
  douyin: {
    label: 'uploadWithDouyin',
    upload: nameFile,
    request: { method: 'request', headers: 'header', dataType: 'string' },
    // tt.uploadFile refuses to set all three, tt.request the first two.
    refusedHeaders: ['referer', 'user-agent', 'content-type'],
  },
  dingtalk: {
    label: 'uploadWithDingTalk',
    // dd.uploadFile names the file key fileName and requires fileType ("无效参数" without it).
    upload: ({ url, fields }, { filePath, fileType }) => ({ url, fileName: 'file', fileType, filePath, formData: fields }),
    // DingTalk has no my.request-style `request`: httpRequest, Alipay's older shape.
    request: { method: 'httpRequest', headers: 'headers', dataType: 'text' },
  },
  baidu: {
    label: 'uploadWithBaidu',
    upload: nameFile,
    request: { method: 'request', headers: 'header', dataType: 'string' },
  },
  qq: {
    label: 'uploadWithQQ',
    putBytes: true,
    upload: nameFile,
    request: { method: 'request', headers: 'header', dataType: 'text' },
  },
  uni: {
    label: 'uploadWithUni',
    putBytes: true,
    // fileType is read only when uni-app builds for Alipay, where it is required.
    upload: ({ url, fields }, { filePath, fileType }) => ({ url, filePath, name: 'file', fileType, formData: fields }),
    request: { method: 'request', headers: 'header', dataType: 'text' },
  },
  taro: {
    label: 'uploadWithTaro',
    putBytes: true,
    upload: nameFile,
    request: { method: 'request', headers: 'header', dataType: 'text' },
  },
};

for (const [name, d] of Object.entries(PLATFORMS)) {
  d.name = name;
  d.maxConcurrent = MAX_CONCURRENT;
  d.refusedHeaders = d.refusedHeaders ?? ['referer'];
}

/** The request API of an unnamed `my` or `wx`: both header parameter names, as before. */
const GENERIC_REQUEST = {
  request: { method: 'request', headers: ['header', 'headers'], dataType: 'text' },
  refusedHeaders: ['referer'],
};

function withoutRefused(headers, refused) {
  if (!refused) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !refused.includes(k.toLowerCase())));
}

function toResponse(res) {
  const data = res.data;
  const text = typeof data === 'string' ? data : JSON.stringify(data ?? null);
  const raw = res.header ?? res.headers ?? {};
  const status = statusOf(res);
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: {
      get: (name) => {
        const k = Object.keys(raw).find((h) => h.toLowerCase() === name.toLowerCase());
        return k === undefined ? null : raw[k];
      },
    },
    text: async () => text,
    json: async () => (typeof data === 'string' ? JSON.parse(data) : data),
  };
}

/**
 * A `fetch`-like function over a mini program's request API. With `platform` ('alipay',
 * 'wechat', 'douyin', 'dingtalk', 'baidu', 'qq', 'uni', 'taro') it uses exactly that platform's
 * parameter names (DingTalk: `dd.httpRequest`); without it, `api.request` with both `header`
 * (WeChat) and `headers` (Alipay).
 */
export function requestFetch(api, platform) {
  const descriptor = platform === undefined ? GENERIC_REQUEST : PLATFORMS[platform];
  if (!descriptor) throw new TypeError(`unknown platform ${platform}: use one of ${Object.keys(PLATFORMS).join(', ')}`);
  const { method, headers: headerParam, dataType } = descriptor.request;
  if (!api || typeof api[method] !== 'function') {
    throw new TypeError(`requestFetch needs \`my\` or \`wx\` (or the platform's object, with ${method}())`);
  }
  return async (url, init = {}) => {
    const headers = withoutRefused({ ...(init.headers ?? {}) }, descriptor.refusedHeaders);
    const args = { url, method: init.method ?? 'GET', dataType }; // parse here, the same way everywhere
    if (init.body !== undefined) args.data = init.body;
    for (const name of [].concat(headerParam)) args[name] = headers;
    const { ok, value } = await callPlatform(api, method, args, init.control);
    // Alipay and DingTalk report an HTTP error status through `fail`, with the answer attached.
    if (ok || (isHttpAnswer(value) && value.data !== undefined)) return toResponse(value);
    const { code, platformCode, message } = classify(value, { failureCodes: descriptor.requestFailureCodes });
    throw new TransportError(message || 'request failed', { code, platformCode });
  };
}

/** In-flight uploads per platform object, so that no more than the platform allows run at once. */
const gates = new WeakMap();

async function withSlot(api, limit, run) {
  if (!api || (typeof api !== 'object' && typeof api !== 'function') || !limit) return run();
  let gate = gates.get(api);
  if (!gate) {
    gate = { active: 0, waiting: [] };
    gates.set(api, gate);
  }
  if (gate.active >= limit) await new Promise((wake) => gate.waiting.push(wake));
  else gate.active += 1;
  try {
    return await run();
  } finally {
    // Hand the slot straight to the next waiter, or give it back.
    const next = gate.waiting.shift();
    if (next) next();
    else gate.active -= 1;
  }
}

function formOptions(options, fetchFn, filename) {
  return { ...options, filename, fetch: fetchFn };
}

/** The options an upload in parts takes from an upload's options. */
function partOptions(options, fetchFn, filename, size, control) {
  const {
    brokerUrl, headers, profile, contentType, partSize, concurrency, retries, retryDelayMs, resume,
    onProgress, onUploadCreated,
  } = options;
  return {
    brokerUrl, headers, profile, contentType, partSize, concurrency, retries, retryDelayMs, resume,
    onProgress, onUploadCreated, fetch: fetchFn, filename, size, control,
  };
}

/** Whether `size` bytes go in parts: above the threshold (or when resuming one). */
function wantsParts(options, size) {
  if (options.resume) return true;
  const threshold = options.multipartThreshold ?? DEFAULT_THRESHOLD;
  return Number.isFinite(size) && size > threshold;
}

function tooBigForForm(label, size) {
  return new UploadError(`${label}: ${size} bytes is over what one form upload carries (5 GB), and this platform cannot PUT parts`, {
    code: 'too-large-for-form',
  });
}

/** A platform call as a promise of its success payload; a failure rejects as an UploadError. */
async function platformCall(target, method, args, descriptor) {
  const { ok, value } = await callPlatform(target, method, args);
  if (!ok) throw uploadFailure(value, undefined, descriptor);
  return value;
}

/** The file's size from the platform's FileSystemManager (`getFileInfo`), unless given. */
async function fileSize(api, filePath, options, descriptor) {
  if (options.size !== undefined) return options.size;
  if (typeof api.getFileSystemManager !== 'function') return undefined;
  const fs = api.getFileSystemManager();
  if (!fs || typeof fs.getFileInfo !== 'function') return undefined;
  const info = await platformCall(fs, 'getFileInfo', { filePath }, descriptor);
  return Number(info?.size);
}

/**
 * Parts from a mini program: each range read with `FileSystemManager.readFile` (`position`,
 * `length`, no encoding: an ArrayBuffer), each PUT with the request API and an explicit empty
 * `content-type`: the part URLs sign none, and `wx.request`/`my.request` would send
 * `application/json`, which OSS counts in a V4 signature (protocol.md §16.2).
 */
function partsFromPlatform(descriptor, api, filePath, options, size, control) {
  const fs = api.getFileSystemManager();
  const put = requestFetch(api, descriptor.name);
  return uploadInParts({
    ...partOptions(options, options.fetch ?? put, options.filename ?? filePath, size, control),
    readPart: async (start, end) => {
      const res = await platformCall(fs, 'readFile', { filePath, position: start, length: end - start }, descriptor);
      return res.data;
    },
    putPart: (url, body) => put(url, { method: 'PUT', headers: { 'content-type': '' }, body, control }),
  });
}

/**
 * The one mini-program upload: a form from the broker through the platform's request API (or
 * `options.fetch`), then `uploadFile`, queued per platform object beyond `maxConcurrent`. The
 * form is fetched only once a slot is free, so a queued server-signed form never ages. Above
 * `multipartThreshold` bytes, on a platform that can PUT bytes, the file goes in parts.
 */
function uploadVia(descriptor, api, options = {}) {
  const control = newControl();
  const running = runUpload(descriptor, api, options, control);
  running.abort = () => control.abort();
  return running;
}

async function runUpload(descriptor, api, options, control) {
  const { filePath, fileType = 'image' } = options;
  if (typeof filePath !== 'string' || !filePath) throw new TypeError(`${descriptor.label} needs filePath`);
  if (!api || typeof api.uploadFile !== 'function') throw new TypeError(`${descriptor.label} needs the platform object, with uploadFile()`);
  return withSlot(api, descriptor.maxConcurrent, async () => {
    const size = await fileSize(api, filePath, options, descriptor);
    if (wantsParts(options, size)) {
      if (descriptor.putBytes && typeof api.getFileSystemManager === 'function') {
        return partsFromPlatform(descriptor, api, filePath, options, size, control);
      }
      if (size > FORM_LIMIT) throw tooBigForForm(descriptor.label, size);
    }
    const fetchFn = options.fetch ?? requestFetch(api, descriptor.name);
    const form = await createPostForm(formOptions(options, fetchFn, options.filename ?? filePath));
    const { ok, value } = await callPlatform(api, 'uploadFile', descriptor.upload(form, { filePath, fileType }), control);
    if (!ok && !isHttpAnswer(value)) throw uploadFailure(value, form, descriptor);
    return settle(form, statusOf(value), value?.data);
  });
}

/**
 * Alipay: `my.uploadFile` with the form. `filePath` comes from e.g. `my.chooseImage`; `fileType`
 * is `image`, `video` or `audio` (Alipay's IDE requires it).
 */
export function uploadWithAlipay(my, options) {
  return uploadVia(PLATFORMS.alipay, my, options);
}

/** WeChat: `wx.uploadFile` with the form. `filePath` comes from e.g. `wx.chooseMedia`. */
export function uploadWithWechat(wx, options) {
  return uploadVia(PLATFORMS.wechat, wx, options);
}

/** Douyin: `tt.uploadFile` with the form; headers Douyin refuses (referer, user-agent, content-type) are never sent. */
export function uploadWithDouyin(tt, options) {
  return uploadVia(PLATFORMS.douyin, tt, options);
}

/** DingTalk: `dd.uploadFile` (`fileName` + `fileType`) with the form; the broker through `dd.httpRequest`. */
export function uploadWithDingTalk(dd, options) {
  return uploadVia(PLATFORMS.dingtalk, dd, options);
}

/** Baidu: `swan.uploadFile` with the form. */
export function uploadWithBaidu(swan, options) {
  return uploadVia(PLATFORMS.baidu, swan, options);
}

/** QQ: `qq.uploadFile` with the form. */
export function uploadWithQQ(qq, options) {
  return uploadVia(PLATFORMS.qq, qq, options);
}

/** uni-app (every target): `uni.uploadFile` with the form; `fileType` is passed for its Alipay target. */
export function uploadWithUni(uni, options) {
  return uploadVia(PLATFORMS.uni, uni, options);
}

/** Taro (every target): `Taro.uploadFile` with the form. */
export function uploadWithTaro(Taro, options) {
  return uploadVia(PLATFORMS.taro, Taro, options);
}

// Signed download URLs through each adapter's platform: `uploadWithWechat.getUrl(wx, key,
// options)` asks the broker through `wx.request`, and so on; `uploadWithFetch.getUrl(key,
// options)` through `fetch`. `options.fetch` still wins.
const ADAPTERS = [
  [uploadWithAlipay, 'alipay'], [uploadWithWechat, 'wechat'], [uploadWithDouyin, 'douyin'],
  [uploadWithDingTalk, 'dingtalk'], [uploadWithBaidu, 'baidu'], [uploadWithQQ, 'qq'],
  [uploadWithUni, 'uni'], [uploadWithTaro, 'taro'],
];
for (const [adapter, platform] of ADAPTERS) {
  const via = (api, options = {}) => ({ ...options, fetch: options.fetch ?? requestFetch(api, platform) });
  adapter.getUrl = (api, key, options) => getUrl(key, via(api, options));
  adapter.getUrls = (api, keys, options) => getUrls(keys, via(api, options));
}
uploadWithFetch.getUrl = (key, options) => getUrl(key, options);
uploadWithFetch.getUrls = (keys, options) => getUrls(keys, options);

/**
 * A page: `FormData` + `fetch`, the fields first and the `File`/`Blob` last as `file`. Above
 * `multipartThreshold` bytes, parts: `Blob.slice` ranges PUT with `fetch` (no Content-Type: a
 * slice has no type). The promise has `abort()`.
 */
export function uploadWithFetch(options = {}) {
  const control = newControl();
  const running = fetchUpload(options, control);
  running.abort = () => control.abort();
  return running;
}

async function fetchUpload(options, control) {
  const { file } = options;
  if (!file || typeof file !== 'object') throw new TypeError('uploadWithFetch needs file (a File or Blob)');
  const filename = options.filename ?? file.name ?? '';
  const fetchFn = options.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (typeof fetchFn !== 'function') throw new TypeError('uploadWithFetch needs fetch (pass `fetch` where there is none)');
  if (wantsParts(options, file.size)) {
    return uploadInParts({
      ...partOptions(options, fetchFn, filename, file.size, control),
      contentType: options.contentType ?? (file.type || undefined),
      readPart: async (start, end) => file.slice(start, end),
      putPart: (url, body) => putWithFetch(fetchFn, url, body, control),
    });
  }
  const form = await createPostForm(formOptions(options, options.fetch, filename));
  const body = new FormData();
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
  body.append('file', file, filename.split(/[\\/]/).pop() || 'file');
  let response;
  try {
    // No headers of our own: the browser sets the multipart boundary, and the request stays
    // simple enough to need no CORS preflight.
    response = await fetchFn(form.url, withSignal({ method: 'POST', body }, control));
  } catch (e) {
    throw uploadFailure(e, form, {});
  }
  return settle(form, response.status, await response.text());
}

/** An AbortController's signal on the request, registered so that abort() stops it. */
function withSignal(init, control) {
  if (typeof AbortController !== 'function') return init;
  const stop = new AbortController();
  control.inflight.add(stop);
  if (control.aborted) stop.abort();
  return { ...init, signal: stop.signal };
}

async function putWithFetch(fetchFn, url, body, control) {
  const init = withSignal({ method: 'PUT', body }, control);
  try {
    return await fetchFn(url, init);
  } catch (e) {
    if (control.aborted) throw new TransportError('aborted', { code: 'aborted' });
    throw new TransportError(e?.message ?? String(e), { code: 'network' });
  }
}
