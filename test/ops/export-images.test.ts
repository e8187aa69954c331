/**
 * SEQDB.EXPORT keeps the image `seqdb backup` is fetching in an unlinked file of the node's data
 * dir, not in the heap (a 1M-sequence image is ~47 MB), and lets go of it when it is fully read,
 * evicted, idle, or the node stops. Checked through /proc/self/fd: which descriptors point at
 * deleted export files.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Exporter } from '../../node/backup/export.ts';
import { LmdbStore, StateMachine, decodeSnapshot } from '../../node/state-machine/index.ts';
import { withExportCommand } from '../../shared/observability/export-engine.ts';
import type { Engine } from '../../node/server/engine.ts';
import { SLICE_BYTES } from '../../node/state-machine/snapshot.ts';
import { ErrorCode } from '../../shared/errors.ts';

/** Descriptors of this process open on deleted export images in `dir`. */
function openImages(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (the directory listing's own descriptor)
    }
    if (target.startsWith(join(dir, 'export-image-')) && target.endsWith('(deleted)')) n++;
  }
  return n;
}

async function filledStore(t: import('ava').ExecutionContext, sequences: number): Promise<{ dir: string; store: LmdbStore }> {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-export-images-'));
  const store = LmdbStore.open({ path: join(dir, 'lmdb') });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const machine = new StateMachine();
  await store.write((txn) => {
    for (let i = 0; i < sequences; i++) machine.apply(txn, { type: 'inc', bucket: Buffer.from(`b${i}`), sequence: Buffer.from('s'), count: i + 1 }, 1000);
  });
  return { dir, store };
}

const EXPORT = Buffer.from('SEQDB.EXPORT');

async function start(exporter: Exporter): Promise<{ id: string; bytes: number; index: number }> {
  const head = await exporter.handle([EXPORT]);
  if (head.type !== 'bulk') throw new Error(JSON.stringify(head));
  return JSON.parse(head.value.toString()) as { id: string; bytes: number; index: number };
}

async function fetchAll(exporter: Exporter, id: string, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let off = 0; off < bytes;) {
    const c = await exporter.handle([EXPORT, Buffer.from(id), Buffer.from(String(off))]);
    if (c.type !== 'bulk') throw new Error(JSON.stringify(c));
    parts.push(Buffer.from(c.value));
    off += c.value.length;
  }
  return Buffer.concat(parts);
}

test('an export waits in an unlinked file of its dir and is closed once fully read', async (t) => {
  const { dir, store } = await filledStore(t, 3000);
  const images = join(dir, 'images');
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { chunkBytes: 4096, dir: images });
  const h = await start(exporter);
  t.true(h.bytes > 20_000);
  t.deepEqual(await readdir(images), [], 'nothing named is left in the directory');
  t.is(openImages(images), 1, 'the image is held in one open, deleted file');
  const image = await fetchAll(exporter, h.id, h.bytes);
  t.true(image.equals(Buffer.concat([...store.exportSnapshot()])), 'the bytes fetched are the state image');
  t.is(openImages(images), 0, 'fully read: the file is closed');
  t.is(exporter.heldCount, 0);
});

test('evicted, stopped: export files are closed; a crash leftover is swept', async (t) => {
  const { dir, store } = await filledStore(t, 200);
  const images = join(dir, 'images');
  await rm(images, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(images));
  await writeFile(join(images, 'export-image-999999-0'), 'left by a crash');
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { chunkBytes: 100, dir: images, imagesMax: 2 });
  const a = await start(exporter);
  t.deepEqual(await readdir(images), [], 'the leftover is gone');
  await start(exporter);
  await start(exporter);
  t.is(openImages(images), 2, 'imagesMax bounds the files held');
  const evicted = await exporter.handle([EXPORT, Buffer.from(a.id), Buffer.from('0')]);
  t.is(evicted.type === 'error' ? evicted.code : evicted.type, 'TRY_AGAIN');
  const engine = withExportCommand({ close: () => Promise.resolve() } as unknown as Engine, exporter);
  await engine.close();
  t.is(openImages(images), 0, 'the engine closing closes every image');
});

test('an export that cannot write its file is an error reply, and the exporter keeps working', async (t) => {
  const { dir, store } = await filledStore(t, 10);
  const notADir = join(dir, 'plain-file');
  await writeFile(notADir, 'x');
  const broken = new Exporter('z', () => ({ shard: 'z', store }), { dir: notADir });
  const r = await broken.handle([EXPORT]);
  t.is(r.type === 'error' ? r.code : r.type, 'STORAGE');
  t.is(broken.heldCount, 0);
  const good = new Exporter('z', () => ({ shard: 'z', store }), { dir: join(dir, 'ok') });
  const h = await start(good);
  t.true((await fetchAll(good, h.id, h.bytes)).equals(Buffer.concat([...store.exportSnapshot()])));
});

test('an export without room above the disk reserve is NOSPACE before anything is written', async (t) => {
  const { dir, store } = await filledStore(t, 500);
  const images = join(dir, 'images');
  const asked: number[] = [];
  let roomy = false;
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { dir: images, room: (bytes) => (asked.push(bytes), roomy) });
  const r = await exporter.handle([EXPORT]);
  t.is(r.type === 'error' ? r.code : r.type, 'NO_SPACE');
  t.is(exporter.heldCount, 0);
  t.is(openImages(images), 0, 'no file was opened');
  t.true(asked[0]! >= Buffer.concat([...store.exportSnapshot()]).length, 'asked with an upper bound of the image');
  roomy = true;
  const h = await start(exporter);
  t.true((await fetchAll(exporter, h.id, h.bytes)).equals(Buffer.concat([...store.exportSnapshot()])));
});

test('an export writes its image one chunk per turn of the event loop, as of its start: writes meanwhile are served and not in it', async (t) => {
  const { dir, store } = await filledStore(t, 20_000);
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { dir: join(dir, 'images') });
  const machine = new StateMachine();
  let turns = 0;
  let on = true;
  const writes: Promise<unknown>[] = [];
  const tick = (): void => {
    if (!on) return;
    turns++;
    // A write per turn while the image is made: it commits, and the image must not show it.
    writes.push(store.write((txn) => machine.apply(txn, { type: 'inc', bucket: Buffer.from(`late${turns}`), sequence: Buffer.from('s'), count: 1 }, 1000)));
    setImmediate(tick);
  };
  setImmediate(tick);
  t.teardown(() => void (on = false));
  const head = await start(exporter);
  on = false;
  await Promise.all(writes);
  const chunks = Math.ceil(head.bytes / SLICE_BYTES);
  t.true(chunks >= 8, `${head.bytes} bytes`);
  t.true(turns >= chunks - 1, `${turns} turns of the loop while ${chunks} chunks were written`);
  const keys = [...decodeSnapshot([await fetchAll(exporter, head.id, head.bytes)])].map((e) => e.key.toString('latin1'));
  t.true(keys.some((k) => k.includes('b19999')));
  t.false(keys.some((k) => k.includes('late')), 'no write made after the export started');
  exporter.close();
});

test('an export under way when the node stops ends with SHUTTING_DOWN and lets go of its file', async (t) => {
  const { dir, store } = await filledStore(t, 20_000);
  const images = join(dir, 'images');
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { dir: images });
  const engine = withExportCommand({ close: () => Promise.resolve() } as unknown as Engine, exporter);
  const started = exporter.handle([EXPORT]);
  await new Promise((r) => setImmediate(r));
  t.is(openImages(images), 1, 'the image is being written');
  await engine.close();
  await store.close();
  const reply = await started;
  t.is(reply.type, 'error');
  t.is(reply.type === 'error' ? reply.code : null, ErrorCode.SHUTTING_DOWN);
  t.is(openImages(images), 0);
});

test('an export being written counts toward the images kept: beyond them a start is BUSY, and one can start again once it is written', async (t) => {
  const { dir, store } = await filledStore(t, 20_000);
  const exporter = new Exporter('z', () => ({ shard: 'z', store }), { dir: join(dir, 'images'), imagesMax: 1 });
  t.teardown(() => exporter.close());
  const first = exporter.handle([EXPORT]);
  const second = await exporter.handle([EXPORT]);
  t.is(second.type === 'error' ? second.code : second.type, ErrorCode.BUSY);
  t.is((await first).type, 'bulk');
  t.is((await exporter.handle([EXPORT])).type, 'bulk', 'the written one is evicted for a new one');
});
