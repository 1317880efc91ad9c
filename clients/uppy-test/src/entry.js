// The page-side code of the Uppy test: the real Uppy core with its S3 plugin in Companion mode,
// pointed at sts-broker, bundled by scripts/bundle.js into one script for headless Chromium.
// It exposes `window.stsBrokerUppy`; the test calls it from the page.
import Uppy from '@uppy/core';
import AwsS3 from '@uppy/aws-s3';

/**
 * Uppy 6 sends no custom headers to a Companion endpoint (spec: `companionEndpoint` calls are a
 * bare `fetch`), so a page that must authenticate wraps `fetch` and adds the bearer token to the
 * calls that go to the broker, and to no other origin.
 */
export function addBearerToken(brokerUrl, token) {
  const original = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url;
    if (!url.startsWith(`${brokerUrl}/`)) return original(input, init);
    const headers = new Headers(init.headers || {});
    headers.set('authorization', `Bearer ${token}`);
    return original(input, { ...init, headers });
  };
}

/** An Uppy that uploads through the broker: forms up to `threshold` bytes, parts above. */
export function makeUppy({ companionEndpoint, threshold }) {
  const uppy = new Uppy({ autoProceed: false });
  uppy.use(AwsS3, {
    companionEndpoint,
    shouldUseMultipart: (file) => file.size > threshold,
  });
  return uppy;
}

/**
 * Uploads files made in the page (`{ name, type, size, seed }`: `size` bytes from `seed`) and
 * answers what Uppy reported for each, plus every request the page made.
 */
export async function upload({ companionEndpoint, threshold, files }) {
  const uppy = makeUppy({ companionEndpoint, threshold });
  for (const f of files) {
    uppy.addFile({ name: f.name, type: f.type, data: new Blob([bytes(f.size, f.seed)], { type: f.type }) });
  }
  const result = await uppy.upload();
  const summary = (file) => ({
    name: file.name,
    uploadURL: file.response?.uploadURL ?? null,
    body: file.response?.body ?? null,
    error: file.error ?? null,
  });
  return {
    successful: (result?.successful ?? []).map(summary),
    failed: (result?.failed ?? []).map(summary),
  };
}

/** `size` deterministic bytes: the test makes the same ones to compare what was stored. */
export function bytes(size, seed) {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 1) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

window.stsBrokerUppy = { addBearerToken, makeUppy, upload, bytes };
