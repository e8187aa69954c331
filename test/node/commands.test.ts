import test from 'ava';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';

async function connect(t: Parameters<typeof startTestNode>[0]): Promise<RespClient> {
  const node = await startTestNode(t);
  const client = await RespClient.connect(node.address.port);
  t.teardown(() => client.close());
  return client;
}

test('SET, GET, INC and INC COUNT over RESP', async (t) => {
  const c = await connect(t);
  t.is(await c.call('GET', 'b', 's'), '$-1\r\n');
  t.is(await c.call('INC', 'b', 's'), ':1\r\n');
  t.is(await c.call('inc', 'b', 's', 'count', '10'), ':11\r\n');
  t.is(await c.call('GET', 'b', 's'), ':11\r\n');
  t.is(await c.call('SET', 'b', 's', '9223372036854775806'), '+OK\r\n');
  t.is(await c.call('INC', 'b', 's'), ':9223372036854775807\r\n');
  t.is(await c.call('INC', 'b', 's'), '-ERR increment would overflow\r\n');
  t.is(await c.call('GET', 'b', 's'), ':9223372036854775807\r\n');
});

test('INC ID: exactly once per token; another COUNT is refused', async (t) => {
  const c = await connect(t);
  const token = `${Date.now()}-abc`;
  t.is(await c.call('INC', 'b', 's', 'ID', token, 'COUNT', '3'), ':3\r\n');
  t.is(await c.call('INC', 'b', 's', 'COUNT', '3', 'id', token), ':3\r\n');
  t.regex(await c.call('INC', 'b', 's', 'ID', token), /^-ERR .*\r\n$/);
  t.is(await c.call('INC', 'b', 's'), ':4\r\n');
  t.regex(await c.call('INC', 'b', 's', 'ID', '1-ancient'), /^-ERR ID token expired.*\r\n$/);
});

test('every client error is a Redis-worded -ERR and leaves the connection usable', async (t) => {
  const c = await connect(t);
  t.is(await c.call('INC', 'b'), "-ERR wrong number of arguments for 'inc'\r\n");
  t.is(await c.call('GET', 'b'), "-ERR wrong number of arguments for 'get'\r\n");
  t.is(await c.call('SET', 'b', 's'), "-ERR wrong number of arguments for 'set'\r\n");
  t.is(await c.call('SET', 'b', 's', 'x'), '-ERR value is not an integer or out of range\r\n');
  t.is(await c.call('SET', 'b', 's', '9223372036854775808'), '-ERR value is not an integer or out of range\r\n');
  t.is(await c.call('INC', 'b', 's', 'COUNT', '1000001'), '-ERR value is not an integer or out of range\r\n');
  t.is(await c.call('INC', 'b', 's', 'COUNT', '0'), '-ERR value is not an integer or out of range\r\n');
  t.is(await c.call('INC', 'b', 's', 'COUNT'), '-ERR syntax error\r\n');
  t.is(await c.call('INC', 'b', 's', 'BOGUS', '1'), '-ERR syntax error\r\n');
  t.regex(await c.call('INC', 'b', 's', 'ID', 'x'.repeat(65)), /^-ERR syntax error/);
  t.is(await c.call('frob'), "-ERR unknown command 'frob'\r\n");
  t.regex(await c.call('INC', 'b'.repeat(257), 's'), /^-ERR bucket name must be 1 to 256 bytes/);
  t.regex(await c.call('INC', 'b', ''), /^-ERR sequence name must be 1 to 256 bytes/);
  t.regex(await c.call(...Array.from({ length: 65 }, () => 'x')), /^-ERR too many arguments/);
  t.regex(await c.call('SET', 'b', 's', 'x'.repeat(70_000)), /^-ERR Protocol error/);
  await c.closed; // a request over 64 KiB cannot be skipped safely: protocol error, then close
});

test('names are binary-safe through RESP', async (t) => {
  const c = await connect(t);
  const bucket = Buffer.from([0, 13, 10, 255, 32]);
  t.is(await c.call('INC', bucket, 'b'.repeat(256)), ':1\r\n');
  t.is(await c.call('INC', bucket, 'b'.repeat(256)), ':2\r\n');
  t.is(await c.call('GET', Buffer.from([0, 13, 10, 255]), 'b'.repeat(256)), '$-1\r\n');
});

test('inline commands, bare LF, quoted arguments, pipelined replies in order', async (t) => {
  const c = await connect(t);
  c.write('INC "a b" s\r\nINC \'a b\' s COUNT 2\nGET "a b" s\r\nPING\r\nfrob\r\nINC x\r\nECHO "hi\\x00there"\r\n');
  t.deepEqual(await c.take(7), [
    ':1\r\n',
    ':3\r\n',
    ':3\r\n',
    '+PONG\r\n',
    "-ERR unknown command 'frob'\r\n",
    "-ERR wrong number of arguments for 'inc'\r\n",
    '$8\r\nhi\x00there\r\n',
  ]);
});

test('a deep pipeline of mixed sync and async replies keeps request order', async (t) => {
  const c = await connect(t);
  const requests: Buffer[] = [];
  const expected: string[] = [];
  for (let i = 1; i <= 3000; i++) {
    requests.push(encodeRequest('INC', 'p', 'q'));
    expected.push(`:${i}\r\n`);
    if (i % 3 === 0) {
      requests.push(encodeRequest('PING', String(i)));
      expected.push(`$${String(i).length}\r\n${i}\r\n`);
    }
    if (i % 5 === 0) {
      requests.push(encodeRequest('GET', 'p', 'q'));
      expected.push(`:${i}\r\n`);
    }
  }
  c.write(Buffer.concat(requests));
  t.deepEqual(await c.take(expected.length), expected);
});

test('PING, ECHO, QUIT and INFO', async (t) => {
  const c = await connect(t);
  t.is(await c.call('PING'), '+PONG\r\n');
  t.is(await c.call('ping', 'hello'), '$5\r\nhello\r\n');
  t.is(await c.call('ECHO', 'x y'), '$3\r\nx y\r\n');
  await c.call('INC', 'b', 's');
  const info = await c.call('INFO');
  for (const field of ['role', 'version', 'uptime_seconds', 'connected_clients', 'sequences', 'loading']) {
    t.regex(info, new RegExp(`\r\n${field}:[^\r\n]+\r\n`), field);
  }
  t.regex(info, /\r\nsequences:1\r\n/);
  t.regex(info, /\r\nconnected_clients:1\r\n/);
  // Memory, as Redis names it: numbers of bytes, the heap within the total.
  const field = (name: string) => Number(new RegExp(`\r\n${name}:(\\d+)\r\n`).exec(info)?.[1]);
  t.true(field('used_memory_heap') > 0 && field('used_memory') >= field('used_memory_heap'));
  t.true(field('used_memory_rss') > 0);
  t.is(await c.call('QUIT'), '+OK\r\n');
  await c.closed;
});

test('QUIT in a pipeline: earlier replies arrive, later requests are ignored', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  c.write(Buffer.concat([encodeRequest('INC', 'b', 's'), encodeRequest('QUIT'), encodeRequest('INC', 'b', 's')]));
  t.deepEqual(await c.take(2), [':1\r\n', '+OK\r\n']);
  await c.closed;
  const again = await RespClient.connect(node.address.port);
  t.teardown(() => again.close());
  t.is(await again.call('GET', 'b', 's'), ':1\r\n');
});

test('what Redis clients send on connect', async (t) => {
  const c = await connect(t);
  t.is(await c.call('CLIENT', 'SETINFO', 'LIB-NAME', 'x'), '+OK\r\n');
  t.is(await c.call('CLIENT', 'SETNAME', 'me'), '+OK\r\n');
  t.is(await c.call('CLIENT', 'GETNAME'), '$2\r\nme\r\n');
  t.regex(await c.call('CLIENT', 'ID'), /^:[0-9]+\r\n$/);
  t.is(await c.call('SELECT', '0'), '+OK\r\n');
  t.regex(await c.call('SELECT', '1'), /^-ERR /);
  t.is(await c.call('COMMAND', 'DOCS'), '*0\r\n');
  t.is(await c.call('COMMAND'), '*0\r\n');
  // RESP3 is not spoken: clients fall back to RESP2 on NOPROTO; HELLO 2 answers Redis 6's facts.
  t.is(await c.call('HELLO', '3'), '-NOPROTO sorry, this protocol version is not supported\r\n');
  t.regex(await c.call('HELLO', '2', 'SETNAME', 'hi'), /^\*14\r\n\$6\r\nserver\r\n\$5\r\nseqdb\r\n.*\$5\r\nproto\r\n:2\r\n/s);
  t.is(await c.call('CLIENT', 'GETNAME'), '$2\r\nhi\r\n');
});

test('a fatal protocol error answers -ERR Protocol error and closes only that connection', async (t) => {
  const node = await startTestNode(t);
  const bad = await RespClient.connect(node.address.port);
  const good = await RespClient.connect(node.address.port);
  t.teardown(() => (bad.close(), good.close()));
  bad.write('*1\r\n$-5\r\n');
  t.regex(await bad.next(), /^-ERR Protocol error: /);
  await bad.closed;
  t.is(await good.call('INC', 'b', 's'), ':1\r\n');
});

test('a client that half-closes after sending (like nc) still gets every reply', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  c.write('INC b s\nINC b s COUNT 2\nGET b s\n');
  c.socket.end();
  t.deepEqual(await c.take(3), [':1\r\n', ':3\r\n', ':3\r\n']);
  await c.closed;
});

/** Every command and error of the protocol, as [arguments, exact reply]; run in order. */
const SCRIPT: [string[], string][] = [
  [['PING'], '+PONG\r\n'],
  [['PING', 'hi'], '$2\r\nhi\r\n'],
  [['ECHO', 'hey'], '$3\r\nhey\r\n'],
  [['GET', 'B', 'S'], '$-1\r\n'],
  [['INC', 'B', 'S'], ':1\r\n'],
  [['inc', 'B', 'S', 'COUNT', '4'], ':5\r\n'],
  [['INC', 'B', 'S', 'ID', 'tk', 'count', '2'], ':7\r\n'],
  [['INC', 'B', 'S', 'COUNT', '2', 'ID', 'tk'], ':7\r\n'],
  [['INC', 'B', 'S', 'ID', 'tk'], '-ERR ID token was used with a different COUNT, or by another command (RESERVE)\r\n'],
  [['GET', 'B', 'S'], ':7\r\n'],
  [['SET', 'B', 'S', '9223372036854775807'], '+OK\r\n'],
  [['INC', 'B', 'S'], '-ERR increment would overflow\r\n'],
  [['GET', 'B', 'S'], ':9223372036854775807\r\n'],
  [['SET', 'B', 'S', '9223372036854775808'], '-ERR value is not an integer or out of range\r\n'],
  [['SET', 'B', 'S', '-1'], '-ERR value is not an integer or out of range\r\n'],
  [['INC', 'B', 'S', 'COUNT', '1000001'], '-ERR value is not an integer or out of range\r\n'],
  [['INC', 'B', 'S', 'COUNT'], '-ERR syntax error\r\n'],
  [['INC', 'B', 'S', 'NOPE', 'x'], '-ERR syntax error\r\n'],
  [['INC', 'B'], "-ERR wrong number of arguments for 'inc'\r\n"],
  [['SET', 'B', 'S'], "-ERR wrong number of arguments for 'set'\r\n"],
  [['GET', 'B'], "-ERR wrong number of arguments for 'get'\r\n"],
  [['frob', 'x'], "-ERR unknown command 'frob'\r\n"],
  [['INC', 'B'.repeat(257), 'S'], '-ERR bucket name must be 1 to 256 bytes\r\n'],
  [['INC', 'B', 'S'.repeat(257)], '-ERR sequence name must be 1 to 256 bytes\r\n'],
  [['INC', 'B', 'S', 'ID', '1-expired'], '-ERR ID token expired: older than the retention window or already evicted\r\n'],
  [['INC', 'B', 'S', 'PART', '1/2'], '-ERR syntax error: PART needs the ID of its block\r\n'],
  [['INC', 'B', 'S', 'ID', 'pt', 'PART', '2/2'], '-ERR syntax error: PART is <i>/<k> with 0 <= i < k, 2 <= k <= 1024\r\n'],
  [['INC', 'B', 'S', 'ID', 'pt', 'PART', '0/2', 'COUNT', '2'], '-ERR syntax error: a PART is one number (COUNT 1 or none)\r\n'],
  [['GET', 'B', 'S'], ':9223372036854775807\r\n'],
  [Array.from({ length: 65 }, () => 'x'), '-ERR too many arguments in request (max 64)\r\n'],
  [['SELECT', '0'], '+OK\r\n'],
  [['COMMAND', 'DOCS'], '*0\r\n'],
  [['QUIT'], '+OK\r\n'],
];

for (const mode of ['RESP', 'inline'] as const) {
  test(`every command and error, pipelined, as ${mode}`, async (t) => {
    const node = await startTestNode(t);
    const c = await RespClient.connect(node.address.port);
    t.teardown(() => c.close());
    const requests = SCRIPT.map(([args]) =>
      mode === 'RESP' ? encodeRequest(...args) : Buffer.from(`${args.join(' ')}\r\n`, 'latin1'),
    );
    c.write(Buffer.concat(requests));
    t.deepEqual(await c.take(SCRIPT.length), SCRIPT.map(([, reply]) => reply));
    await c.closed; // QUIT closed it
  });
}
