import test from 'ava';
import { RequestDecoder } from '../../shared/protocol/request-decoder.ts';
import { decodeBothWays, errorsOf, feed, req, resp, type Event } from './helpers.ts';

const fatal = (message: string) => ({ error: 'PROTOCOL', fatal: true, message });

test('decodes a RESP array of bulk strings', (t) => {
  t.deepEqual(decodeBothWays(t, '*3\r\n$3\r\nINC\r\n$1\r\nb\r\n$3\r\nseq\r\n'), [req('INC', 'b', 'seq')]);
});

test('decodes inline requests ended by CRLF or a bare LF', (t) => {
  t.deepEqual(decodeBothWays(t, 'INC b s\r\nGET b s\nPING\r\n'), [
    req('INC', 'b', 's'),
    req('GET', 'b', 's'),
    req('PING'),
  ]);
});

test('splits inline arguments on runs of spaces and tabs', (t) => {
  t.deepEqual(decodeBothWays(t, '  SET\t\tb  s \t 5  \r\n'), [req('SET', 'b', 's', '5')]);
});

test('ignores empty and blank inline lines', (t) => {
  t.deepEqual(decodeBothWays(t, '\r\n\n   \r\n\t\nPING\n\n'), [req('PING')]);
});

test('ignores *0 and *-1 like Redis', (t) => {
  t.deepEqual(decodeBothWays(t, '*0\r\n*-1\r\nPING\r\n*0\r\n'), [req('PING')]);
});

test('decodes pipelined requests mixing RESP and inline in one chunk', (t) => {
  const input = Buffer.concat([
    resp('SET', 'b', 's', '1'),
    Buffer.from('INC b s\r\n'),
    resp('GET', 'b', 's'),
    Buffer.from('PING\n'),
    resp('QUIT'),
  ]);
  t.deepEqual(decodeBothWays(t, input), [
    req('SET', 'b', 's', '1'),
    req('INC', 'b', 's'),
    req('GET', 'b', 's'),
    req('PING'),
    req('QUIT'),
  ]);
});

test('bulk arguments are binary-safe (every byte value, CRLF and NUL inside)', (t) => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const events = decodeBothWays(t, resp('SET', all, Buffer.from('\r\n\0*$'), ''));
  t.deepEqual(events, [req('SET', all.toString('latin1'), '\r\n\0*$', '')]);
});

test('double-quoted inline arguments understand Redis escapes', (t) => {
  const line = 'SET "a b" "\\n\\r\\t\\b\\a\\\\\\"" "\\x41\\x7a\\xff" "\\q" ""\r\n';
  t.deepEqual(decodeBothWays(t, line), [req('SET', 'a b', '\n\r\t\b\x07\\"', 'Az\xff', 'q', '')]);
});

test('single-quoted inline arguments only understand \\\'', (t) => {
  t.deepEqual(decodeBothWays(t, "SET 'a \"b\" \\n' 'it\\'s'\n"), [req('SET', 'a "b" \\n', "it's")]);
});

test('a quote inside an unquoted argument starts a quoted part, as in sdssplitargs', (t) => {
  t.deepEqual(decodeBothWays(t, 'SET ab"c d" x\n'), [req('SET', 'abc d', 'x')]);
});

test('inline arguments keep NUL and high bytes', (t) => {
  t.deepEqual(decodeBothWays(t, Buffer.from('SET a\0b \xfe\n', 'latin1')), [req('SET', 'a\0b', '\xfe')]);
});

for (const [name, line] of [
  ['an unterminated double quote', 'SET "abc\r\n'],
  ['an unterminated single quote', "SET 'abc\n"],
  ['a closing quote followed by a non-blank', 'SET "a"b\n'],
  ['a trailing backslash inside quotes', 'SET "abc\\\n'],
] as const) {
  test(`${name} is a fatal "unbalanced quotes" error`, (t) => {
    const events = decodeBothWays(t, `PING\n${line}PING\n`);
    t.deepEqual(events, [req('PING'), fatal('unbalanced quotes in request')]);
  });
}

test('more than argsMax RESP arguments is a non-fatal TOO_MANY_ARGS; the stream goes on', (t) => {
  const args = Array.from({ length: 65 }, (_, i) => `a${i}`);
  const events = decodeBothWays(t, Buffer.concat([resp(...args), resp('PING')]));
  t.deepEqual(errorsOf(events), [{ error: 'TOO_MANY_ARGS', fatal: false }]);
  t.deepEqual(events[1], req('PING'));
});

test('exactly argsMax arguments is fine', (t) => {
  const args = Array.from({ length: 64 }, (_, i) => `a${i}`);
  t.deepEqual(decodeBothWays(t, resp(...args)), [req(...args)]);
});

test('more than argsMax inline arguments is a non-fatal TOO_MANY_ARGS', (t) => {
  const events = decodeBothWays(t, 'a b c d\nPING\n', { argsMax: 3 });
  t.deepEqual(errorsOf(events), [{ error: 'TOO_MANY_ARGS', fatal: false }]);
  t.deepEqual(events[1], req('PING'));
});

test('a bulk over bulkBytesMax in a request within requestBytesMax is a non-fatal REQUEST_TOO_LARGE', (t) => {
  const events = decodeBothWays(t, Buffer.concat([resp('SET', 'x'.repeat(101)), resp('PING')]), {
    bulkBytesMax: 100,
  });
  t.deepEqual(errorsOf(events), [{ error: 'REQUEST_TOO_LARGE', fatal: false }]);
  t.deepEqual(events[1], req('PING'));
});

test('a bulk of exactly bulkBytesMax is accepted', (t) => {
  const big = 'y'.repeat(100);
  t.deepEqual(decodeBothWays(t, resp('SET', big), { bulkBytesMax: 100 }), [req('SET', big)]);
});

test('a declared bulk length beyond requestBytesMax is fatal before any data arrives', (t) => {
  const events = decodeBothWays(t, '*2\r\n$3\r\nSET\r\n$999999999\r\n');
  t.deepEqual(events, [fatal('invalid bulk length')]);
});

test('a request whose bulks add up beyond requestBytesMax is fatal', (t) => {
  const events = decodeBothWays(t, resp('SET', 'a'.repeat(600), 'b'.repeat(600)), { requestBytesMax: 1000 });
  t.deepEqual(events, [fatal('invalid bulk length')]);
});

test('a request of exactly requestBytesMax is accepted', (t) => {
  const request = resp('SET', 'a'.repeat(100));
  const events = decodeBothWays(t, request, { requestBytesMax: request.length });
  t.deepEqual(events, [req('SET', 'a'.repeat(100))]);
  t.deepEqual(decodeBothWays(t, request, { requestBytesMax: request.length - 1 }), [fatal('invalid bulk length')]);
});

test('a multibulk count that cannot fit requestBytesMax is fatal', (t) => {
  t.deepEqual(decodeBothWays(t, '*100000\r\n'), [fatal('invalid multibulk length')]);
  t.deepEqual(decodeBothWays(t, '*99999999999999999999999'), [fatal('invalid multibulk length')]);
});

for (const [name, input, message] of [
  ['letters in a count', '*abc\r\n', 'invalid multibulk length'],
  ['an empty count', '*\r\n', 'invalid multibulk length'],
  ['a count with a plus sign', '*+1\r\n', 'invalid multibulk length'],
  ['a count with a leading zero', '*01\r\n', 'invalid multibulk length'],
  ['a count of -0', '*-0\r\n', 'invalid multibulk length'],
  ['a count ended by a bare LF', '*1\n', 'invalid multibulk length'],
  ['a count whose CR lacks its LF', '*1\rx', 'invalid multibulk length'],
  ['a negative bulk length', '*1\r\n$-1\r\n', 'invalid bulk length'],
  ['letters in a bulk length', '*1\r\n$x\r\n', 'invalid bulk length'],
  ['an empty bulk length', '*1\r\n$\r\n', 'invalid bulk length'],
  ['a bulk length with a leading zero', '*1\r\n$03\r\nabc\r\n', 'invalid bulk length'],
  ['a non-bulk element', '*1\r\n:1\r\n', "expected '$', got ':'"],
  ['an inline line inside a multibulk', '*2\r\n$4\r\nPING\r\nfoo\r\n', "expected '$', got 'f'"],
  ['a control byte instead of $', '*1\r\n\x01', "expected '$', got '\\x01'"],
  ['bulk data longer than declared', '*1\r\n$2\r\nabc\r\n', 'expected CRLF after bulk argument'],
  ['bulk data followed by a bare LF', '*1\r\n$2\r\nab\n', 'expected CRLF after bulk argument'],
  ['bulk data followed by CR and no LF', '*1\r\n$2\r\nab\r\r', 'expected CRLF after bulk argument'],
] as const) {
  test(`${name} is a fatal protocol error`, (t) => {
    t.deepEqual(decodeBothWays(t, `PING\r\n${input}`), [req('PING'), fatal(message)]);
  });
}

test('after a fatal error all further input is ignored', (t) => {
  const f = feed(Buffer.from('*x\r\nPING\r\n'), [2, 100]);
  f.decoder.write(Buffer.from('PING\r\n'));
  f.decoder.write(resp('PING'));
  t.deepEqual(f.events, [fatal('invalid multibulk length')]);
  t.true(f.decoder.stopped);
  t.is(f.decoder.bufferedBytes(), 0);
});

test('an endless inline line is fatal once past inlineBytesMax, holding bounded memory', (t) => {
  const limit = 1024;
  for (const chunkSize of [1, 100, 5000]) {
    const f = feed(Buffer.alloc(3000, 'a'), [chunkSize], { inlineBytesMax: limit });
    t.deepEqual(f.events, [fatal('too big inline request')]);
    t.true(f.bufferedBytesMax <= limit + 1, `held ${f.bufferedBytesMax}`);
  }
});

test('an inline line of exactly inlineBytesMax is accepted, with CRLF or LF', (t) => {
  const line = `SET ${'a'.repeat(96)}`;
  t.deepEqual(decodeBothWays(t, `${line}\r\n${line}\n`, { inlineBytesMax: 100 }), [
    req('SET', 'a'.repeat(96)),
    req('SET', 'a'.repeat(96)),
  ]);
  t.deepEqual(decodeBothWays(t, `${line}a\r\n`, { inlineBytesMax: 100 }), [fatal('too big inline request')]);
});

test('a request split at every byte boundary decodes the same', (t) => {
  const input = Buffer.concat([
    resp('SET', Buffer.from([0, 13, 10, 255]), '12'),
    Buffer.from('INC "b c" \'s\'\r\n'),
    resp('GET', 'b', ''),
  ]);
  const expected: Event[] = [req('SET', '\0\r\n\xff', '12'), req('INC', 'b c', 's'), req('GET', 'b', '')];
  for (let cut = 0; cut <= input.length; cut++) {
    const f = feed(input, [cut === 0 ? input.length : cut, input.length]);
    t.deepEqual(f.events, expected, `cut at ${cut}`);
  }
});

test('a whole request in one chunk is decoded without copying its bulks', (t) => {
  const chunk = resp('SET', 'bucket', 'sequence');
  let args: Buffer[] = [];
  const decoder = new RequestDecoder({ onRequest: (a) => (args = a), onError: () => t.fail() });
  decoder.write(chunk);
  t.is(args.length, 3);
  for (const arg of args) t.is(arg.buffer, chunk.buffer);
});

test('a 64 KiB request arriving byte by byte decodes in linear time', (t) => {
  const big = Buffer.alloc(64 * 1024 - 64, 'z');
  const input = Buffer.concat([resp('SET', big), Buffer.from(`SET ${'q'.repeat(60000)}\n`)]);
  const started = performance.now();
  const f = feed(input, [1]);
  const elapsedMs = performance.now() - started;
  t.is(f.events.length, 2);
  t.true(elapsedMs < 3000, `took ${elapsedMs} ms`);
  t.true(f.bufferedBytesMax <= 64 * 1024 + 1);
});

test('bufferedBytes is zero between requests and bounded while one is pending', (t) => {
  const decoder = new RequestDecoder({ onRequest: () => {}, onError: () => t.fail() });
  decoder.write(Buffer.from('*2\r\n$4\r\nPING\r\n$1000\r\nabc'));
  t.true(decoder.bufferedBytes() >= 1000 && decoder.bufferedBytes() <= 1004);
  decoder.write(Buffer.concat([Buffer.alloc(997, 'x'), Buffer.from('\r\n')]));
  t.is(decoder.bufferedBytes(), 0);
  decoder.write(Buffer.from('PING'));
  t.true(decoder.bufferedBytes() > 0);
  decoder.write(Buffer.from('\r\n'));
  t.is(decoder.bufferedBytes(), 0);
});

test('stop() inside onRequest drops the rest of the chunk', (t) => {
  const seen: string[] = [];
  const decoder = new RequestDecoder({
    onRequest(args) {
      seen.push(args[0]!.toString());
      if (args[0]!.toString() === 'QUIT') decoder.stop();
    },
    onError: () => t.fail(),
  });
  decoder.write(Buffer.from('PING\r\nQUIT\r\nPING\r\n*1\r\n$4\r\nPING\r\n'));
  t.deepEqual(seen, ['PING', 'QUIT']);
  t.true(decoder.stopped);
});

test('nonsensical limits are refused', (t) => {
  const handlers = { onRequest() {}, onError() {} };
  t.throws(() => new RequestDecoder(handlers, { argsMax: 0 }), { instanceOf: RangeError });
  t.throws(() => new RequestDecoder(handlers, { requestBytesMax: 1.5 }), { instanceOf: RangeError });
  t.is(new RequestDecoder(handlers, { bulkBytesMax: 10 ** 9 }).limits.bulkBytesMax, 64 * 1024);
});
