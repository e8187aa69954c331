import test from 'ava';
import fc from 'fast-check';
import { RequestDecoder } from '../../shared/protocol/request-decoder.ts';
import { feed, resp } from './helpers.ts';

// Seeded: set FC_SEED to replay a failure; the seed is logged with every failing test.
const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const numRuns = Number(process.env.FC_RUNS ?? 1000);

const LIMITS = { argsMax: 16, requestBytesMax: 4096, inlineBytesMax: 4096, bulkBytesMax: 4096 };
/** What the decoder may hold: the larger limit, one spare byte for an inline line's CR. */
const HELD_BYTES_MAX = Math.max(LIMITS.requestBytesMax, LIMITS.inlineBytesMax) + 1;

const argArb = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
const requestArb = fc.array(argArb, { minLength: 1, maxLength: LIMITS.argsMax });
const chunkSizesArb = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 });

test('any valid args list encoded as RESP round-trips, whole or in random chunks', (t) => {
  t.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  fc.assert(
    fc.property(fc.array(requestArb, { minLength: 1, maxLength: 5 }), chunkSizesArb, (requests, sizes) => {
      const input = Buffer.concat(requests.map((args) => resp(...args)));
      const expected = requests.map((args) => ({ request: args.map((a) => a.toString('latin1')) }));
      for (const chunking of [[input.length], sizes]) {
        const f = feed(input, chunking, LIMITS);
        if (JSON.stringify(f.events) !== JSON.stringify(expected)) return false;
        if (f.decoder.bufferedBytes() !== 0) return false;
      }
      return true;
    }),
    { seed, numRuns },
  );
  t.pass();
});

/** Quotes every byte as \xHH, so any bytes survive an inline line (sdssplitargs rules). */
function inline(args: Buffer[]): Buffer {
  const quoted = args.map((a) => `"${[...a].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`);
  return Buffer.from(`${quoted.join(' ')}\r\n`);
}

test('random requests pipelined as a mix of RESP and quoted inline lines round-trip', (t) => {
  t.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  const smallRequestArb = fc.array(fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)), {
    minLength: 1,
    maxLength: LIMITS.argsMax,
  });
  const itemArb = fc.tuple(smallRequestArb, fc.boolean());
  fc.assert(
    fc.property(fc.array(itemArb, { minLength: 1, maxLength: 5 }), chunkSizesArb, (items, sizes) => {
      const input = Buffer.concat(items.map(([args, asInline]) => (asInline ? inline(args) : resp(...args))));
      const expected = items.map(([args]) => ({ request: args.map((a) => a.toString('latin1')) }));
      for (const chunking of [[input.length], sizes]) {
        const f = feed(input, chunking, LIMITS);
        if (JSON.stringify(f.events) !== JSON.stringify(expected)) return false;
      }
      return true;
    }),
    { seed, numRuns },
  );
  t.pass();
});

/** Runs a stream through the decoder and checks what must hold whatever the bytes. */
function survives(input: Buffer, sizes: number[]): boolean {
  let fatalCount = 0;
  let afterFatal = 0;
  const decoder = new RequestDecoder(
    {
      onRequest: (args) => {
        if (fatalCount > 0) afterFatal++;
        if (args.length === 0 || args.length > LIMITS.argsMax) throw new Error(`bad args count ${args.length}`);
      },
      onError: (err, fatal) => {
        if (fatalCount > 0) afterFatal++;
        if (fatal) fatalCount++;
        if (fatal !== (err.code === 'PROTOCOL')) throw new Error(`fatal ${fatal} with code ${err.code}`);
      },
    },
    LIMITS,
  );
  let pos = 0;
  for (let i = 0; pos < input.length; i++) {
    const size = sizes[i % sizes.length]!;
    decoder.write(input.subarray(pos, pos + size)); // throws fail the property
    pos += size;
    if (decoder.bufferedBytes() > HELD_BYTES_MAX) return false;
  }
  return fatalCount <= 1 && afterFatal === 0;
}

test('arbitrary byte streams never throw and keep bufferedBytes within the bound', (t) => {
  t.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 3000, size: 'large' }),
    // Mostly protocol-looking bytes, so the parser gets past the first header more often.
    fc.array(fc.constantFrom(...Buffer.from('*$\r\n0123456789-+ "\'\\xab')), { maxLength: 3000, size: 'large' }).map((a) => Uint8Array.from(a)),
  );
  fc.assert(
    fc.property(bytesArb, chunkSizesArb, (bytes, sizes) => survives(Buffer.from(bytes), sizes)),
    { seed, numRuns },
  );
  t.pass();
});

test('mutated valid streams never throw and keep bufferedBytes within the bound', (t) => {
  t.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  const mutationArb = fc.record({
    at: fc.nat(),
    kind: fc.constantFrom('flip', 'insert', 'delete', 'duplicate'),
    byte: fc.integer({ min: 0, max: 255 }),
  });
  const streamArb = fc.tuple(
    fc.array(requestArb, { minLength: 1, maxLength: 4 }),
    fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
  );
  fc.assert(
    fc.property(streamArb, chunkSizesArb, ([requests, mutations], sizes) => {
      let bytes: Buffer = Buffer.concat(requests.map((args) => resp(...args)));
      for (const m of mutations) bytes = mutate(bytes, m);
      return survives(bytes, sizes);
    }),
    { seed, numRuns },
  );
  t.pass();
});

test('long hostile streams are dropped with bounded memory', (t) => {
  const hostile = [
    Buffer.alloc(200_000, 'a'), // endless inline line
    Buffer.from(`*1\r\n$${'9'.repeat(100_000)}`), // endless digits
    Buffer.concat([Buffer.from('*16\r\n'), ...Array.from({ length: 5000 }, () => Buffer.from('$1\r\nx\r\n'))]),
    Buffer.concat(Array.from({ length: 20_000 }, () => Buffer.from('*2\r\n$3\r\nGET\r\n$2\r\nab\r\n'))),
  ];
  for (const input of hostile) {
    for (const sizes of [[1], [7, 1500], [65536]]) {
      t.true(survives(input, sizes));
    }
  }
});

function mutate(bytes: Buffer, m: { at: number; kind: string; byte: number }): Buffer {
  if (bytes.length === 0) return Buffer.from([m.byte]);
  const at = m.at % bytes.length;
  const b = Buffer.from([m.byte]);
  switch (m.kind) {
    case 'flip':
      return Buffer.concat([bytes.subarray(0, at), b, bytes.subarray(at + 1)]);
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), b, bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    default:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + 16), bytes.subarray(at)]);
  }
}
