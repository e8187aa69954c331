/** Pure parts of backup: the progress bar, the file format's integrity checks. */
import test from 'ava';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes, progressBar } from '../../bin/commands/backup.ts';
import { readBackupFile, sha256, writeBackupFile } from '../../node/backup/backup-file.ts';
import { encodeSnapshot } from '../../node/state-machine/index.ts';
import { imageIndex } from '../../node/backup/export.ts';
import { META, u64 } from '../../node/state-machine/keys.ts';

test('progress bar and sizes', (t) => {
  t.is(progressBar(0, 4, 8), '[--------]');
  t.is(progressBar(2, 4, 8), '[####----]');
  t.is(progressBar(4, 4, 8), '[########]');
  t.is(formatBytes(512), '512 B');
  t.is(formatBytes(2048), '2.0 KiB');
  t.is(formatBytes(3 * 1024 * 1024), '3.0 MiB');
});

test('backup file round-trips images and detects a flipped byte', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-ops-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const image = Buffer.concat([...encodeSnapshot([{ key: META.appliedIndex, value: u64(42n) }], 1 << 20)]);
  t.is(imageIndex([image]), 42);
  const path = join(dir, 'f.bak');
  await writeBackupFile(path, 'router', [{ meta: { shard: '1', index: 42, bytes: image.length, sha256: sha256(image), from: 'x:1' }, image }]);
  const back = await readBackupFile(path);
  t.is(back.manifest.shards[0]!.index, 42);
  t.true(back.images[0]!.image.equals(image));
  const bytes = await readFile(path);
  bytes[bytes.length - 1] ^= 0xff;
  await writeFile(path, bytes);
  await t.throwsAsync(readBackupFile(path), { message: /damaged/ });
});

test('SEQDB.EXPORT hands out an image in bounded chunks; unknown or evicted exports answer TRYAGAIN', async (t) => {
  const { LmdbStore, StateMachine } = await import('../../node/state-machine/index.ts');
  const { Exporter } = await import('../../node/backup/export.ts');
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-ops-export-'));
  const store = LmdbStore.open({ path: dir });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const machine = new StateMachine();
  await store.write((txn) => {
    for (let i = 0; i < 50; i++) machine.apply(txn, { type: 'inc', bucket: Buffer.from(`b${i}`), sequence: Buffer.from('s'), count: i + 1 }, 1000);
  });
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { chunkBytes: 100, imagesMax: 1 });
  const head = await exporter.handle([Buffer.from('SEQDB.EXPORT')]);
  if (head.type !== 'bulk') return t.fail(JSON.stringify(head));
  const h = JSON.parse(head.value.toString()) as { id: string; bytes: number; shard: string };
  t.is(h.shard, 'z');
  const parts: Buffer[] = [];
  for (let off = 0; off < h.bytes;) {
    const c = await exporter.handle([Buffer.from('SEQDB.EXPORT'), Buffer.from(h.id), Buffer.from(String(off))]);
    if (c.type !== 'bulk') return t.fail(JSON.stringify(c));
    t.true(c.value.length <= 100);
    parts.push(Buffer.from(c.value));
    off += c.value.length;
  }
  t.true(parts.length > 5, 'several chunks');
  t.true(Buffer.concat(parts).equals(Buffer.concat([...store.exportSnapshot()])));
  const gone = await exporter.handle([Buffer.from('SEQDB.EXPORT'), Buffer.from(h.id), Buffer.from('0')]);
  t.is(gone.type === 'error' ? gone.code : gone.type, 'TRY_AGAIN', 'fully read images are dropped');
  const a = await exporter.handle([Buffer.from('SEQDB.EXPORT')]);
  await exporter.handle([Buffer.from('SEQDB.EXPORT')]);
  const aId = JSON.parse((a as { value: Buffer }).value.toString()).id as string;
  const evicted = await exporter.handle([Buffer.from('SEQDB.EXPORT'), Buffer.from(aId), Buffer.from('0')]);
  t.is(evicted.type === 'error' ? evicted.code : evicted.type, 'TRY_AGAIN', 'imagesMax bounds what is held');
});

test('a slot in no image is in transit even when another image is of a shard still forming (epoch 0)', async (t) => {
  const { slotOwners, slotsInTransit } = await import('../../node/backup/image-ownership.ts');
  const { SlotSet } = await import('../../node/ownership/slot-set.ts');
  const all = Array.from({ length: 16384 }, (_, i) => i);
  // Shard 1 exported after slot 7 left it; shard 2, new, exported before it applied its first SETSLOTS.
  const source = { sharded: true, epoch: 5, slots: SlotSet.of(all.filter((s) => s !== 7)), frozen: new SlotSet(), slotEpochs: new Map<number, number>() };
  const forming = { sharded: true, epoch: 0, slots: new SlotSet(), frozen: new SlotSet(), slotEpochs: new Map<number, number>() };
  t.deepEqual(slotsInTransit([source, forming], slotOwners([source, forming])), [7]);
  t.deepEqual(slotsInTransit([forming], slotOwners([forming])), [], 'a cluster still forming: nothing is in transit');
  const whole = { ...source, slots: SlotSet.of(all) };
  t.deepEqual(slotsInTransit([whole, forming], slotOwners([whole, forming])), []);
});
