/**
 * Native memory of the state machine's apply: router-merged INCS (4 sequences, one token)
 * applied one transaction each to a real LMDB state store; the resident set size is printed
 * after every 100,000 (after a full GC; the JS heap stays flat, so growth is native).
 *
 *   node --expose-gc --import=tsx bench/apply-memory.ts [--rounds 5] [--no-yield]
 *
 * By default the loop yields to the event loop every 1,000 INCS, as a node does between
 * batches. With --no-yield it never does, as one long synchronous apply (a follower's catch-up
 * batch): each LMDB cursor opened in a write transaction is a new lmdb-js Cursor whose native
 * memory (~300 B) only a finalizer frees, and finalizers run on a later turn of the loop. Every
 * INCS used to open one (series.ts bucketHasSeries): +40 MB per 100,000 INCS with --no-yield.
 *
 * Not part of npm test: it measures, it decides nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolArgs } from './tool-args.ts';
import { LmdbStore, StateMachine } from '../node/state-machine/index.ts';
import { routerToken } from '../router/token.ts';
import { multiToken } from '../shared/protocol/part-token.ts';

const USAGE = 'Usage: node --expose-gc --import=tsx bench/apply-memory.ts [--rounds 5] [--no-yield]';

const { values } = toolArgs('bench/apply-memory.ts', USAGE, { options: { rounds: { type: 'string', default: '5' }, 'no-yield': { type: 'boolean', default: false } } });
const yields = !values['no-yield'];
const rounds = Number(values.rounds);
const gc = (globalThis as { gc?: () => void }).gc;
if (!Number.isInteger(rounds) || rounds < 1 || gc === undefined) {
  console.error('bench/apply-memory.ts: run with node --expose-gc; --rounds is an integer >= 1');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'seqdb-apply-memory-'));
const store = LmdbStore.open({ path: dir, sync: false });
const machine = new StateMachine({ tokensMax: 10_000 });
const report = async (label: string): Promise<void> => {
  // Collected Cursors' native memory goes back on the finalizers' turn, after the GC (with
  // --no-yield the run stays in one synchronous stretch, reports included).
  for (let i = 0; i < 3; i++) {
    gc();
    if (yields) await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  console.log(`${label}: rss ${(m.rss / 1e6).toFixed(0)} MB, heap ${(m.heapUsed / 1e6).toFixed(1)} MB`);
};
for (let r = 0; r <= rounds; r++) {
  await report(`after ${r * 100_000} INCS`);
  if (r === rounds) break;
  for (let i = 0; i < 100_000; i++) {
    if (yields && i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    store.writeNow((txn) => {
      const nowMs = Date.now();
      const sequences = Array.from({ length: 4 }, (_, k) => Buffer.from(`s${(i * 4 + k) % 1000}`));
      const token = Buffer.from(multiToken(routerToken(nowMs).toString('latin1'), 4), 'latin1');
      machine.apply(txn, { type: 'incs', bucket: Buffer.from('b'), sequences, token }, nowMs);
    });
  }
}
void store.close().then(() => rmSync(dir, { recursive: true, force: true }));
