import test from 'ava';
import { open, type Database, type RootDatabase } from 'lmdb';
import { tempDir } from '../helpers/temp-dir.ts';
import { crc32 } from 'node:zlib';
import { IMAGE_CHUNK_BYTES, SnapshotImages, imageChunks } from '../../node/replication/snapshot-images.ts';
import { ErrorCode, type SeqError } from '../../shared/errors.ts';

/** A fresh LMDB environment with the storage's two dbs, closed at the test's end. */
async function imageDbs(t: { teardown(fn: () => unknown): void }): Promise<{ env: RootDatabase; image: Database<Buffer, string>; meta: Database<unknown, string> }> {
  const env = open({ path: await tempDir(t), maxDbs: 4 });
  t.teardown(() => env.close());
  return { env, image: env.openDB<Buffer, string>({ name: 'image', encoding: 'binary' }), meta: env.openDB<unknown, string>({ name: 'meta' }) };
}

test('a generation left by a crash mid-write is never reused: its chunks cannot mix into a new image', async (t) => {
  const { env, image, meta } = await imageDbs(t);
  const first = new SnapshotImages(image, meta, 0);
  env.transactionSync(() => first.putWhole(Buffer.from('image one'), 10));
  // A crash while generation 2 was written: ten chunks, never made current.
  env.transactionSync(() => {
    for (let i = 0; i < 10; i++) image.putSync(`2/${String(i).padStart(6, '0')}`, Buffer.from(`stale ${i}`));
  });
  const reopened = new SnapshotImages(image, meta, 10);
  const commit = async (fn: () => void): Promise<void> => void (await env.transaction(fn));
  t.true(await reopened.putStreamed([Buffer.from('image two')], 20, commit, () => {}));
  t.is(Buffer.from(reopened.read()).toString(), 'image two');
  const keys = [...image.getKeys({})] as string[];
  t.is(keys.length, 1, `only the current image's chunk is left: ${keys.join(' ')}`);
});

test('a stored image whose bytes changed on disk is refused (CORRUPT) before its last chunk: no reader ever has it whole; refs without a checksum still read', async (t) => {
  const { env, image, meta } = await imageDbs(t);
  const images = new SnapshotImages(image, meta, 0);
  const data = Buffer.alloc(IMAGE_CHUNK_BYTES * 2 + 1000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  const commit = async (fn: () => void): Promise<void> => void (await env.transaction(fn));
  t.true(await images.putStreamed(imageChunks(data), 10, commit, () => {}));
  const ref = images.ref()!;
  t.is(ref.chunks, 3);
  t.is(typeof ref.crc, 'number');
  t.true(Buffer.concat([...images.chunks()]).equals(data), 'read back whole while intact');

  // Bit rot in the middle chunk, then in the last one.
  for (const i of [1, 2]) {
    const key = `${ref.gen}/${String(i).padStart(6, '0')}`;
    const good = Buffer.from(image.get(key)!);
    const bad = Buffer.from(good);
    bad[100]! ^= 0x04;
    env.transactionSync(() => image.putSync(key, bad));
    const got: Uint8Array[] = [];
    const err = t.throws(() => { for (const c of images.chunks({ reuse: true })) got.push(Buffer.from(c)); }) as SeqError;
    t.is(err.code, ErrorCode.CORRUPT, `chunk ${i}`);
    t.is(got.length, 2, 'every chunk but the last was read; the last never is');
    t.is((t.throws(() => images.read()) as SeqError).code, ErrorCode.CORRUPT);
    env.transactionSync(() => image.putSync(key, good));
  }
  t.true(Buffer.from(images.read()).equals(data), 'repaired: reads again');

  // A ref written before checksums (no crc) reads as before, unchecked.
  env.transactionSync(() => meta.putSync('imageRef', { gen: ref.gen, chunks: ref.chunks, bytes: ref.bytes }));
  t.true(Buffer.from(images.read()).equals(data));
  // putWhole records one too.
  env.transactionSync(() => images.putWhole(Buffer.from('a small first image'), 20));
  t.is(images.ref()!.crc, crc32(Buffer.from('a small first image')));
});

test('the head kept beside the image for a restart is not used if it rotted (the caller reads the image, checked whole)', async (t) => {
  const { env, image, meta } = await imageDbs(t);
  const images = new SnapshotImages(image, meta, 0);
  env.transactionSync(() => images.putWhole(Buffer.from('{"members":{"a":"127.0.0.1:1"}} and the state'), 10));
  t.is(Buffer.from(images.head()!).toString().slice(0, 10), '{"members"');
  const rotted = Buffer.from(meta.get('snapHead') as Uint8Array);
  rotted[20]! ^= 0x01; // "127.0.0.1:1" -> another address, still valid JSON
  env.transactionSync(() => meta.putSync('snapHead', rotted));
  t.is(images.head(), undefined);
  t.true(Buffer.from(images.read()).toString().startsWith('{"members":{"a":"127.0.0.1:1"}}'), 'the image itself is intact');
});

/** Counts turns of the event loop (setImmediate) until stopped. */
function turnCounter(): { readonly turns: () => number; stop(): void } {
  let turns = 0;
  let on = true;
  const tick = (): void => {
    turns++;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  return { turns: () => turns, stop: () => void (on = false) };
}

test('an image is taken one chunk per turn of the event loop (pulling one may encode it from the state), in transactions of several, stored in values of at most IMAGE_CHUNK_BYTES, and reads back whole', async (t) => {
  const { env, image, meta } = await imageDbs(t);
  const images = new SnapshotImages(image, meta, 0);
  const counter = turnCounter();
  t.teardown(() => counter.stop());
  const pulledAt: number[] = [];
  // One reused buffer, as an own snapshot's export yields them; sizes around the transaction's.
  const sizes = [64 << 10, 64 << 10, 3 << 20, 6 << 20, 9 << 20, 100, 1 << 20];
  const reused = Buffer.alloc(9 << 20);
  const expected: Buffer[] = [];
  const chunks = function* (): Generator<Buffer> {
    for (const [i, size] of sizes.entries()) {
      pulledAt.push(counter.turns());
      reused.fill(i + 1, 0, size);
      expected.push(Buffer.alloc(size, i + 1));
      yield reused.subarray(0, size);
    }
  };
  let commits = 0;
  const commit = async (fn: () => void): Promise<void> => void (commits++, await env.transaction(fn));
  t.true(await images.putStreamed(chunks(), 10, commit, () => {}));
  counter.stop();
  for (let i = 1; i < pulledAt.length; i++) t.true(pulledAt[i]! > pulledAt[i - 1]!, `chunk ${i} pulled in a later turn than chunk ${i - 1}: ${pulledAt.join(' ')}`);
  t.true(commits >= 3 && commits < sizes.length, `${commits} transactions for ${sizes.length} chunks`);
  const stored = [...images.chunks()];
  t.true(stored.every((c) => c.length <= IMAGE_CHUNK_BYTES));
  t.true(Buffer.concat(stored).equals(Buffer.concat(expected)));
});

test("an own snapshot's small chunks are stored in IMAGE_CHUNK_BYTES values, not one value each", async (t) => {
  const { env, image, meta } = await imageDbs(t);
  const images = new SnapshotImages(image, meta, 0);
  const slice = 64 << 10;
  const data = Buffer.alloc(IMAGE_CHUNK_BYTES * 2 + slice * 3 + 17);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) % 251;
  const small = function* (): Generator<Buffer> {
    for (let at = 0; at < data.length; at += slice) yield data.subarray(at, at + slice);
  };
  const commit = async (fn: () => void): Promise<void> => void (await env.transaction(fn));
  t.true(await images.putStreamed(small(), 10, commit, () => {}));
  t.is(images.ref()!.chunks, 3);
  t.true(Buffer.concat([...images.chunks()]).equals(data));
});
