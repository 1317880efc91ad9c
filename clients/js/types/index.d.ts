// Type declarations for @sts-broker/upload-kit (src/index.js). cjs/index.d.ts is a generated copy
// for require() (scripts/build-cjs.js); edit this file, then run `npm run build:cjs`.

// ----------------------------------------------------------------------------------------------
// Talking to the broker

/** `'sts'`: the kit signs with a `/getToken` credential. `'server'`: `/getPostObjectParams` signs. */
export type Mode = 'sts' | 'server';

/** `'v4'` (OSS4-HMAC-SHA256, the default) or `'v1'` (HMAC-SHA1), for `sts` mode. */
export type SignatureVersion = 'v4' | 'v1';

/** What the kit reads of a response: a real `Response`, or what `requestFetch` makes. */
export interface FetchLikeResponse {
  status: number;
  ok?: boolean;
  headers?: { get(name: string): string | null | undefined } | Record<string, string>;
  json(): Promise<any>;
  text?(): Promise<string>;
}

/** What the kit passes to `fetch`: a GET to the broker, or (uploadWithFetch) the POST to OSS. */
export interface FetchLikeInit {
  method?: string;
  headers?: Record<string, string>;
  cache?: string;
  body?: any;
  signal?: any;
}

/** A fetch-like function: the global `fetch`, or `requestFetch(api, platform)` in a mini program. */
export type FetchLike = (url: string, init?: FetchLikeInit) => Promise<FetchLikeResponse>;

/** A `/getToken` answer (contract: every field a string). */
export interface StsToken {
  AccessKeyId: string;
  AccessKeySecret: string;
  SecurityToken: string;
  Expiration: string;
  Bucket: string;
  Region: string;
  Host: string;
  Dir: string;
  ServerTime: string;
  RefreshAfter: string;
  /** The profile the credential was made for (brokers with upload profiles). */
  Profile?: string;
  [field: string]: unknown;
}

/** A cached credential: the token, the broker's clock offset and when to fetch again (ms). */
export interface CachedCredential {
  token: StsToken;
  /** Broker clock − device clock, in ms. */
  offsetMs: number;
  expiresAtMs: number;
  refreshAtMs: number;
}

/** Where credentials are kept: any `Map`. */
export type CredentialCache = Map<string, CachedCredential>;

export interface CredentialOptions {
  /** The broker's base URL; `''` means the page's own origin. */
  brokerUrl?: string;
  /** Sent to the broker, e.g. `Authorization` or `X-Api-Key`. */
  headers?: Record<string, string>;
  /** One of the broker's upload profiles (`?profile=<name>`); the broker's default when absent. */
  profile?: string;
  fetch?: FetchLike;
  /** The device clock in ms, for tests. */
  now?: () => number;
  cache?: CredentialCache;
}

export interface PostFormOptions extends CredentialOptions {
  /** `'sts'` (default) or `'server'`. */
  mode?: Mode;
  /** A name or path whose extension the key keeps. */
  filename?: string;
  /** `sts` mode: `'v4'` (default) or `'v1'`. */
  signatureVersion?: SignatureVersion;
  /** `sts` mode: the policy's upper size bound (default 10 MiB). */
  maxBytes?: number;
  /** `sts` mode: how long the policy lasts (default 600), never past the credential's Expiration. */
  validForSeconds?: number;
  /** Sent as the `Content-Type` form field (the object's type). */
  contentType?: string;
}

/** One upload's form: POST `fields` in order to `url`, then the file as `file`. */
export interface PostForm {
  url: string;
  key: string;
  fields: Record<string, string>;
}

export function createPostForm(options?: PostFormOptions): Promise<PostForm>;
export function getCredential(options: CredentialOptions): Promise<CachedCredential>;
/** Forgets every cached credential (e.g. on sign-out). */
export function clearCredentialCache(cache?: CredentialCache): void;
/** `.jpg` from `IMG_001.JPG`; `''` when there is no plain extension. */
export function extensionOf(filename: unknown): string;
/** A new object key under `dir`, stamped with `nowMs`, keeping the file's extension. */
export function newObjectKey(dir: string, filename: string | undefined, nowMs: number): string;

/** An error answer from the broker (`{code, message, request_id}`), or no answer at all. */
export class BrokerError extends Error {
  constructor(message: string, details?: { status?: number; code?: string; requestId?: string; retryAfter?: number });
  name: 'BrokerError';
  /** The HTTP status; absent when the broker was not reached. */
  status?: number;
  /**
   * The broker's code (`unauthenticated`, `rate-limited`, `unknown-profile`,
   * `server-signing-only`, …), or the kit's: `network`, `aborted`, `domain-not-allowed`,
   * `invalid-argument`, `https-required` (no answer), `malformed` (an answer the kit cannot read).
   */
  code?: string;
  requestId?: string;
  /** Retry-After, in seconds. */
  retryAfter?: number;
}

// ----------------------------------------------------------------------------------------------
// Reading back: signed download URLs

/** Where to ask, and as whom: the broker options `createPostForm` takes. */
export interface BrokerOptions {
  /** The broker's base URL; `''` means the page's own origin. */
  brokerUrl?: string;
  /** Sent to the broker, e.g. `Authorization` or `X-Api-Key`. */
  headers?: Record<string, string>;
  /** One of the broker's profiles (`?profile=<name>`); the broker's default when absent. */
  profile?: string;
  fetch?: FetchLike;
}

export interface ObjectUrlsOptions extends BrokerOptions {
  /** An `x-oss-process` value the profile allows (e.g. `image/resize,w_200`), signed into the URL. */
  process?: string;
  /** The URL's life in seconds (the broker's default 900), capped by the broker. */
  expires?: number;
}

export interface ObjectUrlOptions extends ObjectUrlsOptions {
  /** The name a browser saves the object as (`Content-Disposition: attachment`). */
  filename?: string;
}

/** `/getObjectUrl`'s answer. */
export interface ObjectUrl {
  /** A presigned GET (OSS V4) on the profile's download host. */
  url: string;
  key: string;
  /** When the URL stops working, in Unix seconds. */
  expire: number;
  profile?: string;
}

/** `/getObjectUrls`'s answer: one URL per key, in the order asked. */
export interface ObjectUrls {
  urls: Array<{ key: string; url: string }>;
  expire: number;
  profile?: string;
}

/** A signed download URL for one key the caller may read. */
export function getUrl(key: string, options?: ObjectUrlOptions): Promise<ObjectUrl>;
/** Signed download URLs for 1 to 100 keys; one refused key refuses them all. */
export function getUrls(keys: string[], options?: ObjectUrlsOptions): Promise<ObjectUrls>;

/** `getUrl`/`getUrls` through a platform's request API (`adapter.getUrl(wx, key, options)`). */
export interface DownloadsVia<Api> {
  getUrl(api: Api, key: string, options?: ObjectUrlOptions): Promise<ObjectUrl>;
  getUrls(api: Api, keys: string[], options?: ObjectUrlsOptions): Promise<ObjectUrls>;
}

// ----------------------------------------------------------------------------------------------
// Uploading

/** What every upload resolves: the key, OSS's status and the object's URL on the upload host. */
export interface UploadResult<Callback = unknown> {
  key: string;
  /** 200, 201 or 204. */
  status: number;
  location: string;
  /**
   * `server` mode with a profile that has an upload callback: the app's answer, which OSS relays
   * (parsed JSON; the text if it is not JSON).
   */
  callback?: Callback;
  /** An upload in parts: the broker's upload id. */
  uploadId?: string;
  /** An upload in parts whose profile has a callback that failed: the broker's explanation (the object is stored). */
  callbackError?: unknown;
}

/** Progress of an upload in parts: bytes of the parts OSS has acknowledged. */
export interface PartsProgress {
  loaded: number;
  total: number;
  key: string;
  uploadId: string;
}

/** What identifies an upload in parts, to resume it (ListParts) or tell someone about it. */
export interface PartsUpload {
  key: string;
  uploadId: string;
}

/** Options of uploads in parts (`/s3/multipart`), taken by every adapter that can PUT bytes. */
export interface PartsOptions {
  /** Above this many bytes the upload goes in parts (default 10 MiB, DEFAULT_THRESHOLD). */
  multipartThreshold?: number;
  /** Bytes per part (default 5 MiB; at least 102400; grown so that there are at most 10000 parts). */
  partSize?: number;
  /** Parts in flight at once (default 3). */
  concurrency?: number;
  /** Retries of a failed part (default 3), each after a growing pause (from `retryDelayMs`, default 500). */
  retries?: number;
  retryDelayMs?: number;
  /** `{ key, uploadId }` of an upload that did not finish (from `onUploadCreated` or the UploadError): only missing parts are sent. */
  resume?: PartsUpload;
  onProgress?: (progress: PartsProgress) => void;
  /** Called once the broker started the upload (or with the resumed one): keep it to resume. */
  onUploadCreated?: (upload: PartsUpload) => void;
}

/** An upload under way; `abort()` stops its requests and, for one in parts, aborts it at the broker (no object, no parts left). */
export interface RunningUpload<Callback = unknown> extends Promise<UploadResult<Callback>> {
  abort(): Promise<void>;
}

/** The kit's own codes for an upload that got no answer from OSS. */
export type TransportCode = 'network' | 'aborted' | 'domain-not-allowed' | 'invalid-argument' | 'https-required' | 'too-large-for-form' | 'no-etag';

/** OSS refused the upload (`code`: OSS's `<Code>`), or it never got there (`code`: a TransportCode). */
export class UploadError extends Error {
  constructor(message: string, details?: {
    code?: string; status?: number; requestId?: string; key?: string; platformCode?: string | number;
    uploadId?: string; partNumber?: number;
  });
  /** An upload in parts: pass `{ key, uploadId }` back as `resume` to send only the missing parts. */
  uploadId?: string;
  /** An upload in parts: the part that failed (after its retries). */
  partNumber?: number;
  name: 'UploadError' | 'CallbackFailedError';
  code?: TransportCode | 'CallbackFailed' | (string & {});
  status?: number;
  requestId?: string;
  key?: string;
  /** The platform's own failure number or errno (e.g. Alipay's 4, 9, 11, 12, 20). */
  platformCode?: string | number;
}

/** OSS stored the object, but the upload callback failed (`203 CallbackFailed`). */
export class CallbackFailedError extends UploadError {
  constructor(message: string, details?: { requestId?: string; key?: string; location?: string });
  name: 'CallbackFailedError';
  code: 'CallbackFailed';
  status: 203;
  /** Always true: the object is in the bucket. */
  stored: true;
  location?: string;
}

/** Options of every mini-program adapter. */
export interface MiniProgramUploadOptions extends PostFormOptions, PartsOptions {
  /** The file's size, when known (else the platform's `getFileSystemManager().getFileInfo` tells it). */
  size?: number;
  /** A local file path, e.g. from chooseImage / chooseMedia. */
  filePath: string;
  /** Alipay, DingTalk and uni-app's Alipay target: `image` (default), `video` or `audio`. */
  fileType?: 'image' | 'video' | 'audio';
}

export interface FetchUploadOptions extends PostFormOptions, PartsOptions {
  /** A `File` or `Blob`; its `name` supplies the extension unless `filename` is given. */
  file: Blob & { name?: string };
}

/** The callbacks the kit passes to a platform API (it also takes the promise one returns). */
export interface PlatformCallbacks {
  success?: (result: any) => void;
  fail?: (error: any) => void;
  complete?: (result: any) => void;
}

/** What `uploadFile` receives, per platform: exactly the names its documentation gives. */
export interface NameUploadFileOptions extends PlatformCallbacks {
  url: string;
  filePath: string;
  name: string;
  formData: Record<string, string>;
}
export interface AlipayUploadFileOptions extends PlatformCallbacks {
  url: string;
  filePath: string;
  fileName: string;
  fileType: string;
  formData: Record<string, string>;
}
export interface DingTalkUploadFileOptions extends AlipayUploadFileOptions {}
export interface UniUploadFileOptions extends NameUploadFileOptions {
  fileType: string;
}

/** What the request API receives: WeChat-style `header`, or Alipay-style `headers`. */
export interface RequestOptions extends PlatformCallbacks {
  url: string;
  method: string;
  dataType: string;
  /** A broker call's JSON text, or a part's bytes. */
  data?: string | ArrayBuffer;
  header?: Record<string, string>;
  headers?: Record<string, string>;
}

/**
 * A platform object as the kit uses it: `uploadFile`, answering through the callbacks, a
 * returned promise, or both.
 */
export interface PlatformObject<UploadOptions> {
  uploadFile(options: UploadOptions): unknown;
}
/** The FileSystemManager calls an upload in parts makes. */
export interface FileSystemManager {
  getFileInfo(options: PlatformCallbacks & { filePath: string }): unknown;
  readFile(options: PlatformCallbacks & { filePath: string; position: number; length: number }): unknown;
}
/** A platform object that can send parts (WeChat, Alipay ≥ 10.1.95, QQ, uni-app, Taro). */
export interface FilesApi { getFileSystemManager(): FileSystemManager; }
/** A request API in WeChat's or Alipay's name, and DingTalk's. */
export interface RequestApi { request(options: RequestOptions): unknown; }
export interface HttpRequestApi { httpRequest(options: RequestOptions): unknown; }

export interface AlipayApi extends PlatformObject<AlipayUploadFileOptions>, RequestApi {}
export interface WechatApi extends PlatformObject<NameUploadFileOptions>, RequestApi {}
export interface DouyinApi extends PlatformObject<NameUploadFileOptions>, RequestApi {}
export interface DingTalkApi extends PlatformObject<DingTalkUploadFileOptions>, HttpRequestApi {}
export interface BaiduApi extends PlatformObject<NameUploadFileOptions>, RequestApi {}
export interface QQApi extends PlatformObject<NameUploadFileOptions>, RequestApi {}
export interface UniApi extends PlatformObject<UniUploadFileOptions>, RequestApi {}
export interface TaroApi extends PlatformObject<NameUploadFileOptions>, RequestApi {}

/**
 * Each adapter takes the platform object (`my`, `wx`, `tt`, `dd`, `swan`, `qq`, `uni`, `Taro`);
 * one without its request API needs `options.fetch`. Beyond 10 uploads in flight per platform
 * object, the rest wait in a queue.
 */
export const uploadWithAlipay: DownloadsVia<AlipayApi> & (<Callback = unknown>(my: AlipayApi | PlatformObject<AlipayUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithWechat: DownloadsVia<WechatApi> & (<Callback = unknown>(wx: WechatApi | PlatformObject<NameUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithDouyin: DownloadsVia<DouyinApi> & (<Callback = unknown>(tt: DouyinApi | PlatformObject<NameUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithDingTalk: DownloadsVia<DingTalkApi> & (<Callback = unknown>(dd: DingTalkApi | PlatformObject<DingTalkUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithBaidu: DownloadsVia<BaiduApi> & (<Callback = unknown>(swan: BaiduApi | PlatformObject<NameUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithQQ: DownloadsVia<QQApi> & (<Callback = unknown>(qq: QQApi | PlatformObject<NameUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithUni: DownloadsVia<UniApi> & (<Callback = unknown>(uni: UniApi | PlatformObject<UniUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
export const uploadWithTaro: DownloadsVia<TaroApi> & (<Callback = unknown>(Taro: TaroApi | PlatformObject<NameUploadFileOptions>, options: MiniProgramUploadOptions) => RunningUpload<Callback>);
/** A page: FormData + fetch. */
export const uploadWithFetch: (<Callback = unknown>(options: FetchUploadOptions) => RunningUpload<Callback>) & {
  getUrl(key: string, options?: ObjectUrlOptions): Promise<ObjectUrl>;
  getUrls(keys: string[], options?: ObjectUrlsOptions): Promise<ObjectUrls>;
};

export type Platform = 'alipay' | 'wechat' | 'douyin' | 'dingtalk' | 'baidu' | 'qq' | 'uni' | 'taro';

/**
 * A fetch-like function over a mini program's request API; with `platform`, exactly that
 * platform's parameter names (DingTalk: `httpRequest`), without it `request` with both
 * `header` and `headers`.
 */
export function requestFetch(api: RequestApi | HttpRequestApi, platform?: Platform): FetchLike;

/** `{ code, message, requestId }` of an OSS XML error body. */
export function parseOssError(body: unknown): { code?: string; message?: string; requestId?: string };
/** The default `multipartThreshold`: 10 MiB. */
export const DEFAULT_THRESHOLD: number;

/** The core of an upload in parts, for a platform the adapters do not cover. */
export interface UploadInPartsOptions extends PartsOptions {
  brokerUrl: string;
  headers?: Record<string, string>;
  profile?: string;
  fetch?: FetchLike;
  size: number;
  filename?: string;
  contentType?: string;
  /** The bytes from `start` to `end` (exclusive). */
  readPart(start: number, end: number): Promise<Blob | ArrayBuffer>;
  /** PUT `body` to the part URL with no Content-Type; resolve OSS's answer (its `ETag` header is read). */
  putPart(url: string, body: Blob | ArrayBuffer): Promise<FetchLikeResponse>;
}
export function uploadInParts<Callback = unknown>(options: UploadInPartsOptions): Promise<UploadResult<Callback>>;

/** Where the object can be read back, each key segment encoded. */
export function objectUrl(host: string, key: string): string;

// ----------------------------------------------------------------------------------------------
// Signing (pure; no I/O, no clock reads)

export const V4_ALGORITHM: 'OSS4-HMAC-SHA256';

export interface SignOptions {
  /** The time on the broker's clock, in ms. */
  nowMs: number;
  version?: SignatureVersion;
  maxBytes?: number;
  validForMs?: number;
  contentType?: string;
}

/** The form fields, in sending order and without `file`, that upload `key` with `token`. */
export function signPostForm(
  token: Pick<StsToken, 'AccessKeyId' | 'AccessKeySecret' | 'SecurityToken' | 'Expiration' | 'Bucket' | 'Region' | 'Dir'>,
  key: string,
  options: SignOptions,
): Record<string, string>;
/** base64(HMAC-SHA1(secret, policy)). */
export function v1Signature(secret: string, policyBase64: string): string;
/** Lower-case hex HMAC-SHA256 with the V4 signing key; `day` is YYYYMMDD. */
export function v4Signature(secret: string, day: string, region: string, policyBase64: string): string;
/** The V4 signing key, hex. */
export function v4SigningKeyHex(secret: string, day: string, region: string): string;
/** 2026-11-28T11:00:00.123Z → 20261128T110000Z. */
export function ossDate(ms: number): string;
