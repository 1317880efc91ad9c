// The kit's upload errors and OSS's XML error bodies, shared by form uploads (upload.js) and
// uploads in parts (multipart.js).

/** OSS refused the upload (or it never got there): `code` is OSS's `<Code>` when it answered. */
export class UploadError extends Error {
  constructor(message, { code, status, requestId, key, platformCode, uploadId, partNumber } = {}) {
    super(message);
    this.name = 'UploadError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.key = key;
    this.platformCode = platformCode;
    // An upload in parts: keep key and uploadId to resume it (`resume: { key, uploadId }`).
    if (uploadId !== undefined) this.uploadId = uploadId;
    if (partNumber !== undefined) this.partNumber = partNumber;
  }
}

/**
 * OSS stored the object but the upload callback failed (OSS answers `203` with code
 * `CallbackFailed`): the app was not told about it. `stored` is always true; `location` is where
 * the object is.
 */
export class CallbackFailedError extends UploadError {
  constructor(message, { requestId, key, location } = {}) {
    super(message, { code: 'CallbackFailed', status: 203, requestId, key });
    this.name = 'CallbackFailedError';
    this.stored = true;
    this.location = location;
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
