// Platform adapters: post a form from `createPostForm` with Alipay's `my.uploadFile`, WeChat's
// `wx.uploadFile` or a page's `fetch`, and turn mini programs' `request` into a fetch-like
// function. Each upload resolves `{ key, status, location }` or rejects with an UploadError
// carrying OSS's error code. Nothing is logged.
import { createPostForm } from './client.js';

/** OSS refused the upload (or it never got there): `code` is OSS's `<Code>` when it answered. */
export class UploadError extends Error {
  constructor(message, { code, status, requestId, key } = {}) {
    super(message);
    this.name = 'UploadError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.key = key;
  }
}

function xmlText(xml, tag) {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (!m) return undefined;
  return m[1]
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** `{ code, message, requestId }` of an OSS XML error body (protocol.md §5.8); fields missing stay undefined. */
export function parseOssError(body) {
  const xml = typeof body === 'string' ? body : '';
  return { code: xmlText(xml, 'Code'), message: xmlText(xml, 'Message'), requestId: xmlText(xml, 'RequestId') };
}

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

function settle(form, status, body) {
  if (status >= 200 && status < 300) {
    return { key: form.key, status, location: objectUrl(form.url, form.key) };
  }
  const oss = parseOssError(typeof body === 'string' ? body : '');
  const code = oss.code ?? `HTTP${status}`;
  const detail = oss.message ? `: ${redact(oss.message, form.fields)}` : '';
  throw new UploadError(`OSS refused the upload (${status} ${code})${detail}`, {
    code, status, requestId: oss.requestId, key: form.key,
  });
}

function statusOf(res) {
  const s = res?.statusCode ?? res?.status;
  return typeof s === 'number' ? s : Number(s);
}

function failure(err, form) {
  const why = err?.errMsg ?? err?.errorMessage ?? err?.message ?? String(err);
  return new UploadError(`the upload did not complete: ${why}`, { code: 'network', key: form?.key });
}

/** A `fetch`-like function over `my.request` (Alipay) or `wx.request` (WeChat). */
export function requestFetch(api) {
  if (!api || typeof api.request !== 'function') throw new TypeError('requestFetch needs `my` or `wx`');
  return (url, init = {}) => new Promise((resolve, reject) => {
    const headers = { ...(init.headers ?? {}) };
    const toResponse = (res) => {
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
    };
    api.request({
      url,
      method: init.method ?? 'GET',
      header: headers, // WeChat's name
      headers, // Alipay's name
      dataType: 'text', // parse here, the same way on both platforms
      success: (res) => resolve(toResponse(res)),
      // Alipay reports an HTTP error status through `fail`, with the answer attached.
      fail: (err) => (Number.isFinite(statusOf(err)) && err.data !== undefined
        ? resolve(toResponse(err))
        : reject(new Error(err?.errMsg ?? err?.errorMessage ?? 'request failed'))),
    });
  });
}

function formOptions(options, api, filename) {
  return {
    ...options,
    filename,
    fetch: options.fetch ?? (api ? requestFetch(api) : undefined),
  };
}

/**
 * Alipay: `my.uploadFile` with the form. `filePath` comes from e.g. `my.chooseImage`; `fileType`
 * is `image`, `video` or `audio` (Alipay requires it).
 */
export async function uploadWithAlipay(my, options = {}) {
  const { filePath, fileType = 'image' } = options;
  if (typeof filePath !== 'string' || !filePath) throw new TypeError('uploadWithAlipay needs filePath');
  const form = await createPostForm(formOptions(options, my, options.filename ?? filePath));
  const res = await new Promise((resolve, reject) => {
    my.uploadFile({
      url: form.url,
      fileType,
      fileName: 'file',
      filePath,
      formData: form.fields,
      success: resolve,
      fail: (err) => (Number.isFinite(statusOf(err)) ? resolve(err) : reject(failure(err, form))),
    });
  });
  return settle(form, statusOf(res), res.data);
}

/** WeChat: `wx.uploadFile` with the form. `filePath` comes from e.g. `wx.chooseMedia`. */
export async function uploadWithWechat(wx, options = {}) {
  const { filePath } = options;
  if (typeof filePath !== 'string' || !filePath) throw new TypeError('uploadWithWechat needs filePath');
  const form = await createPostForm(formOptions(options, wx, options.filename ?? filePath));
  const res = await new Promise((resolve, reject) => {
    wx.uploadFile({
      url: form.url,
      filePath,
      name: 'file',
      formData: form.fields,
      success: resolve,
      fail: (err) => reject(failure(err, form)),
    });
  });
  return settle(form, statusOf(res), res.data);
}

/** A page: `FormData` + `fetch`, the fields first and the `File`/`Blob` last as `file`. */
export async function uploadWithFetch(options = {}) {
  const { file } = options;
  if (!file || typeof file !== 'object') throw new TypeError('uploadWithFetch needs file (a File or Blob)');
  const filename = options.filename ?? file.name ?? '';
  const form = await createPostForm(formOptions(options, undefined, filename));
  const fetchFn = options.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (typeof fetchFn !== 'function') throw new TypeError('uploadWithFetch needs fetch (pass `fetch` where there is none)');
  const body = new FormData();
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
  body.append('file', file, filename.split(/[\\/]/).pop() || 'file');
  let response;
  try {
    // No headers of our own: the browser sets the multipart boundary, and the request stays
    // simple enough to need no CORS preflight.
    response = await fetchFn(form.url, { method: 'POST', body });
  } catch (e) {
    throw failure(e, form);
  }
  return settle(form, response.status, await response.text());
}
