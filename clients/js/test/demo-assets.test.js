// The demo page's files as the broker embeds them: every kit module is served, and the vendored
// crypto-js is byte for byte the version package-lock.json pins.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const read = (p) => readFileSync(new URL(p, root), 'utf8');

test('the vendored crypto-js is the locked dependency, with its licence', () => {
  const lock = JSON.parse(read('package-lock.json'));
  const installed = JSON.parse(read('node_modules/crypto-js/package.json'));
  assert.equal(installed.version, lock.packages['node_modules/crypto-js'].version);
  assert.equal(read('demo/vendor/crypto-js.js'), read('node_modules/crypto-js/crypto-js.js'));
  assert.equal(read('demo/vendor/crypto-js.LICENSE'), read('node_modules/crypto-js/LICENSE'));
});

test('the broker embeds every kit module and every file the page loads', () => {
  const rust = read('../../src/routes/demo_page.rs');
  const served = new Map([...rust.matchAll(/"(\/demo[^"]*)",\s*\w+,\s*include_str!\("\.\.\/\.\.\/clients\/js\/([^"]+)"\)/g)]
    .map(([, route, file]) => [route, file]));
  for (const file of readdirSync(new URL('src/', root))) {
    assert.equal(served.get(`/demo/kit/${file}`), `src/${file}`, `src/${file} is not served`);
  }
  const html = read('demo/index.html');
  const refs = [...html.matchAll(/"(\/demo\/[^"]+)"/g)].map(([, ref]) => ref);
  assert.deepEqual(refs.sort(), ['/demo/app.js', '/demo/vendor/crypto-js.js', '/demo/vendor/crypto-js.mjs']);
  for (const ref of refs) assert.ok(served.has(ref), `${ref} is not served`);
  for (const [, ref] of read('demo/app.js').matchAll(/from '(\/demo[^']+)'/g)) assert.ok(served.has(ref), ref);
});
