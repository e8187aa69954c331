/**
 * Native memory of the state machine's apply over a long run: router-merged INCS (4 sequences,
 * one token) applied one transaction each to a real LMDB state store, the resident set size
 * printed after every 100,000 (after a full GC: the JS heap stays flat, so growth is native).
 * Found a leak this way: each LMDB cursor opened inside a write transaction costs lmdb-js 3.5.6
 * ~300 B that is never freed, and every INCS opened one (series.ts bucketHasSeries): +40 MB per
 * 100,000 INCS. A flat line is the expected output.
 *
 *   node --expose-gc --import=tsx bench/apply-memory.ts [--rounds 5]
 *
 * Not part of npm test: it measures, it decides nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LmdbStore, StateMachine } from '../node/state-machine/index.ts';
import { routerToken } from '../router/token.ts';
import { multiToken } from '../shared/protocol/part-token.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const gc = (globalThis as { gc?: () => void }).gc;
if (!Number.isInteger(rounds) || rounds < 1 || gc === undefined) {
  console.error('bench/apply-memory.ts: run with node --expose-gc; --rounds is an integer >= 1');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'seqdb-apply-memory-'));
const store = LmdbStore.open({ path: dir, sync: false });
const machine = new StateMachine({ tokensMax: 10_000 });
const report = (label: string): void => {
  gc();
  const m = process.memoryUsage();
  console.log(`${label}: rss ${(m.rss / 1e6).toFixed(0)} MB, heap ${(m.heapUsed / 1e6).toFixed(1)} MB`);
};
for (let r = 0; r <= rounds; r++) {
  report(`after ${r * 100_000} INCS`);
  if (r === rounds) break;
  for (let i = 0; i < 100_000; i++) {
    store.writeNow((txn) => {
      const nowMs = Date.now();
      const sequences = Array.from({ length: 4 }, (_, k) => Buffer.from(`s${(i * 4 + k) % 1000}`));
      const token = Buffer.from(multiToken(routerToken(nowMs).toString('latin1'), 4), 'latin1');
      machine.apply(txn, { type: 'incs', bucket: Buffer.from('b'), sequences, token }, nowMs);
    });
  }
}
void store.close().then(() => rmSync(dir, { recursive: true, force: true }));
