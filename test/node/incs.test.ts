/**
 * INCS (node/state-machine/multi-inc.ts): one number of each of k sequences of one bucket, and the
 * retry of one part (`INC bucket seq ID <token> PART i/k`). The grammar, the log encoding, and a
 * real node (real socket, real LMDB) taking every part exactly once whatever order the parts and
 * the block arrive in; slot moves keep a block's parts.
 */
import test from 'ava';
import { ErrorCode } from '../../shared/errors.ts';
import { LmdbStore, MemoryKv, StateMachine, decodeCommand, encodeCommand, parseCommand, type Command } from '../../node/state-machine/index.ts';
import { decodeEntryCommands, encodeBatch } from '../../node/state-machine/batch-codec.ts';
import { INCS_SEQUENCES_MAX, multiToken, multiTokenCount } from '../../shared/protocol/part-token.ts';
import { exportSlotData, installSlotData } from '../../node/ownership/slot-data.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { slotOf } from '../../shared/placement/slot.ts';
import { RespClient, intOf } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { thrownCode } from '../helpers/error-code.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
const cmd = (...args: string[]): Command => parseCommand(args.map(b));
const codeOf = thrownCode;
/** A fresh multi-sequence token of k parts (timed now, so within the retention window). */
let serial = 0;
const tokenOf = (k: number, ms = Date.now()): string => multiToken(`${ms}-${String(serial++).padStart(16, 'x')}`, k);
const ints = (reply: string): bigint[] => [...reply.matchAll(/:(\d+)\r\n/g)].map((m) => BigInt(m[1]!));

test('multi-sequence tokens: <ms>-<16 chars>+<k>, 2 <= k <= INCS_SEQUENCES_MAX; anything else is an ordinary token', (t) => {
  t.is(multiTokenCount(b(tokenOf(2))), 2);
  t.is(multiTokenCount(b(tokenOf(INCS_SEQUENCES_MAX))), INCS_SEQUENCES_MAX);
  for (const token of [tokenOf(1), tokenOf(INCS_SEQUENCES_MAX + 1), '1700000000000-abcdefghijklmnop+02', '1700000000000-abcdefghijklmno+2', 'x-abcdefghijklmnop+2', '1700000000000-abcdefghijklmnop~2']) {
    t.is(multiTokenCount(b(token)), undefined, token);
  }
});

test('parse: INCS bucket <token of k> k sequences; a part retry is INC ... ID <token> PART i/k', (t) => {
  const token = tokenOf(3);
  t.deepEqual(cmd('INCS', 'bk', token, 'x', 'y', 'x'), { type: 'incs', bucket: b('bk'), sequences: [b('x'), b('y'), b('x')], token: b(token) });
  t.deepEqual(cmd('INC', 'bk', 'y', 'ID', token, 'PART', '1/3'), { type: 'incs', bucket: b('bk'), sequences: [b('y')], token: b(token), part: 1 });
  t.is(codeOf(() => cmd('INCS', 'bk', token)), ErrorCode.WRONG_ARITY);
  t.is(codeOf(() => cmd('INCS', 'bk', token, 'x', 'y')), ErrorCode.SYNTAX, 'k must be the number of sequences');
  t.is(codeOf(() => cmd('INCS', 'bk', 'plain-token', 'x', 'y')), ErrorCode.SYNTAX, 'an ordinary token cannot name parts');
  t.is(codeOf(() => cmd('INCS', 'bk', token, 'x', '', 'z')), ErrorCode.NAME_TOO_LONG);
  t.is(codeOf(() => cmd('INC', 'bk', 'x', 'ID', token)), ErrorCode.SYNTAX, 'alone, k callers would share one number');
  t.is(codeOf(() => cmd('INC', 'bk', 'x', 'ID', token, 'COUNT', '3')), ErrorCode.SYNTAX);
  t.is(codeOf(() => cmd('INC', 'bk', 'x', 'ID', token, 'PART', '1/4')), ErrorCode.SYNTAX);
  t.is(codeOf(() => cmd('INC', 'bk', 'x', 'ID', token, 'PART', '1/3', 'COUNT', '2')), ErrorCode.SYNTAX);
});

test('codec: INCS and its part retry round-trip, alone and in a batch; damaged bytes are INTERNAL', (t) => {
  const token = tokenOf(3);
  const T = 1_700_000_000_123;
  for (const command of [cmd('INCS', 'b'.repeat(256), token, 'x', 's'.repeat(256), 'x'), cmd('INC', 'bk', 'y', 'ID', token, 'PART', '2/3')]) {
    const bytes = encodeCommand(command, T);
    t.deepEqual(decodeCommand(bytes), { command, timeMs: T });
    t.deepEqual(decodeEntryCommands(encodeBatch([encodeCommand(cmd('INC', 'b', 's'), T), bytes])).map((d) => d.command), [cmd('INC', 'b', 's'), command]);
    t.is(codeOf(() => decodeCommand(bytes.subarray(0, bytes.length - 1))), ErrorCode.INTERNAL);
    t.is(codeOf(() => decodeCommand(Buffer.concat([bytes, Buffer.of(0)]))), ErrorCode.INTERNAL);
  }
  const wrongCount = encodeCommand({ type: 'incs', bucket: b('bk'), sequences: [b('x'), b('y')], token: b(token) }, T);
  t.is(codeOf(() => decodeCommand(wrongCount)), ErrorCode.INTERNAL, 'k parts for a token of another k');
});

test('a real node: INCS takes one number of each sequence in order; the same INCS again takes nothing', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  t.is(intOf(await c.call('INC', 'b', 'x')), 1n);
  const token = tokenOf(4);
  const first = await c.call('INCS', 'b', token, 'x', 'y', 'x', 'z');
  t.deepEqual(ints(first), [2n, 1n, 3n, 1n]);
  t.is(await c.call('INCS', 'b', token, 'x', 'y', 'x', 'z'), first, 'a retry of the block answers the same');
  t.is(intOf(await c.call('INC', 'b', 'x', 'ID', token, 'PART', '2/4')), 3n, 'a part answers its number');
  t.deepEqual([await c.call('GET', 'b', 'x'), await c.call('GET', 'b', 'y'), await c.call('GET', 'other', 'x')], [':3\r\n', ':1\r\n', '$-1\r\n']);
});

test('sequences whose 32-bit hashes collide are still two sequences inside one INCS', (t) => {
  // s31597 and s618190 share their FNV-1a hash: multi-inc.ts groups parts by it, then compares names.
  const kv = new MemoryKv();
  const machine = new StateMachine();
  const token = tokenOf(4);
  t.deepEqual(machine.apply(kv, cmd('INCS', 'b', token, 's31597', 's618190', 's31597', 's618190'), Date.now()), { type: 'array', value: [1n, 1n, 2n, 2n] });
  t.deepEqual(machine.apply(kv, cmd('GET', 'b', 's31597'), Date.now()), { type: 'int', value: 2n });
  t.deepEqual(machine.apply(kv, cmd('GET', 'b', 's618190'), Date.now()), { type: 'int', value: 2n });
  t.deepEqual(machine.apply(kv, cmd('INC', 'b', 's618190', 'ID', token, 'PART', '3/4'), Date.now()), { type: 'int', value: 2n });
});

test('a real node: a part retried before its block takes its number alone; the block then skips it', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  const token = tokenOf(3);
  t.is(intOf(await c.call('INC', 'b', 'y', 'ID', token, 'PART', '1/3')), 1n);
  t.is(intOf(await c.call('INC', 'b', 'y', 'ID', token, 'PART', '1/3')), 1n, 'once');
  t.is(intOf(await c.call('INC', 'b', 'y')), 2n);
  t.deepEqual(ints(await c.call('INCS', 'b', token, 'x', 'y', 'z')), [1n, 1n, 1n], 'part 1 keeps its number; x and z are taken now');
  t.is(intOf(await c.call('INC', 'b', 'z', 'ID', token, 'PART', '2/3')), 1n);
  t.deepEqual([await c.call('GET', 'b', 'x'), await c.call('GET', 'b', 'y'), await c.call('GET', 'b', 'z')], [':1\r\n', ':2\r\n', ':1\r\n'], 'no number taken twice, none skipped');
});

test('a real node: a part named with another sequence than its number was taken for is TOKEN_MISMATCH', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  const token = tokenOf(2);
  t.deepEqual(ints(await c.call('INCS', 'b', token, 'x', 'y')), [1n, 1n]);
  t.regex(await c.call('INC', 'b', 'q', 'ID', token, 'PART', '0/2'), /^-ERR ID token's part 0 was taken for another sequence/);
  t.regex(await c.call('INCS', 'b', token, 'x', 'q'), /^-ERR ID token's part 1/);
  const early = tokenOf(2);
  t.is(intOf(await c.call('INC', 'b', 'x', 'ID', early, 'PART', '0/2')), 2n);
  t.regex(await c.call('INCS', 'b', early, 'y', 'x'), /^-ERR ID token's part 0/, 'the block must name the sequence its retried part took');
  t.deepEqual([await c.call('GET', 'b', 'x'), await c.call('GET', 'b', 'y')], [':2\r\n', ':1\r\n']);
});

test('a real node: an INCS that would overflow any sequence takes nothing; expired tokens are refused', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  t.is(await c.call('SET', 'b', 'x', '9223372036854775806'), '+OK\r\n');
  t.regex(await c.call('INCS', 'b', tokenOf(3), 'y', 'x', 'x'), /^-ERR increment would overflow/);
  t.deepEqual([await c.call('GET', 'b', 'x'), await c.call('GET', 'b', 'y')], [':9223372036854775806\r\n', '$-1\r\n']);
  t.deepEqual(ints(await c.call('INCS', 'b', tokenOf(2), 'y', 'x')), [1n, 9223372036854775807n]);
  t.regex(await c.call('INCS', 'b', tokenOf(2, 1), 'y', 'x'), /^-ERR ID token expired/);
  t.regex(await c.call('INC', 'b', 'y', 'ID', tokenOf(2, 1), 'PART', '0/2'), /^-ERR ID token expired/);
  t.is(await c.call('GET', 'b', 'y'), ':1\r\n');
});

test('LMDB: an INCS token record survives reopening and a slot move with every part', async (t) => {
  const path = await tempDir(t);
  const machine = new StateMachine();
  const token = tokenOf(3);
  let store = LmdbStore.open({ path });
  await store.write((txn) => machine.apply(txn, cmd('INC', 'bk', 'y', 'ID', token, 'PART', '1/3'), Date.now()));
  await store.close();
  store = LmdbStore.open({ path });
  t.teardown(() => store.close());
  const block = await store.write((txn) => machine.apply(txn, cmd('INCS', 'bk', token, 'x', 'y', 'x'), Date.now()));
  t.deepEqual(block, { type: 'array', value: [1n, 1n, 2n] });
  const data = store.read((kv) => exportSlotData(kv, SlotSet.of([slotOf(b('bk'))])))!;
  const target = new MemoryKv();
  installSlotData(target, SlotSet.of([slotOf(b('bk'))]), data);
  t.deepEqual(machine.apply(target, cmd('INC', 'bk', 'x', 'ID', token, 'PART', '2/3'), Date.now()), { type: 'int', value: 2n });
  t.deepEqual(machine.apply(target, cmd('INCS', 'bk', token, 'x', 'y', 'x'), Date.now()), { type: 'array', value: [1n, 1n, 2n] });
});
