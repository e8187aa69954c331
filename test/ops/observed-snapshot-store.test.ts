/**
 * The node's observer (metrics of every Raft flush) wraps the storage's persist. A received
 * snapshot is a spooled file whose `data` reads the whole image into memory: the observer must
 * take its size without it. It did not, and every InstallSnapshot on a follower held ~2x the
 * image in Buffers (137 MB peak at 1M sequences, bench/memory-restart.ts).
 */
import test from 'ava';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '../../node/raft/types.ts';
import { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import { spoolSinks } from '../../node/replication/snapshot-spool.ts';
import { snapshotBytes } from '../../node/replication/snapshot-images.ts';
import { LmdbStore } from '../../node/state-machine/index.ts';
import type { Engine } from '../../node/server/engine.ts';
import { Metrics } from '../../shared/observability/metrics.ts';
import { observeReplica } from '../../shared/observability/node-observer.ts';

const IMAGE_BYTES = (3 << 20) + 12345;

/** A spooled image of random bytes, and a view of it that counts reads of `data`. */
function spooled(dir: string): { image: Buffer; snapshot: Snapshot; dataReads: () => number } {
  const image = randomFillSync(Buffer.alloc(IMAGE_BYTES));
  const sink = spoolSinks(join(dir, 'spool'))(image.length);
  for (let at = 0; at < image.length; at += 100_000) sink.write(image.subarray(at, at + 100_000));
  const real = sink.finish({ index: 20, term: 2, conf: { voters: ['a'], learners: [] } });
  let reads = 0;
  const snapshot = new Proxy(real, {
    get(target, key) {
      if (key === 'data') reads++;
      return Reflect.get(target, key, target) as unknown;
    },
  });
  return { image, snapshot, dataReads: () => reads };
}

const noEngine: Engine = {
  execute: () => Promise.reject(new Error('not used')),
  info: () => Promise.reject(new Error('not used')),
  close: () => Promise.resolve(),
} as unknown as Engine;

test('storing a received snapshot through the observed storage never reads its image whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-observed-snap-'));
  const storage = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'c1' });
  const store = LmdbStore.open({ path: join(dir, 'state'), sync: false });
  t.teardown(async () => {
    await storage.close();
    store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const metrics = new Metrics({ component: 'node' });
  const observed = observeReplica({ metrics }, { engine: noEngine, shard: 's1', nodeId: 'n1', store, storage, node: () => null });
  t.teardown(() => observed.stop());
  const { image, snapshot, dataReads } = spooled(dir);

  await storage.persist({ snapshot, entries: [], hardState: { term: 2, vote: null, commit: 20 } });

  t.is(dataReads(), 0, 'the observer read the image to take its size');
  t.is(snapshotBytes(snapshot), image.length);
  t.is(dataReads(), 0);
  t.regex(await metrics.text(), new RegExp(`seqdb_flush_bytes_total\\{component="node"\\} ${image.length}\\b`));
  t.deepEqual(Buffer.concat([...storage.snapshotChunks()]), image, 'the stored image is the one received');
});
