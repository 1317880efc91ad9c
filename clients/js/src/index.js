// @sts-broker/upload-kit: direct uploads to Alibaba Cloud OSS with credentials or signed forms
// from sts-broker, for Alipay and WeChat mini programs and pages. See docs/client-kit.md.
export {
  createPostForm, getCredential, clearCredentialCache, extensionOf, newObjectKey, BrokerError,
} from './client.js';
export {
  uploadWithAlipay, uploadWithWechat, uploadWithFetch, requestFetch, parseOssError, objectUrl,
  UploadError,
} from './upload.js';
export {
  signPostForm, v1Signature, v4Signature, v4SigningKeyHex, ossDate, V4_ALGORITHM,
} from './sign.js';
