// Uploads in parts through the broker's `/s3/multipart` routes (docs/multipart.md): the broker
// starts the upload and chooses the key, signs one PUT URL per part, lists the parts for a
// resume, completes and aborts; the bytes go straight to OSS. The platform supplies two
// functions, reading a byte range and PUTting it; everything else is here: parts in parallel
// (bounded), a failed part retried, a resume from what ListParts says is there, abort(), progress.
import { brokerRequest, BrokerError } from './client.js';
import { UploadError, parseOssError } from './errors.js';

/** Above this many bytes `upload…()` sends parts, where the platform can PUT bytes. */
export const DEFAULT_THRESHOLD = 10 * 1024 * 1024;
/** A PostObject carries at most 5 GB (protocol.md §5). */
export const FORM_LIMIT = 5 * 1024 * 1024 * 1024;
const DEFAULT_PART_SIZE = 5 * 1024 * 1024;
/** OSS refuses a part other than the last under 100 KB (EntityTooSmall). */
const MIN_PART_SIZE = 100 * 1024;
const MAX_PARTS = 10000;

/**
 * What `abort()` reaches: the upload's ids once the broker gave them, the requests in flight (a
 * platform task or an AbortController), and the promise of the broker's DELETE.
 */
export function newControl() {
  const control = {
    aborted: false,
    upload: undefined,
    inflight: new Set(),
    onAbort: undefined,
    abort() {
      if (control.aborted) return control.aborting ?? Promise.resolve();
      control.aborted = true;
      for (const task of control.inflight) {
        try { task.abort(); } catch { /* already settled */ }
      }
      control.aborting = Promise.resolve(control.onAbort?.()).catch(() => undefined);
      return control.aborting;
    },
  };
  return control;
}

function abortedError(upload) {
  return new UploadError('the upload was aborted', { code: 'aborted', key: upload?.key, uploadId: upload?.uploadId });
}

/** `/profiles/<name>` for a named profile (the `/s3` routes take it in the path as Uppy does). */
function base(brokerUrl, profile) {
  const root = String(brokerUrl ?? '').replace(/\/+$/, '');
  if (profile === undefined || profile === null) return root;
  if (typeof profile !== 'string') throw new TypeError('profile must be a string (a name from the broker\'s profiles file)');
  return `${root}/profiles/${encodeURIComponent(profile)}`;
}

function partSizeFor(size, asked) {
  const wanted = asked ?? DEFAULT_PART_SIZE;
  if (!Number.isInteger(wanted) || wanted < MIN_PART_SIZE) {
    throw new TypeError(`partSize must be a whole number of bytes, at least ${MIN_PART_SIZE} (OSS's smallest part)`);
  }
  // At most 10000 parts: a bigger file gets bigger parts.
  return Math.max(wanted, Math.ceil(size / MAX_PARTS));
}

function etagOf(response) {
  const h = response.headers;
  const v = typeof h?.get === 'function' ? h.get('etag') : undefined;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

const sleep = (ms) => new Promise((wake) => setTimeout(wake, ms));

/**
 * One upload in parts. `readPart(start, end)` resolves the bytes (a Blob or an ArrayBuffer);
 * `putPart(url, body, control)` resolves a fetch-like response of OSS's answer. `resume`
 * (`{ key, uploadId }` from an earlier try) lists the parts already there and sends only the
 * others. Resolves `{ key, status, location, uploadId, callback? }`; rejects with an UploadError
 * carrying `key` and `uploadId` (keep them to resume), or the BrokerError of a broker refusal.
 */
export async function uploadInParts(options) {
  const {
    brokerUrl, headers, profile, fetch: fetchFn, size, filename = '', contentType, readPart, putPart,
    concurrency = 3, retries = 3, retryDelayMs = 500, resume, onProgress, onUploadCreated,
    control = newControl(),
  } = options;
  if (!Number.isInteger(size) || size <= 0) throw new TypeError('an upload in parts needs size, a whole number of bytes > 0');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError('concurrency must be a whole number ≥ 1');
  const partSize = partSizeFor(size, options.partSize);
  const root = base(brokerUrl, profile);
  const call = (path, init) => brokerRequest(fetchFn, root, path, headers, init);
  if (control.aborted) throw abortedError();

  const upload = resume ? { key: resume.key, uploadId: resume.uploadId } : await start(call, filename, contentType);
  if (typeof upload.key !== 'string' || typeof upload.uploadId !== 'string') {
    throw new TypeError('resume needs { key, uploadId } from the earlier upload');
  }
  control.upload = upload;
  const ids = `${encodeURIComponent(upload.uploadId)}`;
  const keyQuery = `key=${encodeURIComponent(upload.key)}`;
  control.onAbort = () => call(`/s3/multipart/${ids}?${keyQuery}`, { method: 'DELETE' });
  if (control.aborted) {
    // abort() came while the broker was starting the upload: end it here.
    await Promise.resolve(control.onAbort()).catch(() => undefined);
    throw abortedError(upload);
  }
  onUploadCreated?.({ ...upload });

  const count = Math.ceil(size / partSize);
  const sizeOf = (n) => (n < count ? partSize : size - partSize * (count - 1));
  const done = new Map();
  if (resume) {
    const listed = await call(`/s3/multipart/${ids}?${keyQuery}`);
    for (const p of Array.isArray(listed) ? listed : []) {
      const n = Number(p.PartNumber);
      if (n >= 1 && n <= count && Number(p.Size) === sizeOf(n) && p.ETag) done.set(n, p.ETag);
    }
  }
  let loaded = 0;
  for (const n of done.keys()) loaded += sizeOf(n);
  const report = () => onProgress?.({ loaded, total: size, key: upload.key, uploadId: upload.uploadId });
  report();

  const queue = [];
  for (let n = 1; n <= count; n += 1) if (!done.has(n)) queue.push(n);
  const urlFor = partUrls(call, ids, keyQuery, queue);
  const sendOne = async (n) => {
    const etag = await sendPart({
      urlFor, n, putPart, control, upload, retries, retryDelayMs,
      read: () => readPart(partSize * (n - 1), partSize * (n - 1) + sizeOf(n)),
    });
    done.set(n, etag);
    loaded += sizeOf(n);
    report();
  };
  let failure;
  const worker = async () => {
    while (queue.length && !failure && !control.aborted) {
      const n = queue.shift();
      try {
        await sendOne(n);
      } catch (e) {
        failure = failure ?? e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  if (control.aborted) {
    await control.abort();
    throw abortedError(upload);
  }
  if (failure) throw failure;
  return complete(call, ids, keyQuery, upload, done);
}

async function start(call, filename, contentType) {
  const answer = await call('/s3/multipart', {
    method: 'POST',
    json: { filename, type: contentType || 'application/octet-stream', metadata: {} },
  });
  return { key: answer?.key, uploadId: answer?.uploadId };
}

/** Part URLs signed per batch: the part asked for and the next ones waiting, in one request. */
const BATCH = 10;
/** A URL signed this long ago is signed again (they live `BROKER_PART_URL_TTL_SECONDS`, 900 s by default). */
const URL_MAX_AGE_MS = 5 * 60 * 1000;

/**
 * `urlFor(n, fresh)`: part `n`'s URL, from an earlier batch when it is young enough; else the
 * batch route signs `n` and up to 9 parts still in `queue`. `fresh` (a retry) signs `n` alone.
 */
function partUrls(call, ids, keyQuery, queue) {
  const signed = new Map();
  return async (n, fresh) => {
    const kept = signed.get(n);
    signed.delete(n);
    if (!fresh && kept && Date.now() - kept.at < URL_MAX_AGE_MS) return kept.url;
    if (fresh) return (await call(`/s3/multipart/${ids}/${n}?${keyQuery}`)).url;
    const numbers = [n, ...queue.filter((m) => !signed.has(m)).slice(0, BATCH - 1)];
    const answer = await call(`/s3/multipart/${ids}/batch?${keyQuery}&partNumbers=${numbers.join(',')}`);
    const urls = answer?.presignedUrls ?? {};
    const at = Date.now();
    for (const m of numbers) if (m !== n && typeof urls[m] === 'string') signed.set(m, { url: urls[m], at });
    if (typeof urls[n] !== 'string') throw new BrokerError(`the batch route signed no URL for part ${n}`, { code: 'malformed' });
    return urls[n];
  };
}

/**
 * One part: its URL, the bytes, the PUT; retried `retries` times with a growing pause (or the
 * broker's `Retry-After` when it said 429), each retry with a newly signed URL.
 */
async function sendPart({ urlFor, n, read, putPart, control, upload, retries, retryDelayMs }) {
  let last;
  let pause = 0;
  for (let attempt = 0; attempt <= retries; attempt += 1) {
    if (control.aborted) throw abortedError(upload);
    if (attempt > 0) await sleep(Math.max(pause, retryDelayMs * 2 ** (attempt - 1)));
    pause = 0;
    try {
      const url = await urlFor(n, attempt > 0);
      const body = await read();
      if (control.aborted) throw abortedError(upload);
      const response = await putPart(url, body, control);
      const etag = etagOf(response);
      if (response.status >= 200 && response.status < 300 && etag) return etag;
      const text = typeof response.text === 'function' ? await response.text() : '';
      const oss = parseOssError(text);
      const code = response.status >= 200 && response.status < 300 ? 'no-etag' : oss.code ?? `HTTP${response.status}`;
      last = new UploadError(`OSS refused part ${n} (${response.status} ${code})`, {
        code, status: response.status, requestId: oss.requestId, key: upload.key, uploadId: upload.uploadId, partNumber: n,
      });
    } catch (e) {
      if (control.aborted) throw abortedError(upload);
      // The broker refusing to sign (a key not the caller's, no such upload) will not change.
      if (e instanceof BrokerError && e.status >= 400 && e.status < 500 && e.status !== 429) throw e;
      if (e instanceof BrokerError && e.status === 429) pause = (e.retryAfter ?? 1) * 1000;
      last = e instanceof UploadError ? e : new UploadError(`part ${n} did not arrive: ${e?.message ?? e}`, {
        code: e?.code ?? 'network', platformCode: e?.platformCode, key: upload.key, uploadId: upload.uploadId, partNumber: n,
      });
    }
  }
  throw last;
}

async function complete(call, ids, keyQuery, upload, done) {
  const parts = [...done.entries()].sort(([a], [b]) => a - b).map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
  const answer = await call(`/s3/multipart/${ids}/complete?${keyQuery}`, { method: 'POST', json: { parts } });
  const result = { key: upload.key, status: 200, location: answer?.location, uploadId: upload.uploadId };
  if (answer?.callback !== undefined) result.callback = answer.callback;
  if (answer?.callback_error !== undefined) result.callbackError = answer.callback_error;
  return result;
}
