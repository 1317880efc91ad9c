// Bundles src/entry.js (the real Uppy and its S3 plugin) into dist/uppy.js, one classic script a
// test page can load. Run by the test itself (`npm run bundle` for a look at the output).
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Writes the bundle; answers its path. */
export async function bundle() {
  const outfile = path.join(root, 'dist/uppy.js');
  await build({
    entryPoints: [path.join(root, 'src/entry.js')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await bundle());
}
