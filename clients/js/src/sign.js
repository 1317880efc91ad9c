// The POST policy and its V1 and V4 signatures (protocol.md §5.3-§5.5), as pure functions: no I/O, no
// clock reads, no randomness, nothing logged. Callers pass the time in.
import CryptoJS from 'crypto-js';

/** protocol.md §5.5: the only V4 algorithm OSS knows for PostObject. */
export const V4_ALGORITHM = 'OSS4-HMAC-SHA256';

/** Base64 of the UTF-8 bytes of `text`. */
export function base64Utf8(text) {
  return CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse(text));
}

/** protocol.md §5.4: base64(HMAC-SHA1(key = secret, data = the base64 policy string)). */
export function v1Signature(secret, policyBase64) {
  return CryptoJS.enc.Base64.stringify(CryptoJS.HmacSHA1(policyBase64, secret));
}

/** protocol.md §5.5 key chain; `day` is YYYYMMDD, `region` the plain id (`cn-hangzhou`). Raw bytes. */
export function v4SigningKey(secret, day, region) {
  // crypto-js takes (message, key); a string key is UTF-8, a WordArray key is raw bytes.
  const kDate = CryptoJS.HmacSHA256(day, 'aliyun_v4' + secret);
  const kRegion = CryptoJS.HmacSHA256(region, kDate);
  const kService = CryptoJS.HmacSHA256('oss', kRegion);
  return CryptoJS.HmacSHA256('aliyun_v4_request', kService);
}

/** Hex of a signing key, for checking against published vectors. */
export function v4SigningKeyHex(secret, day, region) {
  return v4SigningKey(secret, day, region).toString(CryptoJS.enc.Hex);
}

/** protocol.md §5.5: lower-case hex HMAC-SHA256(signing key, the base64 policy string). */
export function v4Signature(secret, day, region, policyBase64) {
  return CryptoJS.HmacSHA256(policyBase64, v4SigningKey(secret, day, region)).toString(CryptoJS.enc.Hex);
}

/** 2026-11-28T11:00:00.123Z → 20261128T110000Z (protocol.md §5.5 `x-oss-date`). */
export function ossDate(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** Whole-second ISO 8601 UTC, as OSS documents policy `expiration` (protocol.md §5.3). */
export function isoSeconds(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString();
}

const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_VALID_FOR_MS = 10 * 60 * 1000;

/**
 * The form fields, in sending order and without `file`, that upload `key` with the STS
 * credential `token` (a `/getToken` body). `nowMs` is the time on the broker's clock: OSS compares
 * `expiration` and `x-oss-date` with its own clock, never the device's.
 */
export function signPostForm(token, key, {
  nowMs,
  version = 'v4',
  maxBytes = DEFAULT_MAX_BYTES,
  validForMs = DEFAULT_VALID_FOR_MS,
  contentType,
} = {}) {
  if (!Number.isFinite(nowMs)) throw new TypeError('signPostForm needs nowMs (the broker-corrected time)');
  if (version !== 'v4' && version !== 'v1') throw new TypeError(`unknown signature version ${version}`);
  if (typeof key !== 'string' || !key.startsWith(token.Dir) || key.length === token.Dir.length) {
    throw new Error('the object key must lie under the token\'s Dir');
  }
  // Never outlive the credential: it dies at Expiration anyway.
  const expiresAt = Math.min(nowMs + validForMs, Date.parse(token.Expiration));
  const conditions = [
    { bucket: token.Bucket },
    ['starts-with', '$key', token.Dir],
    { key },
    ['content-length-range', 1, maxBytes],
    { success_action_status: '200' },
    { 'x-oss-security-token': token.SecurityToken },
  ];
  const fields = { key };
  // An object header travels as a form field (protocol.md §5.2); it is not a policy condition here.
  if (contentType) fields['Content-Type'] = contentType;
  if (version === 'v4') {
    const date = ossDate(nowMs);
    const day = date.slice(0, 8);
    const credential = `${token.AccessKeyId}/${day}/${token.Region}/oss/aliyun_v4_request`;
    // protocol.md §5.5: the policy binds the V4 fields to the values sent beside it.
    conditions.push(
      { 'x-oss-signature-version': V4_ALGORITHM },
      { 'x-oss-credential': credential },
      { 'x-oss-date': date },
    );
    const policy = base64Utf8(JSON.stringify({ expiration: isoSeconds(expiresAt), conditions }));
    fields.policy = policy;
    fields['x-oss-signature-version'] = V4_ALGORITHM;
    fields['x-oss-credential'] = credential;
    fields['x-oss-date'] = date;
    fields['x-oss-signature'] = v4Signature(token.AccessKeySecret, day, token.Region, policy);
  } else {
    const policy = base64Utf8(JSON.stringify({ expiration: isoSeconds(expiresAt), conditions }));
    fields.policy = policy;
    fields.OSSAccessKeyId = token.AccessKeyId;
    // protocol.md §5.2/§5.4: documented with a capital S; send exactly that.
    fields.Signature = v1Signature(token.AccessKeySecret, policy);
  }
  fields['x-oss-security-token'] = token.SecurityToken;
  fields.success_action_status = '200';
  return fields;
}
