/**
 * A snapshot import writes the image in bounded transactions (lmdb-store.ts importSnapshot): the
 * result is the image exactly, however it is cut; and an import that fails or is killed part way
 * leaves a state whose applied index is 0 (its meta keys come last), so the node imports its
 * stored image again at its next start instead of serving half a state.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LmdbStore } from '../../node/state-machine/lmdb-store.ts';
import { setAppliedIndex, setMeta } from '../../node/state-machine/meta.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const CHILD = fileURLToPath(new URL('./import-and-die.ts', import.meta.url));

const SEQUENCES = 5000;

/** A donor state: meta keys (applied index 77), SEQUENCES sequence-space keys, a few tokens. */
async function donor(t: ExecutionContext): Promise<{ store: LmdbStore; image: Buffer }> {
  const store = LmdbStore.open({ path: await tempDir(t), sync: false });
  t.teardown(() => store.close());
  store.writeNow((kv) => {
    setAppliedIndex(kv, 77);
    setMeta(kv, 'sequences', BigInt(SEQUENCES));
    for (let i = 0; i < SEQUENCES; i++) kv.put(Buffer.concat([Buffer.of(1), Buffer.from(`bucket/seq-${i}`)]), Buffer.alloc(8, i % 251));
    for (let i = 0; i < 100; i++) kv.put(Buffer.concat([Buffer.of(2), Buffer.from(`token-${i}`)]), Buffer.alloc(30, 7));
  });
  return { store, image: Buffer.concat([...store.exportSnapshot(64 << 10)]) };
}

/** A target whose old state must vanish: applied index 5 and keys the image does not have. */
async function target(t: ExecutionContext, path?: string): Promise<LmdbStore> {
  const store = LmdbStore.open({ path: path ?? (await tempDir(t)), sync: false });
  t.teardown(() => store.close());
  store.writeNow((kv) => {
    setAppliedIndex(kv, 5);
    for (let i = 0; i < 3000; i++) kv.put(Buffer.concat([Buffer.of(1), Buffer.from(`old-${i}`)]), Buffer.of(1));
  });
  return store;
}

const image = (store: LmdbStore): Buffer => Buffer.concat([...store.exportSnapshot()]);

for (const txnBytes of [100, 1000, 64 << 10, 4 << 20]) {
  test(`an import in transactions of ${txnBytes} bytes leaves exactly the image`, async (t) => {
    const d = await donor(t);
    const store = await target(t);
    await store.importSnapshot([d.image.subarray(0, 3), d.image.subarray(3, 50_000), d.image.subarray(50_000)], txnBytes);
    t.deepEqual(image(store), d.image);
    t.is(store.appliedIndex(), 77);
  });
}

test('an import that fails after its first transaction leaves applied index 0 and no meta; the next import is whole', async (t) => {
  const d = await donor(t);
  const store = await target(t);
  const failing = (function* () {
    yield d.image.subarray(0, 60_000);
    throw new Error('chunk missing');
  })();
  await t.throwsAsync(store.importSnapshot(failing, 10_000), { message: 'chunk missing' });
  t.is(store.appliedIndex(), 0, 'a half-imported state must not claim the image index');
  t.deepEqual(store.summary(), { sequences: 0, tokens: 0, appliedIndex: 0, clockMs: 0 });
  t.true(store.usedBytes() > 0, 'some transactions did commit (else this case tests nothing)');
  // A damaged image (cut inside its last record) fails the same way.
  await t.throwsAsync(store.importSnapshot([d.image.subarray(0, d.image.length - 3)], 10_000));
  t.is(store.appliedIndex(), 0);
  await store.importSnapshot([d.image], 10_000);
  t.deepEqual(image(store), d.image);
});

test('an import that fails inside its first transaction keeps the old state', async (t) => {
  const d = await donor(t);
  const store = await target(t);
  const before = image(store);
  await t.throwsAsync(store.importSnapshot([d.image.subarray(0, 5000), Buffer.from('garbage')]));
  t.deepEqual(image(store), before);
});

test('a process killed (SIGKILL) in the middle of an import leaves applied index 0; importing again gives the image', async (t) => {
  const d = await donor(t);
  const dir = await tempDir(t);
  const imagePath = join(dir, 'image');
  writeFileSync(imagePath, d.image);
  const path = join(dir, 'state');
  await (await target(t, path)).close();
  // 4 KiB chunks, 20,000-byte transactions: the kill comes after 20 of ~40 chunks, 3 commits in.
  const child = spawn(process.execPath, [TS_LOADER_ARG, CHILD, path, imagePath, '20000', '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  t.is(signal, 'SIGKILL', out);
  t.regex(out, /^dying with [1-9]\d* bytes/);
  const store = LmdbStore.open({ path, sync: false });
  t.teardown(() => store.close());
  t.is(store.appliedIndex(), 0, 'the half-imported state must not claim the image index');
  t.is(store.read((kv) => kv.get(Buffer.concat([Buffer.of(1), Buffer.from('old-0')]))), undefined, 'the old state was dropped');
  await store.importSnapshot([d.image]);
  t.deepEqual(image(store), d.image);
});
