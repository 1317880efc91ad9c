// The demo page's script: one upload through the kit per submit, and what happened. It shows the
// key, the size and a read-back link; it never shows or logs a credential.
import { uploadWithFetch } from '/demo/kit/index.js';

const form = document.getElementById('upload-form');
const input = document.getElementById('file');
const button = document.getElementById('upload');
const result = document.getElementById('result');

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

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = input.files[0];
  if (!file) return;
  const mode = new FormData(form).get('mode');
  button.disabled = true;
  result.textContent = `Uploading ${file.name} (${mode})…`;
  try {
    const { key, status, location } = await uploadWithFetch({ brokerUrl: window.location.origin, file, mode });
    const link = document.createElement('a');
    link.href = location;
    link.id = 'read-back';
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = location;
    show('ok', [
      ['Uploaded', `${file.name} (${mode} mode, HTTP ${status})`],
      ['Key', key, 'key'],
      ['Size', `${file.size} bytes`, 'size'],
      ['Read it back', link],
    ]);
  } catch (e) {
    show('error', [
      ['Upload failed', e.message],
      ['Code', e.code ?? 'unknown', 'error-code'],
    ]);
  } finally {
    button.disabled = false;
  }
});
