/**
 * The snapshot image codec (node/state-machine/snapshot.ts): whatever chunks an image arrives in
 * (single bytes, cuts inside a record's header, key or value, records larger than a chunk, empty
 * keys and values), decoding gives exactly the entries encoded; an image cut inside its magic or
 * a record, or with a wrong magic, is an error. (The format has no trailer: a cut between two
 * records reads as a shorter image; the frames and storage that carry an image know its length.)
 */
import test from 'ava';
import fc from 'fast-check';
import { decodeSnapshot, encodeSnapshot, snapshotEntryViews } from '../../node/state-machine/snapshot.ts';
import type { KvEntry } from '../../node/state-machine/kv.ts';

const SEED = Number(process.env.SNAPSHOT_CODEC_SEED ?? 20261129);

const entryArb = fc.record({
  key: fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a)),
  value: fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 20 }),
    fc.uint8Array({ minLength: 200, maxLength: 3000 }), // spans several small chunks
  ).map((a) => Buffer.from(a)),
});

/** Cuts `image` at the given fractions of its length (sorted, deduplicated). */
function cut(image: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * image.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, image.length]) {
    out.push(image.subarray(from, p));
    from = p;
  }
  return out;
}

const show = (es: Iterable<KvEntry>): string[] => [...es].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`);

test('decoding gives the encoded entries however the image is cut', (t) => {
  t.log(`seed ${SEED} (SNAPSHOT_CODEC_SEED=${SEED} to replay)`);
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 60 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }), fc.integer({ min: 1, max: 4096 }), (entries, at, chunkBytes) => {
      const image = Buffer.concat([...encodeSnapshot(entries, chunkBytes)]);
      const expected = show(entries);
      // Views are read before the next entry is asked for, as a copying caller does.
      const views = [...(function* () { for (const e of snapshotEntryViews(cut(image, at))) yield `${e.key.toString('hex')}=${e.value.toString('hex')}`; })()];
      if (views.join() !== expected.join()) throw new Error('views differ');
      if (show(decodeSnapshot(cut(image, at))).join() !== expected.join()) throw new Error('copies differ');
    }),
    { numRuns: 400, seed: SEED },
  );
  t.pass();
});

test('one byte per chunk decodes too', (t) => {
  const entries = [{ key: Buffer.alloc(0), value: Buffer.alloc(0) }, { key: Buffer.from('k'), value: Buffer.alloc(300, 7) }, { key: Buffer.alloc(70, 1), value: Buffer.from('v') }];
  const image = Buffer.concat([...encodeSnapshot(entries, 64)]);
  const bytes = Array.from({ length: image.length }, (_, i) => image.subarray(i, i + 1));
  t.deepEqual(show(decodeSnapshot(bytes)), show(entries));
});

test('an image cut anywhere short of its end, or with another magic, is an error', (t) => {
  const entries = [{ key: Buffer.from('a'), value: Buffer.from('1') }, { key: Buffer.from('bb'), value: Buffer.alloc(100, 2) }];
  const image = Buffer.concat([...encodeSnapshot(entries, 1 << 20)]);
  // Cuts between records: the magic alone, and after the first record.
  const boundaries = new Map([[8, 0], [8 + 6 + 1 + 1, 1]]);
  for (let n = 0; n < image.length; n++) {
    const whole = boundaries.get(n);
    if (whole !== undefined) {
      t.deepEqual(show(decodeSnapshot([image.subarray(0, n)])), show(entries.slice(0, whole)));
      continue;
    }
    t.throws(() => [...decodeSnapshot([image.subarray(0, Math.floor(n / 2)), image.subarray(Math.floor(n / 2), n)])], undefined, `cut at ${n}`);
  }
  const other = Buffer.from(image);
  other[0] = 0x58;
  t.throws(() => [...decodeSnapshot([other])], { message: 'not a SeqDB snapshot' });
});

test('encoding into one reused buffer gives the same chunks to a reader that copies each', (t) => {
  const entries = Array.from({ length: 500 }, (_, i) => ({ key: Buffer.from(`key-${i}`), value: Buffer.alloc(i % 97, i % 251) }));
  const fresh = [...encodeSnapshot(entries, 1024)];
  const copies: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for (const c of encodeSnapshot(entries, 1024, true)) {
    copies.push(Buffer.from(c));
    buffers.add(c.buffer);
  }
  t.true(fresh.length > 10);
  t.deepEqual(copies, fresh);
  t.is(buffers.size, 1, 'one buffer throughout');
});
