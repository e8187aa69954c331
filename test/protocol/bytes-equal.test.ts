import test from 'ava';
import fc from 'fast-check';
import { bytesEqual } from '../../shared/bytes-equal.ts';

// Seeded: set FC_SEED to replay a failure; the seed is logged with every run.
const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

test('bytesEqual agrees with Buffer#equals, short and long, on views at any offset', (t) => {
  t.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  // size 'max': fast-check's default size would keep arrays at 10 bytes, never past the loop's 64.
  const bytes = fc.uint8Array({ maxLength: 150, size: 'max' });
  fc.assert(
    fc.property(bytes, fc.nat(150), fc.nat(3), (a, flipAt, mode) => {
      // mode 0: a copy; 1: one byte changed; 2: one byte shorter; 3: a view into a larger buffer
      let b: Uint8Array = Buffer.from(a);
      if (mode === 1 && a.length > 0) b[flipAt % a.length] ^= 1 << (flipAt % 8);
      if (mode === 2 && a.length > 0) b = b.subarray(0, a.length - 1);
      if (mode === 3) b = Buffer.concat([Buffer.from([7, 7]), Buffer.from(a), Buffer.from([9])]).subarray(2, 2 + a.length);
      // Views on both sides, at offsets: the long path must honour byteOffset too.
      const a2 = Buffer.concat([Buffer.from([5]), Buffer.from(a)]).subarray(1);
      return bytesEqual(a2, b) === Buffer.from(a).equals(b) && bytesEqual(b, a2) === bytesEqual(a2, b);
    }),
    { seed, numRuns: 2000 },
  );
  t.true(bytesEqual(Buffer.alloc(0), Buffer.alloc(0)));
  t.false(bytesEqual(Buffer.from('b'), Buffer.from('c')));
  t.false(bytesEqual(Buffer.alloc(100, 1), Buffer.concat([Buffer.alloc(99, 1), Buffer.from([2])])));
  t.true(bytesEqual(Buffer.alloc(100, 1), Buffer.alloc(100, 1)));
});
