import test from 'ava';
import type { SeqError } from '../../shared/errors.ts';
import { ReplyDecoder, type Reply, type ReplyDecoderOptions } from '../../shared/protocol/reply-decoder.ts';

interface Decoded {
  replies: Reply<Buffer | string>[];
  fatal: SeqError[];
}

function decodeChunks(input: Buffer, chunkSize: number, options?: ReplyDecoderOptions): Decoded {
  const out: Decoded = { replies: [], fatal: [] };
  const decoder = new ReplyDecoder<Buffer | string>(
    { onReply: (r) => out.replies.push(r), onFatal: (e) => out.fatal.push(e) },
    options,
  );
  for (let pos = 0; pos < input.length; pos += chunkSize) {
    decoder.write(Buffer.from(input.subarray(pos, pos + chunkSize)));
  }
  return out;
}

/** Every case runs whole and byte by byte; both must agree. */
function decodeBothWays(
  t: { deepEqual(a: unknown, b: unknown, m?: string): void },
  input: string | Buffer,
  options?: ReplyDecoderOptions,
): Decoded {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const whole = decodeChunks(bytes, bytes.length, options);
  const byByte = decodeChunks(bytes, 1, options);
  t.deepEqual(byByte, whole, 'byte-by-byte must match whole');
  return whole;
}

test('integers come out as bigint, beyond 2^53 and negative', (t) => {
  const { replies } = decodeBothWays(t, ':0\r\n:9223372036854775807\r\n:-9223372036854775808\r\n:9007199254740993\r\n');
  t.deepEqual(replies, [
    { kind: 'integer', value: 0n },
    { kind: 'integer', value: 9223372036854775807n },
    { kind: 'integer', value: -9223372036854775808n },
    { kind: 'integer', value: 9007199254740993n },
  ]);
});

test('simple and bulk strings come out as Buffers by default, binary-safe', (t) => {
  const { replies } = decodeBothWays(t, '+OK\r\n$4\r\n\x00\r\n\xff\r\n$0\r\n\r\n');
  t.deepEqual(replies, [
    { kind: 'string', value: Buffer.from('OK') },
    { kind: 'string', value: Buffer.from([0, 13, 10, 255]) },
    { kind: 'string', value: Buffer.alloc(0) },
  ]);
});

test("strings come out as text with strings: 'utf8'", (t) => {
  const { replies } = decodeBothWays(t, Buffer.from('+PONG\r\n$6\r\nhéllo\r\n'), { strings: 'utf8' });
  t.deepEqual(replies, [
    { kind: 'string', value: 'PONG' },
    { kind: 'string', value: 'héllo' },
  ]);
});

test('errors split into wire word and message', (t) => {
  const { replies } = decodeBothWays(t, '-MOVED 42 127.0.0.1:7002\r\n-ERR Protocol error: x\r\n-NOTLEADER\r\n');
  t.deepEqual(replies, [
    { kind: 'error', word: 'MOVED', message: '42 127.0.0.1:7002' },
    { kind: 'error', word: 'ERR', message: 'Protocol error: x' },
    { kind: 'error', word: 'NOTLEADER', message: '' },
  ]);
});

test('nulls and nested arrays with every kind inside', (t) => {
  const { replies } = decodeBothWays(t, '$-1\r\n*-1\r\n*0\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n-BUSY later\r\n$-1\r\n');
  t.deepEqual(replies, [
    { kind: 'null' },
    { kind: 'null' },
    { kind: 'array', items: [] },
    {
      kind: 'array',
      items: [
        { kind: 'integer', value: 1n },
        {
          kind: 'array',
          items: [
            { kind: 'string', value: Buffer.from('a') },
            { kind: 'error', word: 'BUSY', message: 'later' },
          ],
        },
        { kind: 'null' },
      ],
    },
  ]);
});

test('a bad type byte is fatal and later input is ignored', (t) => {
  const { replies, fatal } = decodeBothWays(t, ':1\r\n!oops\r\n:2\r\n');
  t.deepEqual(replies, [{ kind: 'integer', value: 1n }]);
  t.is(fatal.length, 1);
  t.is(fatal[0]!.code, 'PROTOCOL');
});

// redis-parser does not check integer digits (':12a' decodes as 169); only what it cannot turn
// into digits at all is caught here. Replies come from SeqDB nodes, not from hostile clients.
test('an empty integer reply is fatal', (t) => {
  const { replies, fatal } = decodeBothWays(t, ':\r\n:3\r\n');
  t.deepEqual(replies, []);
  t.deepEqual(fatal.map((e) => e.code), ['PROTOCOL']);
});

test('a reply outgrowing replyBytesMax is fatal (bound: the limit plus one chunk)', (t) => {
  const input = Buffer.from(`:7\r\n$100000\r\n${'x'.repeat(3000)}`);
  for (const chunkSize of [1, 100, 1000]) {
    const { replies, fatal } = decodeChunks(input, chunkSize, { replyBytesMax: 1000 });
    t.deepEqual(replies, [{ kind: 'integer', value: 7n }]);
    t.deepEqual(fatal.map((e) => e.code), ['PROTOCOL'], `chunk size ${chunkSize}`);
  }
});

test('many pipelined replies split at every boundary', (t) => {
  const input = Buffer.from('+OK\r\n:123456789012345678\r\n$3\r\nabc\r\n*2\r\n:1\r\n-ERR no\r\n');
  const expected = decodeChunks(input, input.length).replies;
  t.is(expected.length, 4);
  for (let size = 1; size < input.length; size++) t.deepEqual(decodeChunks(input, size).replies, expected, `size ${size}`);
});

test('an exception thrown by onReply surfaces to the caller and stops the decoder', (t) => {
  const decoder = new ReplyDecoder({
    onReply() {
      throw new Error('handler bug');
    },
    onFatal: () => t.fail(),
  });
  t.throws(() => decoder.write(Buffer.from(':1\r\n:2\r\n')), { message: 'handler bug' });
  t.true(decoder.stopped);
  t.notThrows(() => decoder.write(Buffer.from(':3\r\n')));
});
