/**
 * Part tokens (node/state-machine/part-token.ts): the grammar, and a real node answering number i
 * of the block a part names, exactly once however often and in whatever order the parts and the
 * block itself arrive.
 */
import test from 'ava';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { parseCommand } from '../../node/state-machine/index.ts';
import { BLOCK_PARTS_MAX, parsePartToken, partToken, partValue } from '../../node/state-machine/part-token.ts';
import { RespClient, intOf } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SeqError ? err.code : 'not a SeqError';
  }
};

test('ordinary tokens are not parts', (t) => {
  for (const token of ['abc', '1700000000000-AbCdEf_-12345678', 'a*b/c', 'a*1/', 'a*/2', 'a/1*2', '*', 'x*1/2/', 'a*12345678/9']) {
    t.is(parsePartToken(b(token)), undefined, token);
  }
});

test('a part names its block token, its index and the block size', (t) => {
  t.deepEqual(parsePartToken(b('T-1*0/2')), { token: b('T-1'), index: 0, count: 2 });
  t.deepEqual(parsePartToken(b('a*b*7/1024')), { token: b('a*b'), index: 7, count: 1024 });
  const token = b('1700000000000-AbCdEf_-12345678');
  for (const [index, count] of [[0, 2], [1, 2], [999, 1000], [1023, 1024]] as const) {
    t.deepEqual(parsePartToken(partToken(token, index, count)), { token, index, count });
  }
});

test('a malformed part is refused, never taken as a fresh token', (t) => {
  for (const token of ['a*2/2', 'a*0/1', 'a*0/0', `a*0/${BLOCK_PARTS_MAX + 1}`, 'a*01/3', 'a*1/03', '*0/2']) {
    t.is(codeOf(() => parsePartToken(b(token))), ErrorCode.SYNTAX, token);
  }
});

test('partValue: part i of the block ending at last', (t) => {
  t.is(partValue(10n, 4, 0), 7n);
  t.is(partValue(10n, 4, 3), 10n);
});

test('INC with a part token parses as the block, with the part as a reply rule; COUNT is refused', (t) => {
  const command = parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b('tok*2/5')]);
  t.deepEqual(command, { type: 'inc', bucket: b('bk'), sequence: b('sq'), count: 5, token: b('tok'), part: 2 });
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('COUNT'), b('5'), b('ID'), b('tok*2/5')])), ErrorCode.SYNTAX);
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b('tok*5/5')])), ErrorCode.SYNTAX);
});

test('a real node: any part first takes the whole block once; every part and the block find it', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  t.is(intOf(await c.call('INC', 'b', 's')), 1n);
  const token = `${Date.now()}-abc`;
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', `${token}*2/3`)), 4n, 'block 2..4 taken, part 2 is 4');
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', `${token}*0/3`)), 2n);
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', `${token}*1/3`)), 3n);
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', `${token}*2/3`)), 4n);
  t.is(intOf(await c.call('INC', 'b', 's', 'COUNT', '3', 'ID', token)), 4n);
  t.is(intOf(await c.call('GET', 'b', 's')), 4n, 'three numbers taken, once');
  t.regex(await c.call('INC', 'b', 's', 'ID', `${token}*0/4`), /^-ERR ID token was used with a different COUNT/);
  t.regex(await c.call('INC', 'b', 's', 'ID', `${token}*3/3`), /^-ERR syntax error: a part token/);
  // The block first, then its parts.
  const other = `${Date.now()}-def`;
  t.is(intOf(await c.call('INC', 'b', 's', 'COUNT', '2', 'ID', other)), 6n);
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', `${other}*0/2`)), 5n);
  t.is(intOf(await c.call('INC', 'b', 's')), 7n);
});
