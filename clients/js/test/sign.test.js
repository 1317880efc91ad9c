// Signing against vectors from the protocol notes (shared/spec/alibaba.md §5.4-§5.5), whose
// provenance is given there; the expected strings are literals, never recomputed here.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  signPostForm, v1Signature, v4Signature, v4SigningKeyHex, ossDate,
} from '../src/index.js';
import { base64Utf8, isoSeconds } from '../src/sign.js';

// §5.4 [verified] vector (UG0 test/aliyun_oss/object_test.exs).
const UG0_POLICY_B64 = 'eyJjb25kaXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMCwxMDQ4NTc2MF0seyJidWNrZXQiOiJhaGFoYSJ9LHsiQSI6ImEifSx7ImtleSI6IkFCQyJ9XSwiZXhwaXJhdGlvbiI6IjIwMTMtMTItMDFUMTI6MDA6MDBaIn0=';

test('V1 signature matches the published vector', () => {
  assert.equal(v1Signature('OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV', UG0_POLICY_B64), 'W835KpLsL6k1/oo28RcsEflB6hw=');
});

test('V1 policy encoding and signature match the broker-shaped vector', () => {
  const json = '{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},["starts-with","$key","uploads/u42/"],["content-length-range",1,10485760]]}';
  const b64 = base64Utf8(json);
  assert.equal(b64, 'eyJleHBpcmF0aW9uIjoiMjAyNC0wMS0wMVQwMTowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0IjoiZXhhbXBsZWJ1Y2tldCJ9LFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXBsb2Fkcy91NDIvIl0sWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMSwxMDQ4NTc2MF1dfQ==');
  assert.equal(v1Signature('testsecret', b64), 'pd2QJxmBb9SPX7nQPTz+pcuZS7U=');
});

test('V4 signing key and POST signature match the published vectors', () => {
  assert.equal(v4SigningKeyHex('yourAccessKeySecret', '20250411', 'cn-hangzhou'),
    '8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c');
  assert.equal(v4Signature('yourAccessKeySecret', '20250701', 'cn-hangzhou', UG0_POLICY_B64),
    '4f19e5c3030598cfe1d4e34b6006cd931bae28ddd5df481ff175e70e94495793');
});

test('V4 matches the broker-shaped vector', () => {
  const json = '{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},["starts-with","$key","uploads/u42/"],["content-length-range",1,10485760],["in","$content-type",["image/jpeg","image/png"]],{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20240101T000000Z"},{"x-oss-security-token":"CAIS+abc/def=="}]}';
  assert.equal(v4SigningKeyHex('testsecret', '20240101', 'cn-hangzhou'),
    'b8e5a5ac6459626c763fd79a11287c23e8e1b19e0745c273239a99c7d944be03');
  assert.equal(v4Signature('testsecret', '20240101', 'cn-hangzhou', base64Utf8(json)),
    '2a47bb01a2034515af59a4ceec5c3a5ec295a706dba202dde5dd1eb7aaced1af');
});

test('dates: x-oss-date has no separators, expiration whole seconds in UTC', () => {
  const ms = Date.UTC(2026, 10, 28, 11, 0, 5, 987);
  assert.equal(ossDate(ms), '20261128T110005Z');
  assert.equal(isoSeconds(ms), '2026-11-28T11:00:05.000Z');
});

const TOKEN = {
  AccessKeyId: 'STS.kid',
  AccessKeySecret: 'not-a-real-secret',
  SecurityToken: 'CAIS+token/with=chars',
  Expiration: '2026-11-28T12:00:00Z',
  Bucket: 'b',
  Region: 'cn-hangzhou',
  Host: 'https://b.example',
  Dir: 'uploads/alice/',
};

function decodePolicy(b64) {
  return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
}

test('a V4 form: fields in order, bound into the policy, signed over the policy string', () => {
  const nowMs = Date.UTC(2026, 10, 28, 11, 0, 0);
  const f = signPostForm(TOKEN, 'uploads/alice/x.jpg', { nowMs });
  assert.deepEqual(Object.keys(f), [
    'key', 'policy', 'x-oss-signature-version', 'x-oss-credential', 'x-oss-date', 'x-oss-signature',
    'x-oss-security-token', 'success_action_status',
  ]);
  assert.equal(f['x-oss-credential'], 'STS.kid/20261128/cn-hangzhou/oss/aliyun_v4_request');
  assert.equal(f['x-oss-date'], '20261128T110000Z');
  assert.equal(f['x-oss-security-token'], TOKEN.SecurityToken);
  assert.equal(f['x-oss-signature'], v4Signature(TOKEN.AccessKeySecret, '20261128', 'cn-hangzhou', f.policy));
  const policy = decodePolicy(f.policy);
  assert.equal(policy.expiration, '2026-11-28T11:10:00.000Z');
  for (const c of [
    { bucket: 'b' }, ['starts-with', '$key', 'uploads/alice/'], { key: 'uploads/alice/x.jpg' },
    ['content-length-range', 1, 10485760], { success_action_status: '200' },
    { 'x-oss-signature-version': 'OSS4-HMAC-SHA256' }, { 'x-oss-credential': f['x-oss-credential'] },
    { 'x-oss-date': f['x-oss-date'] }, { 'x-oss-security-token': TOKEN.SecurityToken },
  ]) assert.ok(policy.conditions.some((x) => JSON.stringify(x) === JSON.stringify(c)), JSON.stringify(c));
  assert.ok(!JSON.stringify(f).includes(TOKEN.AccessKeySecret), 'the secret never enters the form');
});

test('a V1 form and the policy never outliving the credential', () => {
  const nowMs = Date.parse(TOKEN.Expiration) - 60_000;
  const f = signPostForm(TOKEN, 'uploads/alice/y', { nowMs, version: 'v1', maxBytes: 5 });
  assert.deepEqual(Object.keys(f), ['key', 'policy', 'OSSAccessKeyId', 'Signature', 'x-oss-security-token', 'success_action_status']);
  assert.equal(f.OSSAccessKeyId, 'STS.kid');
  assert.equal(f.Signature, v1Signature(TOKEN.AccessKeySecret, f.policy));
  const policy = decodePolicy(f.policy);
  assert.equal(policy.expiration, '2026-11-28T12:00:00.000Z');
  assert.ok(policy.conditions.some((c) => JSON.stringify(c) === '["content-length-range",1,5]'));
});

test('keys outside Dir and unknown versions are refused before signing', () => {
  const nowMs = Date.UTC(2026, 10, 28, 11);
  for (const key of ['uploads/bob/x', 'uploads/alice/', 'x', 'uploads/alic/x']) {
    assert.throws(() => signPostForm(TOKEN, key, { nowMs }), /under the token's Dir/);
  }
  assert.throws(() => signPostForm(TOKEN, 'uploads/alice/x', { nowMs, version: 'v3' }), /unknown signature version/);
  assert.throws(() => signPostForm(TOKEN, 'uploads/alice/x', {}), /nowMs/);
});
