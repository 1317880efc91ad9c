// Starts `sts-broker demo` (the broker with its STS and OSS emulators) on port 0 for the kit's
// end-to-end tests and reads the addresses it prints. Test support only; not part of the package.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** STS_BROKER_BIN, else target/debug, else target/release. */
export function brokerBinary() {
  const candidates = [
    process.env.STS_BROKER_BIN,
    path.join(repo, 'target/debug/sts-broker'),
    path.join(repo, 'target/release/sts-broker'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`no sts-broker binary (looked at ${candidates.join(', ')}): run \`cargo build\` first`);
  }
  return found;
}

/**
 * A running demo: `{ brokerUrl, ossUrl, bucketUrl, output, stop() }`. `env` adds variables the
 * demo passes through (e.g. `BROKER_RATE_LIMIT_PER_MINUTE` for a test that uploads a lot).
 */
export async function startDemo({ env = {} } = {}) {
  const child = spawn(brokerBinary(), ['demo'], {
    // A clean environment and an empty directory: no .env of the developer's gets read.
    cwd: mkdtempSync(path.join(tmpdir(), 'kit-demo-')),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BROKER_LISTEN: '127.0.0.1:0', RUST_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  child.stderr.on('data', (d) => output.push(String(d)));
  const lines = createInterface({ input: child.stdout });
  const found = {};
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no address in 30 s:\n${output.join('')}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}) before printing its address:\n${output.join('')}`));
    });
    lines.on('line', (line) => {
      output.push(`${line}\n`);
      const m = /^\s*(broker|OSS emulator):\s+(http\S+)/.exec(line);
      if (m) found[m[1]] = m[2];
      if (found.broker && found['OSS emulator']) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    brokerUrl: found.broker,
    bucketUrl: found['OSS emulator'],
    output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
