import test from 'ava';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import {
  array,
  bulk,
  codeForWireWord,
  errorLine,
  errorReply,
  integer,
  NULL_BULK,
  OK,
  simpleString,
} from '../../shared/protocol/reply.ts';
import { ReplyDecoder, type Reply } from '../../shared/protocol/reply-decoder.ts';

const wire = (e: Buffer | string) => (typeof e === 'string' ? e : e.toString('latin1'));

/** Decodes encoded replies back, to prove the encoders speak RESP2 that a real parser accepts. */
function decodeAll(bytes: Buffer | string): Reply[] {
  const replies: Reply[] = [];
  const decoder = new ReplyDecoder({ onReply: (r) => replies.push(r), onFatal: (e) => { throw e; } });
  decoder.write(Buffer.from(bytes as string, 'latin1'));
  return replies;
}

test('simple strings and integers', (t) => {
  t.is(OK, '+OK\r\n');
  t.is(simpleString('PONG'), '+PONG\r\n');
  t.is(integer(0), ':0\r\n');
  t.is(integer(-42), ':-42\r\n');
  t.is(integer(9223372036854775807n), ':9223372036854775807\r\n');
  t.throws(() => integer(1.5), { instanceOf: RangeError });
  t.throws(() => integer(2 ** 60), { instanceOf: RangeError });
});

test('bulk strings are binary-safe and count bytes, not characters', (t) => {
  t.is(bulk('héllo'), '$6\r\nhéllo\r\n');
  t.is(bulk(null), NULL_BULK);
  const bytes = Buffer.from([0, 13, 10, 255]);
  t.deepEqual(bulk(bytes), Buffer.concat([Buffer.from('$4\r\n'), bytes, Buffer.from('\r\n')]));
  t.deepEqual(decodeAll(bulk(bytes)), [{ kind: 'string', value: bytes }]);
});

test('arrays of encoded parts, mixing strings and Buffers; null array', (t) => {
  t.is(array([integer(1), bulk('a')]), '*2\r\n:1\r\n$1\r\na\r\n');
  t.is(array([]), '*0\r\n');
  t.is(array(null), '*-1\r\n');
  const mixed = array([bulk(Buffer.from([1, 2])), OK]);
  t.true(Buffer.isBuffer(mixed));
  t.is(wire(mixed), '*2\r\n$2\r\n\x01\x02\r\n+OK\r\n');
});

test('errorReply maps codes to wire words', (t) => {
  const cases: [ErrorCode, string, string][] = [
    [ErrorCode.UNKNOWN_COMMAND, "unknown command 'frob'", "-ERR unknown command 'frob'\r\n"],
    [ErrorCode.WRONG_ARITY, "wrong number of arguments for 'inc'", "-ERR wrong number of arguments for 'inc'\r\n"],
    [ErrorCode.NOT_INTEGER, 'value is not an integer or out of range', '-ERR value is not an integer or out of range\r\n'],
    [ErrorCode.PROTOCOL, 'invalid bulk length', '-ERR Protocol error: invalid bulk length\r\n'],
    [ErrorCode.NOT_LEADER, '3 127.0.0.1:7001', '-NOTLEADER 3 127.0.0.1:7001\r\n'],
    [ErrorCode.MOVED, '42 127.0.0.1:7002', '-MOVED 42 127.0.0.1:7002\r\n'],
    [ErrorCode.TRY_AGAIN, 'slot moving', '-TRYAGAIN slot moving\r\n'],
    [ErrorCode.CLUSTER_DOWN, 'no quorum', '-CLUSTERDOWN no quorum\r\n'],
    [ErrorCode.BUSY, 'queue full', '-BUSY queue full\r\n'],
    [ErrorCode.SHUTTING_DOWN, 'node is shutting down', '-SHUTDOWN node is shutting down\r\n'],
    [ErrorCode.OUTCOME_UNKNOWN, 'leader changed; retry only with the same ID token', '-AMBIGUOUS leader changed; retry only with the same ID token\r\n'],
    [ErrorCode.STORAGE, 'disk failed', '-ERR disk failed\r\n'],
  ];
  for (const [code, message, expected] of cases) t.is(errorReply(new SeqError(code, message)), expected, code);
});

test('wire words map back to codes', (t) => {
  t.is(codeForWireWord('NOTLEADER'), ErrorCode.NOT_LEADER);
  t.is(codeForWireWord('MOVED'), ErrorCode.MOVED);
  t.is(codeForWireWord('TRYAGAIN'), ErrorCode.TRY_AGAIN);
  t.is(codeForWireWord('AMBIGUOUS'), ErrorCode.OUTCOME_UNKNOWN);
  t.is(codeForWireWord('SHUTDOWN'), ErrorCode.SHUTTING_DOWN);
  t.is(codeForWireWord('ERR'), null);
});

test('CR and LF inside messages never break the stream', (t) => {
  const line = errorReply(new SeqError(ErrorCode.INTERNAL, 'bad\r\n+OK\r\nthing\n'));
  t.is(line.indexOf('\r\n'), line.length - 2);
  t.false(line.slice(0, -2).includes('\n') || line.slice(0, -2).includes('\r'));
  t.is(simpleString('a\rb\nc'), '+a b c\r\n');
  t.is(errorLine('WORD\r\n', ''), '-WORD\r\n');
  const decoded = decodeAll(line + OK);
  t.is(decoded.length, 2);
  t.like(decoded[0]!, { kind: 'error', word: 'ERR' });
});
