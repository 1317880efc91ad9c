// A timed upload in parts through `sts-broker demo` on loopback with the upload kit: N MiB of
// random bytes (default 100) as a Blob, 5 MiB parts, 3 at once, then read back and compared.
// Prints the time from the first broker call to the completed upload. Used by bench/multipart.sh.
//
// usage: STS_BROKER_BIN=target/release/sts-broker node bench/multipart-upload.mjs [MiB]
import { randomBytes, createHash } from 'node:crypto';
import { uploadWithFetch } from '../clients/js/src/index.js';
import { startDemo } from '../clients/js/testing/demo.js';

const mib = Number(process.argv[2] ?? 100);
const size = mib * 1024 * 1024;
const demo = await startDemo({ env: { BROKER_MAX_UPLOAD_BYTES: String(size + 1) } });
try {
  const bytes = randomBytes(size);
  const file = new Blob([bytes]);
  let parts = 0;
  const started = process.hrtime.bigint();
  const result = await uploadWithFetch({
    brokerUrl: demo.brokerUrl, file, filename: 'bench.bin', onProgress: () => { parts += 1; },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const back = Buffer.from(await (await fetch(result.location)).arrayBuffer());
  const same = createHash('sha256').update(back).digest('hex') === createHash('sha256').update(bytes).digest('hex');
  if (!same) throw new Error('the object does not read back equal');
  console.log(`${mib} MiB in ${parts - 1} parts: ${seconds.toFixed(2)} s (${(mib / seconds).toFixed(1)} MiB/s), read back equal`);
} finally {
  await demo.stop();
}
