/**
 * Parts of a block (`PART i/k`, shared/protocol/part-token.ts): the grammar, and a real node answering number i
 * of the block a part names, exactly once however often and in whatever order the parts and the
 * block itself arrive.
 */
import test from 'ava';
import { ErrorCode } from '../../shared/errors.ts';
import { parseCommand } from '../../node/state-machine/index.ts';
import { BLOCK_PARTS_MAX, blockTokenCount, parsePart, partRetry, partValue } from '../../shared/protocol/part-token.ts';
import { RespClient, intOf } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { thrownCode } from '../helpers/error-code.ts';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
const codeOf = thrownCode;

test('PART is <i>/<k> with 0 <= i < k <= 1024, canonical decimals; anything else is refused', (t) => {
  t.deepEqual(parsePart(b('0/2')), { index: 0, count: 2 });
  t.deepEqual(parsePart(b('1023/1024')), { index: 1023, count: 1024 });
  for (const part of ['2/2', '0/1', '0/0', `0/${BLOCK_PARTS_MAX + 1}`, '01/3', '1/03', '-1/3', '1/3/4', '1', '/3', '1/', 'a/b', ' 1/3']) {
    t.is(codeOf(() => parsePart(b(part))), ErrorCode.SYNTAX, part);
  }
  t.is(partRetry(b('1700000000000-abc'), 3, 7), 'ID 1700000000000-abc PART 3/7');
});

test('tokens are opaque: no token is ever read as a part, whatever it ends with', (t) => {
  for (const token of ['job*1/3', 'q*5/1000', 'x*0/1', 'a*01/2', 'foo*1/2*0/2']) {
    t.deepEqual(parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b(token)]), { type: 'inc', bucket: b('bk'), sequence: b('sq'), count: 1, token: b(token) });
  }
});

test('partValue: part i of the block ending at last', (t) => {
  t.is(partValue(10n, 4, 0), 7n);
  t.is(partValue(10n, 4, 3), 10n);
});

test('INC ... ID t PART i/k parses as the block COUNT k ID t with the part as a reply rule', (t) => {
  const expected = { type: 'inc', bucket: b('bk'), sequence: b('sq'), count: 5, token: b('tok'), part: 2 };
  t.deepEqual(parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b('tok'), b('PART'), b('2/5')]), expected);
  t.deepEqual(parseCommand([b('INC'), b('bk'), b('sq'), b('part'), b('2/5'), b('COUNT'), b('1'), b('id'), b('tok')]), expected, 'COUNT 1: the part is one number');
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('COUNT'), b('5'), b('ID'), b('tok'), b('PART'), b('2/5')])), ErrorCode.SYNTAX);
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('PART'), b('2/5')])), ErrorCode.SYNTAX, 'PART needs an ID');
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b('tok'), b('PART'), b('5/5')])), ErrorCode.SYNTAX);
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b('tok'), b('PART'), b('1/2'), b('PART'), b('1/2')])), ErrorCode.SYNTAX);
});

test('a real node: any part first takes the whole block once; every part and the block find it', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  t.is(intOf(await c.call('INC', 'b', 's')), 1n);
  const token = `${Date.now()}-abc`;
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', token, 'PART', '2/3')), 4n, 'block 2..4 taken, part 2 is 4');
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', token, 'PART', '0/3')), 2n);
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', token, 'PART', '1/3')), 3n);
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', token, 'PART', '2/3')), 4n);
  t.is(intOf(await c.call('INC', 'b', 's', 'COUNT', '3', 'ID', token)), 4n);
  t.is(intOf(await c.call('GET', 'b', 's')), 4n, 'three numbers taken, once');
  t.regex(await c.call('INC', 'b', 's', 'ID', token, 'PART', '0/4'), /^-ERR ID token was used with a different COUNT/);
  t.regex(await c.call('INC', 'b', 's', 'ID', token, 'PART', '3/3'), /^-ERR syntax error: PART is/);
  // The block first, then its parts.
  const other = `${Date.now()}-def`;
  t.is(intOf(await c.call('INC', 'b', 's', 'COUNT', '2', 'ID', other)), 6n);
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', other, 'PART', '0/2')), 5n);
  t.is(intOf(await c.call('INC', 'b', 's')), 7n);
});

test('a block token (<ms>-<16 chars>~k) is accepted only with COUNT k or PART i/k: k callers can never share one number', async (t) => {
  const block = '1700000000000-AbCdEfGhIjKlMnOp~3';
  t.is(blockTokenCount(b(block)), 3);
  for (const other of ['1700000000000-AbCdEfGhIjKlMnOp', 'job~3', '1700000000000-AbCdEfGhIjKlMnOp~03', '1700000000000-short~3']) t.is(blockTokenCount(b(other)), undefined, other);
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b(block)])), ErrorCode.SYNTAX, 'alone: refused');
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b(block), b('COUNT'), b('2')])), ErrorCode.SYNTAX);
  t.is(codeOf(() => parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b(block), b('PART'), b('0/2')])), ErrorCode.SYNTAX);
  t.is((parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b(block), b('COUNT'), b('3')]) as { count: number }).count, 3);
  t.is((parseCommand([b('INC'), b('bk'), b('sq'), b('ID'), b(block), b('PART'), b('2/3')]) as { part: number }).part, 2);
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  const fresh = `${Date.now()}-AbCdEfGhIjKlMnOp~3`;
  // Three callers of a block that never applied, each retrying the token alone: none gets a number.
  for (let i = 0; i < 3; i++) t.regex(await c.call('INC', 'b', 's', 'ID', fresh), /^-ERR syntax error: a block token/);
  t.is(await c.call('GET', 'b', 's'), '$-1\r\n');
  t.is(intOf(await c.call('INC', 'b', 's', 'ID', fresh, 'PART', '1/3')), 2n);
});
