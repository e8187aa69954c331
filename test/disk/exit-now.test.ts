/**
 * A process that must end while lmdb-js has write transactions in flight ends (shared/exit-now.ts).
 * process.exit there hangs forever, often (Node joins its thread pool, where lmdb-js's writer
 * waits for the main thread): a CI run caught a node whose disk failed neither serving nor exiting.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp-dir.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const CHILD = fileURLToPath(new URL('./exit-child.ts', import.meta.url));
const ENDS_WITHIN_MS = 10_000;

interface Ended {
  readonly how: string;
  readonly output: string;
}

/** Runs the child; resolves with its exit code or signal, or 'hung' (then kills it). */
function run(dir: string, how: string, delayMs: number): Promise<Ended> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [TS_LOADER_ARG, CHILD, dir, how, String(delayMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    c.stdout.on('data', (d) => (output += d));
    c.stderr.on('data', (d) => (output += d));
    let ending = 0;
    const watch = setInterval(() => {
      if (output.includes('ENDING')) ending ||= Date.now();
      if (ending !== 0 && Date.now() - ending > ENDS_WITHIN_MS) c.kill('SIGKILL');
    }, 100);
    c.on('close', (code, signal) => {
      clearInterval(watch);
      const hung = ending !== 0 && Date.now() - ending > ENDS_WITHIN_MS;
      resolve({ how: hung ? 'hung' : String(code ?? signal), output });
    });
  });
}

for (const how of ['exitNow', 'uncaught', 'rejection'] as const) {
  test(`${how}: a process with LMDB writes in flight ends at once, every time`, async (t) => {
    t.timeout(180_000);
    const base = await tempDir(t);
    const ends: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await run(join(base, `d${i}`), how, 150 + 37 * i);
      t.true(r.output.includes('ENDING'), r.output);
      ends.push(r.how);
      if (how === 'uncaught') t.regex(r.output, /FATAL uncaught: Error: a bug in the server/);
    }
    t.log(`ends: ${ends.join(' ')}`);
    t.deepEqual(ends, ends.map(() => 'SIGKILL'));
  });
}
