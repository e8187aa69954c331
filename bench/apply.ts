/**
 * Microbenchmark of the state machine alone: batch entries of router-tokened INCs (the shape
 * every routed INC has) decoded and applied to a real LMDB state store the way a replica does it
 * (apply-pipeline.ts: one in-place transaction per batch, no fsync). Prints microseconds of CPU
 * per INC, on one hot sequence and spread over 10,000 sequences.
 *
 *   node --import=tsx bench/apply.ts [--seconds 3] [--batch 64] [--no-tokens] [--tokens-max N] [--incs]
 *
 * --incs applies each batch as ONE `INCS` of --batch sequences (at most 60) with one token, as a
 * router sends concurrent INCs of different sequences of one bucket.
 *
 * --tokens-max makes the token table reach its bound during the run, so that every INC past it
 * also evicts the oldest token (the steady state of a busy shard; default: the product's 1M).
 *
 * Not part of npm test. Wall-clock time is fine here: this measures, it decides nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolArgs } from './tool-args.ts';
import { LmdbStore, StateMachine, setAppliedIndex } from '../node/state-machine/index.ts';
import { encodeCommand } from '../node/state-machine/codec.ts';
import { BATCH_PARTS_MAX, decodeEntryCommands, encodeBatch } from '../node/state-machine/batch-codec.ts';
import { routerToken } from '../router/token.ts';
import { INCS_SEQUENCES_MAX, multiToken } from '../shared/protocol/part-token.ts';

const USAGE = 'Usage: node --import=tsx bench/apply.ts [--seconds 3] [--batch 64] [--no-tokens] [--tokens-max N] [--incs]';

/** INCs encoded ahead per row: every token is fresh, as for new INCs (the run stops at the end). */
const INCS_MAX = 600_000;

const { values } = toolArgs('bench/apply.ts', USAGE, {
  options: {
    seconds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    'no-tokens': { type: 'boolean', default: false },
    'tokens-max': { type: 'string' },
    incs: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const batchSize = Number(values.batch);
const tokensMax = values['tokens-max'] === undefined ? undefined : Number(values['tokens-max']);
if (!(seconds > 0) || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > BATCH_PARTS_MAX
  || (tokensMax !== undefined && !(Number.isSafeInteger(tokensMax) && tokensMax >= 1))) {
  console.error(`bench/apply.ts: --seconds > 0, --batch 1..${BATCH_PARTS_MAX} and --tokens-max >= 1 (integers)`);
  process.exit(2);
}
const withTokens = !values['no-tokens'];
const asIncs = values.incs;
if (asIncs && (batchSize < 2 || batchSize > INCS_SEQUENCES_MAX)) {
  console.error(`bench/apply.ts: --incs needs --batch 2..${INCS_SEQUENCES_MAX}`);
  process.exit(2);
}

function incsEntry(keys: number, n: number, nowMs: number): Uint8Array {
  const sequences = Array.from({ length: batchSize }, (_, i) => Buffer.from(keys === 1 ? 'hot' : `k${(n * batchSize + i) % keys}`));
  const token = Buffer.from(multiToken(routerToken(nowMs).toString('latin1'), batchSize), 'latin1');
  return encodeCommand({ type: 'incs', bucket: Buffer.from('b'), sequences, token }, nowMs);
}

function entry(keys: number, n: number, nowMs: number): Uint8Array {
  if (asIncs) return incsEntry(keys, n, nowMs);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < batchSize; i++) {
    const sequence = Buffer.from(keys === 1 ? 'hot' : `k${(n * batchSize + i) % keys}`);
    const command = { type: 'inc' as const, bucket: Buffer.from('b'), sequence, count: 1 };
    parts.push(encodeCommand(withTokens ? { ...command, token: routerToken(nowMs) } : command, nowMs));
  }
  return encodeBatch(parts);
}

function row(keys: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'seqdb-apply-bench-'));
  const store = LmdbStore.open({ path: dir, sync: false });
  const machine = new StateMachine(tokensMax === undefined ? {} : { tokensMax });
  // Entries are encoded ahead: the proposer's cost, not the applier's.
  const pool = Array.from({ length: Math.ceil(INCS_MAX / batchSize) }, (_, n) => entry(keys, n, Date.now()));
  let index = 0;
  let incs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 && index < pool.length) {
    const data = pool[index]!;
    index++;
    store.writeNow((txn) => {
      for (const { command, timeMs } of decodeEntryCommands(data)) {
        const result = machine.apply(txn, command, timeMs);
        if (result.type !== (asIncs ? 'array' : 'int')) throw new Error(`unexpected ${JSON.stringify(result)}`);
      }
      setAppliedIndex(txn, index);
    });
    incs += batchSize;
  }
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / incs;
  const summary = store.summary();
  console.log(
    `${keys === 1 ? 'hot' : `${keys} keys`}: ${incs} INCs in ${index} batches of ${batchSize}, ` +
      `${us.toFixed(2)} us CPU per INC (${Math.round(incs / (performance.now() - t0) * 1000)}/s); ` +
      `${summary.tokens} tokens, ${summary.sequences} sequences`,
  );
  void store.close().then(() => rmSync(dir, { recursive: true, force: true }));
}

console.log(asIncs ? `one INCS of ${batchSize} sequences per entry, one router token` : `tokens: ${withTokens ? 'a fresh router token per INC' : 'none'}`);
row(1);
row(10_000);
