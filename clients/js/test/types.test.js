// The TypeScript declarations: typed usage examples (testing/typed/, outside test/ so that no test
// runner takes them for tests) of every export and option compile under
// `tsc --noEmit --strict`, through the package's own "exports" (import → types/index.d.ts, require
// → cjs/index.d.ts), and the examples' @ts-expect-error lines prove the types refuse misuse.
// Also: the declarations name exactly what src/index.js exports.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as kit from '../src/index.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

function compile(files) {
  try {
    return execFileSync(process.execPath, [
      tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--lib', 'es2022,dom', '--listFiles', ...files,
    ], { cwd: root, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc --strict refused the typed example:\n${e.stdout}${e.stderr}`);
  }
}

test('the typed examples compile under tsc --noEmit --strict, each against its entry\'s declarations', () => {
  const listed = compile(['testing/typed/usage.ts', 'testing/typed/usage.cts']).split('\n').map((l) => l.trim());
  assert.ok(listed.some((l) => l.endsWith('/types/index.d.ts')), 'import resolved to types/index.d.ts');
  assert.ok(listed.some((l) => l.endsWith('/cjs/index.d.ts')), 'require resolved to cjs/index.d.ts');
});

test('the declarations and the typed example cover every runtime export', () => {
  const dts = readFileSync(new URL('../types/index.d.ts', import.meta.url), 'utf8');
  const declared = new Set([...dts.matchAll(/^export (?:declare )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(kit).sort());
  const usage = readFileSync(new URL('../testing/typed/usage.ts', import.meta.url), 'utf8');
  for (const name of Object.keys(kit)) assert.match(usage, new RegExp(`\\b${name}\\b`), `usage.ts uses ${name}`);
});
