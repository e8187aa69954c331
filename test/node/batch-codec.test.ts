import test from 'ava';
import { BATCH_BYTES_MAX, BATCH_PARTS_MAX, decodeEntryCommands, encodeBatch } from '../../node/state-machine/batch-codec.ts';
import { encodeCommand, parseCommand, type Command } from '../../node/state-machine/index.ts';

const cmd = (...args: (string | Buffer)[]): Command => parseCommand(args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a)));
const T = 1_700_000_000_123;

test('a batch entry decodes to its INC and SET parts in order, each with its time', (t) => {
  const parts = [
    cmd('INC', 'b', 's'),
    cmd('SET', Buffer.from([0, 255]), 's', '7'),
    cmd('INC', 'b', 's', 'COUNT', '5', 'ID', '1700000000000-abc'),
  ];
  const bytes = encodeBatch(parts.map((c, i) => encodeCommand(c, T + i)));
  t.deepEqual(decodeEntryCommands(bytes), parts.map((command, i) => ({ command, timeMs: T + i })));
  // A plain entry is one command.
  t.deepEqual(decodeEntryCommands(encodeCommand(parts[0]!, T)), [{ command: parts[0]!, timeMs: T }]);
});

test('a corrupt batch entry is refused with INTERNAL, at every truncation and with extra bytes', (t) => {
  const bytes = encodeBatch([cmd('INC', 'b', 's'), cmd('INC', 'b', 't', 'ID', 'x')].map((c) => encodeCommand(c, T)));
  for (let cut = 1; cut < bytes.length; cut++) {
    t.is((t.throws(() => decodeEntryCommands(bytes.subarray(0, cut))) as { code?: string } | undefined)?.code, 'INTERNAL', `cut at ${cut}`);
  }
  t.is((t.throws(() => decodeEntryCommands(Buffer.concat([bytes, Buffer.of(0)]))) as { code?: string } | undefined)?.code, 'INTERNAL');
});

test('a batch holds only INC and SET, never another batch, and is bounded', (t) => {
  const get = encodeCommand(cmd('GET', 'b', 's'), T);
  t.is((t.throws(() => decodeEntryCommands(encodeBatch([get]))) as { code?: string } | undefined)?.code, 'INTERNAL');
  const inner = encodeBatch([encodeCommand(cmd('INC', 'b', 's'), T)]);
  t.is((t.throws(() => decodeEntryCommands(encodeBatch([inner]))) as { code?: string } | undefined)?.code, 'INTERNAL');
  const inc = encodeCommand(cmd('INC', 'b', 's'), T);
  t.throws(() => encodeBatch([]), { instanceOf: RangeError });
  t.throws(() => encodeBatch(Array.from({ length: BATCH_PARTS_MAX + 1 }, () => inc)), { instanceOf: RangeError });
  const big = encodeCommand(cmd('INC', 'b'.repeat(256), 's'.repeat(256), 'ID', 'i'.repeat(64)), T);
  t.throws(() => encodeBatch(Array.from({ length: Math.ceil(BATCH_BYTES_MAX / big.length) + 1 }, () => big)), { instanceOf: RangeError });
});
