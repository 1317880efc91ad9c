// The demo page's script: one upload through the kit per submit, and what happened: each request
// the kit made (to the broker, then straight to the bucket), until when the credential or form is
// valid, the key, the size, a read-back link and the object through a signed download URL (with a
// thumbnail of an image through the demo's allowed `x-oss-process`); for a file outside the form's
// size range, that range. It never shows or logs a credential.
import { uploadWithFetch, getUrl } from '/demo/kit/index.js';

/** The one `x-oss-process` value the demo broker allows (BROKER_DOWNLOAD_PROCESSES). */
const THUMBNAIL = 'image/resize,w_200';

const form = document.getElementById('upload-form');
const input = document.getElementById('file');
const button = document.getElementById('upload');
const result = document.getElementById('result');
const progressBar = document.getElementById('progress');
const progressText = document.getElementById('progress-text');

/** The bar under the form: bytes of the parts the bucket acknowledged. */
function showProgress({ loaded, total }) {
  progressBar.hidden = false;
  progressBar.max = total;
  progressBar.value = loaded;
  progressText.textContent = `${bytes(loaded)} of ${bytes(total)} (${Math.floor((100 * loaded) / total)}%)`;
}

/** The last credential the kit got from /getToken: it reuses it (from its cache) until RefreshAfter. */
let lastCredential;

function show(kind, rows) {
  result.replaceChildren();
  const box = document.createElement('div');
  box.className = kind;
  box.id = kind === 'ok' ? 'upload-ok' : 'upload-error';
  const dl = document.createElement('dl');
  for (const [label, value, id] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    if (id) dd.id = id;
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    dl.append(dt, dd);
  }
  box.append(dl);
  result.append(box);
}

/** `content-length-range` of a form's Base64 policy: `{ min, max }`, or undefined. */
function sizeRange(policyBase64) {
  try {
    const bytes = Uint8Array.from(atob(policyBase64), (c) => c.charCodeAt(0));
    const policy = JSON.parse(new TextDecoder().decode(bytes));
    const range = policy.conditions.find((c) => Array.isArray(c) && c[0] === 'content-length-range');
    return range && { min: range[1], max: range[2] };
  } catch {
    return undefined;
  }
}

function bytes(n) {
  const mib = n / (1024 * 1024);
  const exact = n === 1 ? '1 byte' : `${n} bytes`;
  return mib >= 1 ? `${exact} (${Number(mib.toFixed(1))} MiB)` : exact;
}

function until(ms) {
  const minutes = Math.round((ms - Date.now()) / 60_000);
  return `${new Date(ms).toLocaleTimeString()} (in ${minutes} minute${minutes === 1 ? '' : 's'})`;
}

/**
 * A fetch that notes each request the kit makes: method, path or URL, status, and from the
 * broker's answer only the expiry and the directory (never a key, secret, token or signature).
 */
function recordingFetch(requests) {
  return async (url, init = {}) => {
    const entry = { method: init.method ?? 'GET', url: new URL(url, window.location.href) };
    requests.push(entry);
    const response = await fetch(url, init);
    entry.status = response.status;
    if (entry.url.origin === window.location.origin && response.ok) {
      try {
        const body = await response.clone().json();
        entry.dir = body.Dir ?? body.dir;
        if (body.Expiration) {
          entry.credentialExpires = Date.parse(body.Expiration);
          lastCredential = { expires: entry.credentialExpires, dir: entry.dir };
        }
        if (body.expire) entry.formExpires = body.expire * 1000;
      } catch { /* not JSON: the status says enough */ }
    }
    if (init.body instanceof FormData) entry.size = sizeRange(init.body.get('policy'));
    return response;
  };
}

/** One list item per request, in order, saying what it did. */
function story(mode, requests) {
  const list = document.createElement('ol');
  list.id = 'requests';
  const item = (text) => {
    const li = document.createElement('li');
    li.textContent = text;
    list.append(li);
  };
  const toBroker = requests.filter((r) => r.url.origin === window.location.origin);
  if (mode === 'sts' && toBroker.length === 0 && lastCredential) {
    item(`No request to the broker: the kit reused the credential it got from GET /getToken before, valid until ${until(lastCredential.expires)}, and the page signed the upload form with it.`);
  }
  for (const r of requests) {
    const answered = r.status === undefined ? 'no answer' : `HTTP ${r.status}`;
    if (r.url.origin === window.location.origin) {
      const what = r.url.pathname === '/getToken' && r.credentialExpires
        ? `: the broker got a temporary credential from STS (the emulator here), limited to writing under ${r.dir}, valid until ${until(r.credentialExpires)}; the page signed the upload form with it`
        : r.formExpires
          ? `: the broker signed an upload form for ${r.dir} with a temporary credential it keeps to itself; the form is valid until ${until(r.formExpires)}`
          : '';
      item(`${r.method} ${r.url.pathname} to this broker, ${answered}${what}.`);
    } else if (r.method === 'PUT') {
      item(`PUT part ${r.url.searchParams.get('partNumber')} straight to the bucket with the URL the broker signed for it, ${answered}.`);
    } else {
      const outcome = r.status >= 200 && r.status < 300 ? ': the file went straight to the bucket; the broker never saw it' : '';
      item(`${r.method} the form and the file to ${r.url.href}, ${answered}${outcome}.`);
    }
  }
  return list;
}

const BUCKET = 'demo-bucket, emulated by sts-broker demo and kept in its memory: objects are gone when the demo stops';

function anchor(href, text, id) {
  const link = document.createElement('a');
  link.href = href;
  link.id = id;
  link.target = '_blank';
  link.rel = 'noopener';
  link.textContent = text;
  return link;
}

/**
 * The rows that read the object back through signed download URLs (GET /getObjectUrl): a link,
 * and for an image a thumbnail through the demo's allowed `x-oss-process`. The profile with a
 * callback is the default's bucket too, so its uploads are read back the same way.
 */
async function readBack(key, file, mode) {
  const profile = mode === 'callback' ? 'with-callback' : undefined;
  try {
    const signed = await getUrl(key, { brokerUrl: window.location.origin, profile, filename: file.name });
    const rows = [['Signed download URL', anchor(signed.url, `a URL only this key can be read with, valid until ${until(signed.expire * 1000)}`, 'signed-url')]];
    if (file.type.startsWith('image/')) {
      const thumb = await getUrl(key, { brokerUrl: window.location.origin, profile, process: THUMBNAIL });
      const img = document.createElement('img');
      img.id = 'thumbnail';
      img.alt = `${file.name}, through x-oss-process=${THUMBNAIL}`;
      img.src = thumb.url;
      img.style.maxWidth = '200px';
      rows.push(['Thumbnail', img]);
    }
    return rows;
  } catch (e) {
    return [['Signed download URL', `not signed: ${e.message}`, 'signed-url-error']];
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = input.files[0];
  if (!file) return;
  const mode = new FormData(form).get('mode');
  button.disabled = true;
  result.textContent = `Uploading ${file.name} (${mode})…`;
  const requests = [];
  try {
    // `callback`: a server-signed form of the profile with an upload callback.
    // `parts`: every file in parts; the other modes always post one form, to show its limits.
    const modeOptions = {
      sts: { mode, multipartThreshold: Infinity },
      server: { mode, multipartThreshold: Infinity },
      callback: { mode: 'server', profile: 'with-callback', multipartThreshold: Infinity },
      parts: { multipartThreshold: 0 },
    }[mode];
    progressBar.hidden = true;
    progressText.textContent = '';
    const { key, status, location, callback } = await uploadWithFetch({
      brokerUrl: window.location.origin, file, fetch: recordingFetch(requests), onProgress: showProgress,
      ...modeOptions,
    });
    const link = anchor(location, location, 'read-back');
    const reading = await readBack(key, file, mode);
    show('ok', [
      ['Uploaded', `${file.name} (${mode} mode, HTTP ${status})`],
      ['What happened', story(mode, requests)],
      ['Key', key, 'key'],
      ['Size', `${file.size} bytes`, 'size'],
      ['Bucket', BUCKET, 'bucket'],
      ['Read it back', link],
      ...reading,
      ...(callback === undefined ? [] : [['Callback', `OSS called the broker, which checked it and asked the demo's app; the app answered ${JSON.stringify(callback)}`, 'callback']]),
    ]);
  } catch (e) {
    const rows = [
      ['Upload failed', e.message],
      ['Code', e.code ?? 'unknown', 'error-code'],
    ];
    const range = requests.map((r) => r.size).find(Boolean);
    if (range && (e.code === 'EntityTooLarge' || e.code === 'EntityTooSmall')) {
      // The broker signs the form in server and callback mode; the page signs it in sts mode.
      const setBy = {
        server: 'the broker\'s BROKER_MAX_UPLOAD_BYTES',
        callback: 'the broker, for the with-callback profile (its max_upload_bytes, else BROKER_MAX_UPLOAD_BYTES)',
      }[mode] ?? 'the kit\'s maxBytes option';
      rows.push(['Size limit', `the form accepts files of ${bytes(range.min)} to ${bytes(range.max)}, set by ${setBy}; this file has ${file.size === 1 ? '1 byte' : `${file.size} bytes`}`, 'size-limit']);
    }
    if (requests.length) rows.push(['What happened', story(mode, requests)]);
    show('error', rows);
  } finally {
    button.disabled = false;
  }
});
