// @sts-broker/upload-kit: direct uploads to Alibaba Cloud OSS with credentials or signed forms
// from sts-broker, for mini programs (Alipay, WeChat, Douyin, DingTalk, Baidu, QQ, uni-app, Taro)
// and pages. See docs/client-kit.md; types in types/index.d.ts, CommonJS in cjs/.
export {
  createPostForm, getCredential, clearCredentialCache, extensionOf, newObjectKey, BrokerError,
  getUrl, getUrls,
} from './client.js';
export {
  uploadWithAlipay, uploadWithWechat, uploadWithDouyin, uploadWithDingTalk, uploadWithBaidu,
  uploadWithQQ, uploadWithUni, uploadWithTaro, uploadWithFetch, requestFetch,
  objectUrl,
} from './upload.js';
export { UploadError, CallbackFailedError, parseOssError } from './errors.js';
export { uploadInParts, DEFAULT_THRESHOLD } from './multipart.js';
export {
  signPostForm, v1Signature, v4Signature, v4SigningKeyHex, ossDate, V4_ALGORITHM,
} from './sign.js';
