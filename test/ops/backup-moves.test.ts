/**
 * A backup must not be taken across a slot move: shards are exported one after another, so a
 * bucket whose slot moves meanwhile can be in neither image (restored, it would start again at 1)
 * or in both with different values (one image's older value would win). `seqdb backup` checks the
 * catalog before and after (real `seqdb dev --shards 2` processes, a real move record), and
 * `seqdb restore` refuses images whose shards both own a slot (real LMDB stores and move steps:
 * a review's case, the source still frozen while the target already handed out more numbers).
 */
import test from 'ava';
import { join } from 'node:path';
import { backup, discoverShards } from '../../node/backup/backup.ts';
import { sha256, writeBackupFile, type ShardImage } from '../../node/backup/backup-file.ts';
import { restore } from '../../node/backup/restore.ts';
import { readCatalog, slotTable } from '../../node/ownership/catalog.ts';
import { markSharded } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { slotOf } from '../../shared/placement/slot.ts';
import { respCall } from '../../shared/observability/resp-call.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { LmdbStore, MemoryKv } from '../../node/state-machine/index.ts';
import { freeRange, inc, seqdb, sleep } from './helpers.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { existsSync, readFileSync } from 'node:fs';
import { tempDir } from '../helpers/temp-dir.ts';
import { apply, cluster, inc as incCmd } from '../helpers/logged-apply.ts';

/** INC through the router once the cluster serves (both shards formed, slots pushed). */
async function incWhenUp(router: string, bucket: string): Promise<bigint> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    try {
      return await inc(router, bucket, 's');
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** One slot move done by hand, step by step as the coordinator does it (node/rebalance/mover.ts). */
async function moveSlot(addrOf: (shard: string) => string, secret: ClusterSecret, from: string, to: string, slot: number): Promise<void> {
  const call = async (shard: string, ...args: string[]): Promise<Reply> => {
    const r = await respCall(addrOf(shard), ['CLUSTER', ...args], { timeoutMs: 5000, clusterSecret: secret });
    if (r.kind === 'error') throw new Error(`CLUSTER ${args[0]} on shard ${shard}: -${r.word} ${r.message}`);
    return r;
  };
  const slots = SlotSet.of([slot]).toBase64();
  const begun = await call('1', 'MOVEBEGIN', from, to, slots);
  const m = String((JSON.parse((begun as { value: Buffer }).value.toString('utf8')) as { epoch: number }).epoch);
  await call(from, 'FREEZE', m, slots);
  const data = (await call(from, 'EXPORT', m, slots)) as { value: Buffer };
  await call(to, 'IMPORT', m, slots, data.value.toString('base64'));
  await call('1', 'MOVECOMMIT', m);
  await call(from, 'RELEASE', m, slots);
  await call('1', 'MOVEEND', m);
}

/** The committed slot table: slot -> shard (CLUSTER CATALOG on the catalog shard). */
async function catalogTable(catalog: string, secret: ClusterSecret): Promise<Map<number, string>> {
  const r = await respCall(catalog, ['CLUSTER', 'CATALOG'], { timeoutMs: 5000, clusterSecret: secret });
  if (r.kind !== 'string') throw new Error(`CLUSTER CATALOG: ${JSON.stringify(r)}`);
  const view = JSON.parse(r.value.toString('utf8')) as { shards: { id: string; slots: string }[] };
  const out = new Map<number, string>();
  for (const s of view.shards) for (const slot of SlotSet.fromBase64(s.slots)!.slots()) out.set(slot, s.id);
  return out;
}

test('a slot moved between two shards\' exports: the backup is taken again, and its restore continues the bucket', async (t) => {
  const dir = await tempDir(t);
  const port = await freeRange(4);
  seqdb(t, ['dev', '--port', String(port), '--data', join(dir, 'd'), '--shards', '2', '--log-level', 'warn']);
  const router = `127.0.0.1:${port}`;
  for (let i = 0; i < 40; i++) t.is(await incWhenUp(router, `b${i}`), 1n);
  const { targets } = await discoverShards(router);
  const [first, second] = [targets[0]!.shard, targets[1]!.shard];
  const addrOf = (shard: string): string => targets.find((x) => x.shard === shard)!.addrs[0]!;
  const secret = new ClusterSecret(readFileSync(join(dir, 'd', 'cluster-secret'), 'utf8').trim());
  // Buckets of the shard exported second, each moved to the one exported first: one per try.
  const table = await catalogTable(addrOf('1'), secret);
  const moving = Array.from({ length: 40 }, (_, i) => `b${i}`).filter((b) => table.get(slotOf(b)) === second);
  t.true(moving.length >= 4, `${moving.length} buckets on shard ${second}`);
  for (const b of moving) for (let n = 2; n <= 5; n++) t.is(await inc(router, b, 's'), BigInt(n));

  let tries = 0;
  const taken = await backup({
    address: router,
    out: join(dir, 'a.bak'),
    onProgress: async (done, total, _bytes, shard) => {
      if (done !== 1 || total !== 2 || shard !== first) return; // the first shard is exported
      if (tries++ === 0) await moveSlot(addrOf, secret, second, first, slotOf(moving[0]!));
    },
  });
  t.is(tries, 2, 'the first try had a slot in no image; the second had none');
  t.is(taken.shards.length, 2);
  t.is(await incWhenUp(router, moving[0]!), 6n, 'the cluster itself serves the moved bucket on');
  await restore({ in: join(dir, 'a.bak'), dataDir: join(dir, 'r') });
  const restored = seqdb(t, ['dev', '--port', '0', '--data', join(dir, 'r'), '--log-level', 'warn']);
  const addr = (await restored.waitFor(/listening on ([0-9.]+:[0-9]+)/))[1]!;
  t.is(await inc(addr, moving[0]!, 's'), 6n, 'the moved bucket continues where the backup stood');
  t.is(await inc(addr, moving[1]!, 's'), 6n);

  // A slot moving during every try: refused, nothing written.
  let next = 1;
  const err = await t.throwsAsync(backup({
    address: router,
    out: join(dir, 'b.bak'),
    onProgress: async (done, total, _bytes, shard) => {
      if (done === 1 && total === 2 && shard === first) await moveSlot(addrOf, secret, second, first, slotOf(moving[next++]!));
    },
  }));
  t.is((err as { code?: string }).code, ErrorCode.TRY_AGAIN);
  t.false(existsSync(join(dir, 'b.bak')));
});


function image(shard: string, store: LmdbStore): ShardImage {
  const bytes = Buffer.concat([...store.exportSnapshot()]);
  return { meta: { shard, index: 0, bytes: bytes.length, sha256: sha256(bytes), from: `x:${shard}` }, image: bytes };
}

test('restore takes a slot\'s data from its current owner when shards on either side of a move both hold it', async (t) => {
  const dir = await tempDir(t);
  const s1 = new MemoryKv();
  markSharded(s1, '1');
  for (const id of ['1', '2', '3']) apply(s1, cluster('REGISTER', id, `127.0.0.1:${id}`));
  apply(s1, cluster('INITSLOTS'));
  const view = readCatalog(s1);
  const a = LmdbStore.open({ path: join(dir, 'a') });
  const b = LmdbStore.open({ path: join(dir, 'b') });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  for (const [store, id] of [[a, '2'], [b, '3']] as const) {
    await store.write((txn) => {
      markSharded(txn, id);
      apply(txn, cluster('SETSLOTS', id, String(view.epoch), view.shards.find((s) => s.id === id)!.slots.toBase64()));
    });
  }
  const table = slotTable(s1);
  let bucket = '';
  for (let i = 0; bucket === ''; i++) if (table[slotOf(`r${i}`)] === '2') bucket = `r${i}`;
  for (let i = 0; i < 5; i++) await a.write((txn) => apply(txn, incCmd(bucket)));
  const sourceBefore = image('2', a); // owns the slot, before the move
  const moving = SlotSet.of([slotOf(bucket)]).toBase64();
  const begun = apply(s1, cluster('MOVEBEGIN', '2', '3', moving));
  const m = String((JSON.parse((begun as { value: Buffer }).value.toString()) as { epoch: number }).epoch);
  await a.write((txn) => apply(txn, cluster('FREEZE', m, moving)));
  const data = (await a.write((txn) => apply(txn, cluster('EXPORT', m, moving)))) as { value: Buffer };
  await b.write((txn) => apply(txn, cluster('IMPORT', m, moving, data.value.toString('base64'))));
  for (let i = 0; i < 5; i++) await b.write((txn) => apply(txn, incCmd(bucket))); // 6..10 from the target
  const sourceFrozen = image('2', a); // still owns it, frozen at 5 (RELEASE not applied yet)
  const target = image('3', b); // owns it at 10
  const restoredInc = async (name: string, images: ShardImage[]): Promise<bigint> => {
    const file = join(dir, `${name}.bak`);
    await writeBackupFile(file, 'router', images);
    await restore({ in: file, dataDir: join(dir, name) });
    const st = LmdbStore.open({ path: join(dir, name, 'lmdb') });
    try {
      const r = await st.write((txn) => apply(txn, incCmd(bucket)));
      if (r.type !== 'int') throw new Error(JSON.stringify(r));
      return r.value;
    } finally {
      await st.close();
    }
  };
  t.is(await restoredInc('frozen-last', [target, sourceFrozen]), 11n, 'the frozen source\'s older copy does not win');
  t.is(await restoredInc('before-first', [sourceBefore, target]), 11n, 'nor the source\'s copy from before the move');
  t.is(await restoredInc('only-source', [sourceFrozen]), 6n, 'restoring the source alone takes its copy');
});
