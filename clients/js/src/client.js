// Talking to the broker: `/getToken` (cached until its RefreshAfter, with the broker's clock
// offset) and `/getPostObjectParams`, either for one upload profile (`?profile=`), and turning
// either into one upload's form; `/getObjectUrl` and `/getObjectUrls` for signed download URLs. Never logs: the credential's secret lives only in the cache and
// in the signature computation.
import CryptoJS from 'crypto-js';
import { signPostForm } from './sign.js';

const TOKEN_FIELDS = [
  'AccessKeyId', 'AccessKeySecret', 'SecurityToken', 'Expiration', 'Bucket', 'Region', 'Host',
  'Dir', 'ServerTime', 'RefreshAfter',
];
/** Keep serving a cached credential through a broker outage only while this much of it is left. */
const OUTAGE_MARGIN_MS = 60 * 1000;

/** An error answer from the broker (`{code, message, request_id}`), or no answer at all. */
export class BrokerError extends Error {
  constructor(message, { status, code, requestId, retryAfter } = {}) {
    super(message);
    this.name = 'BrokerError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/**
 * A request that never got an HTTP answer, as a platform adapter classified it (`code`:
 * 'network', 'aborted', 'domain-not-allowed', …; `platformCode`: the platform's own number or
 * errno). Internal: the broker call turns it into a BrokerError with the same code.
 */
export class TransportError extends Error {
  constructor(message, { code = 'network', platformCode } = {}) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
    this.platformCode = platformCode;
  }
}

// Older mini-program runtimes lack `globalThis`; naming it unguarded would throw there.
const root = typeof globalThis === 'object' ? globalThis : {};

const defaultCache = new Map();
/** The requests in flight, per cache and slot, so concurrent uploads share one `/getToken`. */
const inflight = new WeakMap();

/** Forgets every cached credential (e.g. on sign-out). */
export function clearCredentialCache(cache = defaultCache) {
  cache.clear();
}

function joinUrl(base, path) {
  return `${String(base ?? '').replace(/\/+$/, '')}${path}`;
}

/**
 * `?profile=<name>` for a named upload profile, '' for the broker's default one. The broker
 * decides which names exist (an unknown or empty one is its `400 unknown-profile`); here a
 * profile only has to be a string, and it is percent-encoded.
 */
function profileQuery(profile) {
  if (profile === undefined || profile === null) return '';
  if (typeof profile !== 'string') throw new TypeError('profile must be a string (a name from the broker\'s profiles file)');
  return `?profile=${encodeURIComponent(profile)}`;
}

/**
 * The cache slot for one broker, one caller and one profile (each has its own Dir); headers
 * (which may carry a bearer token) are hashed.
 */
function slotOf(brokerUrl, headers, profile) {
  const entries = Object.entries(headers ?? {})
    .map(([k, v]) => [k.toLowerCase(), String(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${brokerUrl}${profileQuery(profile)}|${CryptoJS.SHA256(JSON.stringify(entries)).toString(CryptoJS.enc.Hex)}`;
}

/** An answer made for another profile than the one asked for (e.g. a cache that drops the query). */
function checkProfile(path, answered, profile) {
  if (answered === undefined || answered === null) return; // a broker without profiles names none
  const wanted = profile ?? 'default';
  if (answered !== wanted) {
    throw new BrokerError(`${path} answered for profile ${answered}, not ${wanted}`, { code: 'malformed' });
  }
}

function header(response, name) {
  const h = response.headers;
  if (!h) return undefined;
  if (typeof h.get === 'function') return h.get(name) ?? undefined;
  const found = Object.keys(h).find((k) => k.toLowerCase() === name.toLowerCase());
  return found === undefined ? undefined : h[found];
}

async function readJson(response) {
  if (typeof response.json === 'function') return response.json();
  return typeof response.data === 'string' ? JSON.parse(response.data) : response.data;
}

/**
 * GET `path` (with its query) from the broker; a non-2xx answer becomes a BrokerError carrying
 * its code. Messages name the path without the query.
 */
async function brokerGet(fetchFn, brokerUrl, pathAndQuery, headers) {
  return brokerRequest(fetchFn, brokerUrl, pathAndQuery, headers);
}

/** As brokerGet; with `json`, a POST of that value as the JSON body. */
async function brokerCall(fetchFn, brokerUrl, pathAndQuery, headers, json) {
  return brokerRequest(fetchFn, brokerUrl, pathAndQuery, headers, { method: json === undefined ? 'GET' : 'POST', json });
}

/** `brokerGet` with another method and, when given, a JSON body (`/s3/multipart`, `/getObjectUrls`). */
export async function brokerRequest(fetchFn, brokerUrl, pathAndQuery, headers, { method = 'GET', json } = {}) {
  const path = pathAndQuery.split('?')[0];
  if (typeof fetchFn !== 'function') {
    throw new TypeError('no fetch: pass `fetch` (in a mini program, requestFetch(my) or requestFetch(wx))');
  }
  const init = { method, headers: { Accept: 'application/json', ...(headers ?? {}) }, cache: 'no-store' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetchFn(joinUrl(brokerUrl, pathAndQuery), init);
  } catch (e) {
    throw new BrokerError(`could not reach the broker: ${e && e.message ? e.message : e}`, {
      code: e instanceof TransportError ? e.code : 'network',
    });
  }
  if (response.status < 200 || response.status >= 300) {
    let body = {};
    try { body = (await readJson(response)) ?? {}; } catch { /* not JSON: keep the status */ }
    const retryAfter = Number(header(response, 'retry-after'));
    throw new BrokerError(
      `${path} answered ${response.status}${body.code ? ` ${body.code}` : ''}${body.message ? `: ${body.message}` : ''}`,
      {
        status: response.status,
        code: body.code,
        requestId: body.request_id ?? header(response, 'x-request-id'),
        retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
      },
    );
  }
  try {
    return await readJson(response);
  } catch {
    throw new BrokerError(`${path} answered ${response.status} without JSON`, { status: response.status, code: 'malformed' });
  }
}

/**
 * A fresh enough `/getToken` body and the offset (broker clock − device clock, in ms) to sign
 * with. Cached per broker, caller and profile until RefreshAfter on the corrected clock;
 * concurrent callers share one request.
 */
export async function getCredential({
  brokerUrl, headers, profile, fetch: fetchFn, now = Date.now, cache = defaultCache,
}) {
  const slot = slotOf(brokerUrl, headers, profile);
  const entry = cache.get(slot);
  if (entry && now() + entry.offsetMs < entry.refreshAtMs) return entry;
  let running = inflight.get(cache);
  if (!running) {
    running = new Map();
    inflight.set(cache, running);
  }
  const pending = running.get(slot);
  if (pending) return pending;
  const load = loadCredential({ brokerUrl, headers, profile, fetchFn, now, cache, slot, stale: entry })
    .finally(() => running.delete(slot));
  running.set(slot, load);
  return load;
}

async function loadCredential({ brokerUrl, headers, profile, fetchFn, now, cache, slot, stale }) {
  const sentAt = now();
  let token;
  try {
    token = await brokerGet(fetchFn, brokerUrl, `/getToken${profileQuery(profile)}`, headers);
  } catch (e) {
    // Contract: through a broker or STS outage, a credential that has not expired still works.
    if (stale && now() + stale.offsetMs < stale.expiresAtMs - OUTAGE_MARGIN_MS) return stale;
    throw e;
  }
  const receivedAt = now();
  const missing = TOKEN_FIELDS.filter((f) => typeof token?.[f] !== 'string' || token[f] === '');
  if (missing.length) {
    throw new BrokerError(`/getToken answered without ${missing.join(', ')}`, { code: 'malformed' });
  }
  checkProfile('/getToken', token.Profile, profile);
  const serverTime = Date.parse(token.ServerTime);
  const expiresAtMs = Date.parse(token.Expiration);
  const refreshAfter = Date.parse(token.RefreshAfter);
  if (!Number.isFinite(expiresAtMs)) {
    throw new BrokerError('/getToken answered a bad Expiration', { code: 'malformed' });
  }
  // ServerTime has whole seconds; the middle of the request is the best guess of when it was read.
  const offsetMs = Number.isFinite(serverTime) ? serverTime - (sentAt + receivedAt) / 2 : 0;
  const fresh = {
    token,
    offsetMs,
    expiresAtMs,
    refreshAtMs: Number.isFinite(refreshAfter) ? refreshAfter : expiresAtMs - 5 * 60 * 1000,
  };
  cache.set(slot, fresh);
  return fresh;
}

/**
 * `.jpg` from `IMG_001.JPG`, `wxfile://tmp/a.b.png` or `C:\\x\\y.webp`; '' when there is no plain
 * extension. Only ASCII letters and digits survive, at most 10 of them, lower-cased: the key must
 * never carry a path, a query or markup from a user's file name.
 */
export function extensionOf(filename) {
  if (typeof filename !== 'string') return '';
  const base = filename.split(/[?#]/)[0].split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return '';
  const ext = base.slice(dot + 1).toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 10);
  return ext ? `.${ext}` : '';
}

function randomHex(bytes) {
  const c = root.crypto;
  const out = new Uint8Array(bytes);
  if (c && typeof c.getRandomValues === 'function') {
    c.getRandomValues(out);
  } else {
    // Mini programs have no Web Crypto: uniqueness, not secrecy, is what the name needs.
    for (let i = 0; i < bytes; i += 1) out[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(out, (b) => b.toString(16).padStart(2, '0')).join('');
}

let counter = 0;

/** A new object key under `dir`: time on the broker's clock, a counter and randomness, then the extension. */
export function newObjectKey(dir, filename, nowMs) {
  counter = (counter + 1) % 1296;
  const stamp = Math.max(0, Math.floor(nowMs)).toString(36);
  return `${dir}${stamp}-${counter.toString(36).padStart(2, '0')}${randomHex(8)}${extensionOf(filename)}`;
}

/** What `/getPostObjectParams` says about the form rather than puts in it: never posted. */
const SERVER_META = new Set(['host', 'dir', 'expire', 'profile']);

/**
 * One upload's form: `{ url, key, fields }`. Post `fields` in order, then the file as `file`.
 *
 * - `mode: 'sts'` (default): the credential from `/getToken` (cached until RefreshAfter) signs the
 *   policy here, V4 unless `signatureVersion: 'v1'`, on the broker's clock.
 * - `mode: 'server'`: `/getPostObjectParams` signs it; the secret never reaches the client. A
 *   profile with an upload callback puts a `callback` field in the form, posted as given.
 *
 * `profile` names one of the broker's upload profiles (`?profile=` on either endpoint); without
 * it the broker uses its default profile.
 *
 * `fetch` defaults to the global one; in mini programs pass `requestFetch(my)` / `requestFetch(wx)`.
 * `now` (ms) is the device clock, injectable for tests.
 */
export async function createPostForm(options = {}) {
  const {
    brokerUrl = '',
    filename,
    headers,
    mode = 'sts',
    profile,
    now = Date.now,
    cache = defaultCache,
    signatureVersion = 'v4',
    maxBytes,
    validForSeconds,
    contentType,
  } = options;
  // Called as a plain function: a browser's fetch refuses to run with another `this`.
  const fetchFn = options.fetch ?? (typeof root.fetch === 'function' ? root.fetch.bind(root) : undefined);
  const query = profileQuery(profile);
  if (mode === 'server') {
    const params = await brokerGet(fetchFn, brokerUrl, `/getPostObjectParams${query}`, headers);
    if (typeof params?.host !== 'string' || typeof params?.dir !== 'string' || typeof params?.policy !== 'string') {
      throw new BrokerError('/getPostObjectParams answered without host, dir or policy', { code: 'malformed' });
    }
    checkProfile('/getPostObjectParams', params.profile, profile);
    // The server's form has no clock of ours in it; the key's stamp only needs to be unique.
    const key = newObjectKey(params.dir, filename, now());
    const fields = { key };
    for (const [name, value] of Object.entries(params)) {
      if (!SERVER_META.has(name) && name !== 'key') fields[name] = String(value);
    }
    if (contentType) fields['Content-Type'] = contentType;
    return { url: params.host, key, fields };
  }
  if (mode !== 'sts') throw new TypeError(`unknown mode ${mode}: use 'sts' or 'server'`);
  const { token, offsetMs } = await getCredential({ brokerUrl, headers, profile, fetch: fetchFn, now, cache });
  const serverNow = now() + offsetMs;
  const key = newObjectKey(token.Dir, filename, serverNow);
  const fields = signPostForm(token, key, {
    nowMs: serverNow,
    version: signatureVersion,
    maxBytes,
    validForMs: validForSeconds === undefined ? undefined : validForSeconds * 1000,
    contentType,
  });
  return { url: token.Host, key, fields };
}

/** The fetch to use: the option's, else the global one (called as a plain function). */
function fetchOf(options) {
  return options.fetch ?? (typeof root.fetch === 'function' ? root.fetch.bind(root) : undefined);
}

/** `expires` as the broker takes it: a whole number of seconds ≥ 1, or absent. */
function checkExpires(expires) {
  if (expires === undefined || expires === null) return undefined;
  if (!Number.isInteger(expires) || expires < 1) throw new TypeError('expires must be a whole number of seconds, at least 1');
  return expires;
}

/** A key as the kit sends it: a non-empty string (the broker applies the key rules). */
function checkKey(key) {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string (an object key)');
  return key;
}

function checkExpire(path, answer) {
  if (!Number.isFinite(answer?.expire)) throw new BrokerError(`${path} answered without expire`, { code: 'malformed' });
}

/**
 * A signed download URL for `key` from `/getObjectUrl`: `{ url, key, expire, profile }`
 * (`expire` in Unix seconds). The broker signs only keys the caller may read (its own
 * directory and the profile's read prefixes); `process` must be one of the profile's allowed
 * `x-oss-process` values; `filename` makes the browser save the object under that name;
 * `expires` (seconds) is capped by the broker. Options as for `createPostForm`: `brokerUrl`,
 * `headers`, `profile`, `fetch`.
 */
export async function getUrl(key, options = {}) {
  const { brokerUrl = '', headers, profile, process, filename } = options;
  const params = [['key', checkKey(key)]];
  if (process !== undefined && process !== null) params.push(['process', String(process)]);
  if (filename !== undefined && filename !== null) params.push(['filename', String(filename)]);
  const expires = checkExpires(options.expires);
  if (expires !== undefined) params.push(['expires', String(expires)]);
  if (profileQuery(profile)) params.push(['profile', profile]);
  const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  const answer = await brokerGet(fetchOf(options), brokerUrl, `/getObjectUrl?${query}`, headers);
  if (typeof answer?.url !== 'string' || answer.key !== key) {
    throw new BrokerError('/getObjectUrl answered without the url of the key asked for', { code: 'malformed' });
  }
  checkExpire('/getObjectUrl', answer);
  checkProfile('/getObjectUrl', answer.profile, profile);
  return answer;
}

/**
 * Signed download URLs for 1 to 100 keys in one request (`/getObjectUrls`):
 * `{ urls: [{ key, url }, …], expire, profile }`, in the order asked. One key the caller may not
 * read refuses the whole request (nothing is signed). `process` and `expires` apply to every key.
 */
export async function getUrls(keys, options = {}) {
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > 100) {
    throw new TypeError('keys must be an array of 1 to 100 object keys');
  }
  keys.forEach(checkKey);
  const { brokerUrl = '', headers, profile, process } = options;
  const body = { keys };
  if (process !== undefined && process !== null) body.process = String(process);
  const expires = checkExpires(options.expires);
  if (expires !== undefined) body.expires = expires;
  const path = `/getObjectUrls${profileQuery(profile)}`;
  const answer = await brokerCall(fetchOf(options), brokerUrl, path, headers, body);
  const urls = answer?.urls;
  if (!Array.isArray(urls) || urls.length !== keys.length
    || urls.some((u, i) => u?.key !== keys[i] || typeof u?.url !== 'string')) {
    throw new BrokerError('/getObjectUrls answered without one url per key asked for', { code: 'malformed' });
  }
  checkExpire('/getObjectUrls', answer);
  checkProfile('/getObjectUrls', answer.profile, profile);
  return answer;
}
