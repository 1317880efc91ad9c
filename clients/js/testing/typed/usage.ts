// A typed use of every export and option, compiled by test/types.test.js with `tsc --noEmit --strict`
// against the package's own "exports" (the ES module entry and types/index.d.ts). Never run.
import {
  createPostForm, getCredential, clearCredentialCache, extensionOf, newObjectKey, BrokerError,
  uploadWithAlipay, uploadWithWechat, uploadWithDouyin, uploadWithDingTalk, uploadWithBaidu,
  uploadWithQQ, uploadWithUni, uploadWithTaro, uploadWithFetch, requestFetch, parseOssError,
  uploadInParts, DEFAULT_THRESHOLD,
  objectUrl, UploadError, CallbackFailedError, signPostForm, v1Signature, v4Signature,
  v4SigningKeyHex, ossDate, V4_ALGORITHM, getUrl, getUrls,
} from '@sts-broker/upload-kit';
import type {
  PostFormOptions, PostForm, UploadResult, MiniProgramUploadOptions, FetchLike, CredentialCache,
  CachedCredential, WechatApi, AlipayApi, DingTalkApi, NameUploadFileOptions, Platform, StsToken,
  TransportCode, ObjectUrl, ObjectUrls, ObjectUrlOptions,
} from '@sts-broker/upload-kit';

declare const wx: WechatApi;
declare const my: AlipayApi;
declare const dd: DingTalkApi;
declare const file: File;

interface AvatarAnswer { url: string; moderated: boolean }

export async function everything(): Promise<void> {
  const cache: CredentialCache = new Map<string, CachedCredential>();
  const common: PostFormOptions = {
    brokerUrl: 'https://broker.example.com',
    mode: 'server',
    profile: 'avatar',
    filename: 'a.jpg',
    headers: { Authorization: 'Bearer x' },
    signatureVersion: 'v1',
    maxBytes: 1024,
    validForSeconds: 60,
    contentType: 'image/jpeg',
    now: Date.now,
    cache,
    fetch: requestFetch(wx, 'wechat'),
  };
  const form: PostForm = await createPostForm(common);
  const fields: Record<string, string> = form.fields;
  const url: string = form.url + form.key + Object.keys(fields).join();

  const credential = await getCredential({ brokerUrl: '', profile: 'docs', cache });
  const offset: number = credential.offsetMs + credential.refreshAtMs + credential.expiresAtMs;
  const token: StsToken = credential.token;
  clearCredentialCache(cache);
  clearCredentialCache();

  const options: MiniProgramUploadOptions = { ...common, filePath: 'wxfile://tmp/a.jpg', fileType: 'image' };
  const avatar: UploadResult<AvatarAnswer> = await uploadWithWechat<AvatarAnswer>(wx, options);
  const answered: boolean | undefined = avatar.callback?.moderated;
  const results: UploadResult[] = await Promise.all([
    uploadWithAlipay(my, options),
    uploadWithDingTalk(dd, { filePath: 'x', fileType: 'video' }),
    uploadWithDouyin({ uploadFile: (o: NameUploadFileOptions) => o.success?.({ statusCode: 204 }) }, options),
    uploadWithBaidu(wx, options),
    uploadWithQQ(wx, options),
    uploadWithUni({ uploadFile: () => Promise.resolve({ statusCode: 200, data: '' }) }, options),
    uploadWithTaro(wx, options),
    uploadWithFetch({ file, brokerUrl: '', mode: 'sts' }),
  ]);
  const statuses: number[] = results.map((r) => r.status);
  const where: string = results[0].location + results[0].key;

  const platforms: Platform[] = ['alipay', 'wechat', 'douyin', 'dingtalk', 'baidu', 'qq', 'uni', 'taro'];
  const fetches: FetchLike[] = [requestFetch(my), requestFetch(dd, 'dingtalk'), ...platforms.map((p) => requestFetch(wx, p))];

  try {
    await uploadWithWechat(wx, options);
  } catch (e) {
    if (e instanceof CallbackFailedError) {
      const stored: true = e.stored;
      const status: 203 = e.status;
      const code: 'CallbackFailed' = e.code;
      console.log(stored, status, code, e.location, e.key, e.requestId);
    } else if (e instanceof UploadError) {
      const transports: TransportCode[] = ['network', 'aborted', 'domain-not-allowed', 'invalid-argument', 'https-required'];
      const code: string | undefined = e.code;
      console.log(transports, code, e.status, e.platformCode, e.requestId, e.key, e.message);
    } else if (e instanceof BrokerError) {
      console.log(e.code, e.status, e.requestId, e.retryAfter);
    }
  }

  const signed: Record<string, string> = signPostForm(token, `${token.Dir}x.jpg`, {
    nowMs: Date.now(), version: 'v4', maxBytes: 10, validForMs: 1000, contentType: 'image/png',
  });
  const strings: string[] = [
    extensionOf('a.JPG'), newObjectKey('uploads/', 'a.jpg', Date.now()), objectUrl('https://h', 'k'),
    v1Signature('s', 'p'), v4Signature('s', '20300101', 'cn-hangzhou', 'p'),
    v4SigningKeyHex('s', '20300101', 'cn-hangzhou'), ossDate(0), V4_ALGORITHM,
  ];
  const parsed: string | undefined = parseOssError('<Error/>').code;
  console.log(url, offset, answered, statuses, where, fetches, signed, strings, parsed);

  // Uploads in parts: the options, abort(), a resume, and the core for another platform.
  const big = uploadWithWechat(wx, {
    brokerUrl: '', filePath: 'wxfile://tmp/v.mp4', multipartThreshold: DEFAULT_THRESHOLD, partSize: 5 * 1024 * 1024,
    concurrency: 3, retries: 2, onProgress: (p) => console.log(p.loaded / p.total, p.key, p.uploadId),
    onUploadCreated: (u) => console.log(u.key, u.uploadId),
  });
  const stopped: Promise<void> = big.abort();
  const resumed = await uploadWithFetch({ file, brokerUrl: '', resume: { key: 'k', uploadId: 'u' } });
  const inParts = await uploadInParts({
    brokerUrl: '', size: 1, readPart: async (s, e) => new ArrayBuffer(e - s),
    putPart: async (u, body) => ({ status: 200, headers: { get: () => '"e"' }, json: async () => ({}) }),
  });
  console.log(stopped, resumed.uploadId, inParts.location);
  const reading: ObjectUrlOptions = { brokerUrl: '', profile: 'avatar', process: 'style/thumb', filename: 'a.jpg', expires: 600 };
  const one: ObjectUrl = await getUrl('uploads/alice/a.jpg', reading);
  const many: ObjectUrls = await getUrls(['uploads/alice/a.jpg'], { process: 'style/thumb', expires: 60 });
  const viaWechat: ObjectUrl = await uploadWithWechat.getUrl(wx, 'uploads/alice/a.jpg', reading);
  const viaAlipay: ObjectUrls = await uploadWithAlipay.getUrls(my, ['k']);
  const viaDingTalk: ObjectUrl = await uploadWithDingTalk.getUrl(dd, 'k');
  const viaPage: ObjectUrls = await uploadWithFetch.getUrls(['k'], { brokerUrl: '' });
  const expireAt: number = one.expire + many.expire + viaPage.expire + viaAlipay.expire;
  console.log(one.url, many.urls[0].url, viaWechat.key, viaDingTalk.profile, expireAt);

  // The types refuse what the kit would refuse.
  // @ts-expect-error getUrl takes one key
  await getUrl(['k']);
  // @ts-expect-error getUrls takes no filename
  await getUrls(['k'], { filename: 'a.jpg' });
  // @ts-expect-error filePath is required
  await uploadWithWechat(wx, { brokerUrl: '' });
  // @ts-expect-error no such mode
  await createPostForm({ mode: 'browser' });
  // @ts-expect-error no such platform
  requestFetch(wx, 'feishu');
  // @ts-expect-error DingTalk takes fileName, not name
  uploadWithDingTalk({ uploadFile: (o: { name: string }) => o }, options);
}
