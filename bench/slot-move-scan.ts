/**
 * Microbenchmark of what a slot move reads on a shard's replicas, in their apply step (where
 * every other write of the shard waits): the paged export of the moving slots (CLUSTER
 * EXPORTPAGE, page after page) and the delete of the moved data (CLUSTER RELEASE, one
 * transaction; or with --release-page N, CLUSTER RELEASEPAGE's pages of N entries, one
 * transaction each, as the coordinator sends them: 2048); and on a target, the install of the
 * exported pages, as IMPORTDONE does it: in one transaction. The state is built by applying
 * router-tokened INCs, as a busy shard's is: one sequence value and one token record per INC,
 * spread over --buckets buckets; 1/16 of the slots move (rebalance's share when a 16th shard
 * joins).
 *
 *   node --import=tsx bench/slot-move-scan.ts [--incs 1000000] [--buckets 100] [--sequences 1000] [--release-page 0]
 *
 * Not part of npm test: it measures, it decides nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolArgs } from './tool-args.ts';
import { LmdbStore, StateMachine } from '../node/state-machine/index.ts';
import { deleteSlotData, deleteSlotPage, exportSlotPage, installSlotData } from '../node/ownership/slot-data.ts';
import { SlotSet } from '../node/ownership/slot-set.ts';
import { slotCount, slotOf } from '../shared/placement/slot.ts';
import { routerToken } from '../router/token.ts';

const USAGE = 'Usage: node --import=tsx bench/slot-move-scan.ts [--incs 1000000] [--buckets 100] [--sequences 1000] [--release-page 0]';

const { values } = toolArgs('bench/slot-move-scan.ts', USAGE, {
  options: {
    incs: { type: 'string', default: '1000000' },
    buckets: { type: 'string', default: '100' },
    sequences: { type: 'string', default: '1000' },
    'release-page': { type: 'string', default: '0' },
  },
});
const incs = Number(values.incs);
const bucketCount = Number(values.buckets);
const sequenceCount = Number(values.sequences);
const releasePageKeys = Number(values['release-page']);
if (![incs, bucketCount, sequenceCount].every((n) => Number.isSafeInteger(n) && n >= 1) || !Number.isSafeInteger(releasePageKeys) || releasePageKeys < 0) {
  console.error('bench/slot-move-scan.ts: --incs, --buckets and --sequences are integers >= 1, --release-page an integer >= 0');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'seqdb-slot-scan-bench-'));
const store = LmdbStore.open({ path: dir, sync: false });
// Tokens kept as long as the run: the state holds one token record per INC.
const machine = new StateMachine({ tokensMax: incs + 1, tokenRetentionMs: 24 * 3600_000 });
const buckets = Array.from({ length: bucketCount }, (_, i) => Buffer.from(`bucket-${i}`));
const sequences = Array.from({ length: sequenceCount }, (_, i) => Buffer.from(`seq-${i}`));

let t0 = performance.now();
for (let done = 0; done < incs;) {
  store.writeNow((txn) => {
    const nowMs = Date.now();
    for (let k = 0; k < 2000 && done < incs; k++, done++) {
      const command = { type: 'inc' as const, bucket: buckets[done % bucketCount]!, sequence: sequences[Math.floor(done / bucketCount) % sequenceCount]!, count: 1, token: routerToken(nowMs) };
      const result = machine.apply(txn, command, nowMs);
      if (result.type !== 'int') throw new Error(`unexpected ${JSON.stringify(result)}`);
    }
  });
}
const summary = store.summary();
console.log(`state: ${incs} INCs over ${bucketCount} buckets x ${sequenceCount} sequences (${summary.tokens} tokens, ${summary.sequences} sequences), built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const slots = SlotSet.of(Array.from({ length: slotCount / 16 }, (_, i) => i));
const moving = buckets.filter((b) => slots.has(slotOf(b))).length;
t0 = performance.now();
let cpu0 = process.cpuUsage();
let pages = 0;
let entries = 0;
let pageMsMax = 0;
const exportedPages: Buffer[] = [];
for (let after: Buffer = Buffer.alloc(0); ;) {
  const p0 = performance.now();
  const page = store.read((kv) => exportSlotPage(kv, slots, after));
  pageMsMax = Math.max(pageMsMax, performance.now() - p0);
  exportedPages.push(page.data);
  pages++;
  entries += page.count;
  if (page.done) break;
  after = page.last;
}
const exportMs = performance.now() - t0;
const exportCpu = process.cpuUsage(cpu0);
t0 = performance.now();
cpu0 = process.cpuUsage();
let deleted = 0;
let releasePages = 0;
let releasePageMsMax = 0;
if (releasePageKeys === 0) {
  deleted = store.writeNow((txn) => deleteSlotData(txn, slots));
} else {
  for (let after: Buffer = Buffer.alloc(0); ;) {
    const p0 = performance.now();
    const page = store.writeNow((txn) => deleteSlotPage(txn, slots, after, releasePageKeys));
    releasePageMsMax = Math.max(releasePageMsMax, performance.now() - p0);
    releasePages++;
    deleted += page.count;
    if (page.done) break;
    after = page.last;
  }
}
const releaseMs = performance.now() - t0;
const releaseCpu = process.cpuUsage(cpu0);
const ms = (c: NodeJS.CpuUsage): string => ((c.user + c.system) / 1000).toFixed(0);
console.log(`1/16 of the slots (${moving} of ${bucketCount} buckets, ${entries} entries):`);
console.log(`  export: ${pages} pages in ${exportMs.toFixed(0)} ms (CPU ${ms(exportCpu)} ms, longest page ${pageMsMax.toFixed(1)} ms)`);
const how = releasePageKeys === 0 ? 'one transaction' : `${releasePages} pages of at most ${releasePageKeys}, longest ${releasePageMsMax.toFixed(1)} ms`;
console.log(`  release: ${deleted} entries deleted in ${releaseMs.toFixed(0)} ms (CPU ${ms(releaseCpu)} ms, ${how})`);

// The target: a fresh store (the slots' data is all it holds).
const target = LmdbStore.open({ path: join(dir, 'target'), sync: false });
t0 = performance.now();
cpu0 = process.cpuUsage();
target.writeNow((txn) => {
  for (const data of exportedPages) installSlotData(txn, slots, data);
});
const installCpu = process.cpuUsage(cpu0);
console.log(`  install on the target: ${exportedPages.length} pages in ${(performance.now() - t0).toFixed(0)} ms (CPU ${ms(installCpu)} ms, one transaction, as IMPORTDONE)`);
await target.close();
void store.close().then(() => rmSync(dir, { recursive: true, force: true }));
