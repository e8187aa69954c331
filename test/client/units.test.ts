import test from 'ava';
import { backoffDelayMs } from '../../client/backoff.ts';
import { judge, isTokenExpired } from '../../client/outcome.ts';
import { parseAddress, parseHint } from '../../client/address.ts';
import { parseInfo } from '../../client/info.ts';
import { timedToken } from '../../client/token.ts';
import { encodeRequest } from '../../client/encode.ts';
import { CallGate } from '../../client/call-gate.ts';
import { ClientErrorCode, isClientError } from '../../client/errors.ts';
import { resolveOptions } from '../../client/options.ts';

test('backoff grows exponentially, stays within [ceiling/2, ceiling] and is capped', (t) => {
  t.is(backoffDelayMs(0, 25, 1000, () => 0), 12);
  t.is(backoffDelayMs(0, 25, 1000, () => 0.999999), 24);
  t.is(backoffDelayMs(3, 25, 1000, () => 0), 100);
  t.is(backoffDelayMs(10, 25, 1000, () => 0.5), 750);
  t.is(backoffDelayMs(1e9, 25, 1000, () => 0.999999), 999);
  t.is(backoffDelayMs(5, 0, 1000, () => 0.7), 0);
});

test('a written attempt without reply may have been applied; retried only when idempotent', (t) => {
  const lost = { kind: 'lost', error: new Error('reset') } as const;
  t.like(judge(lost, true), { retry: true, mayHaveApplied: true, failover: true });
  t.like(judge(lost, false), { retry: false, mayHaveApplied: true });
  t.like(judge({ kind: 'unsent', error: new Error('refused') }, false), { retry: true, mayHaveApplied: false });
});

test('redirect and overload words are retried, plain errors are final', (t) => {
  for (const word of ['TRYAGAIN', 'BUSY', 'NOTLEADER', 'MOVED', 'LOADING']) {
    t.like(judge({ kind: 'reply', word, message: 'x' }, false), { retry: true, mayHaveApplied: false }, word);
  }
  // A router's CLUSTERDOWN may follow a forwarded attempt that applied: only idempotent calls retry.
  t.like(judge({ kind: 'reply', word: 'CLUSTERDOWN', message: 'no answer' }, true), { retry: true, mayHaveApplied: true });
  t.like(judge({ kind: 'reply', word: 'CLUSTERDOWN', message: 'no answer' }, false), { retry: false, mayHaveApplied: true });
  t.like(judge({ kind: 'reply', word: 'ERR', message: 'syntax error' }, true), { retry: false, mayHaveApplied: false });
  const notLeader = judge({ kind: 'reply', word: 'NOTLEADER', message: '3 127.0.0.1:7001' }, true);
  t.is(notLeader.hint?.key, '127.0.0.1:7001');
  t.is(judge({ kind: 'reply', word: 'NOTLEADER', message: '3 ?' }, true).hint, null);
  t.is(judge({ kind: 'reply', word: 'MOVED', message: '12 10.0.0.2:7380 epoch 4' }, true).hint?.port, 7380);
  t.true(isTokenExpired('ERR', 'ID token expired: older than the retention window or already evicted'));
  t.false(isTokenExpired('ERR', 'syntax error'));
});

test('addresses parse host:port, [v6]:port and a bare port; junk is an invalid argument', (t) => {
  t.like(parseAddress('127.0.0.1:7379'), { host: '127.0.0.1', port: 7379, key: '127.0.0.1:7379' });
  t.like(parseAddress('[::1]:80'), { host: '::1', port: 80, key: '[::1]:80' });
  t.like(parseAddress('7000'), { host: '127.0.0.1', port: 7000 });
  for (const bad of ['', 'host', 'h:0', 'h:70000', 'a b:1']) {
    const err = t.throws(() => parseAddress(bad));
    t.true(isClientError(err, ClientErrorCode.INVALID_ARGUMENT), bad);
  }
  t.is(parseHint('?'), null);
  t.is(parseHint('garbage'), null);
});

test('INFO text parses into fields and sections, tolerating junk lines', (t) => {
  const info = parseInfo('# Server\r\nrole:leader\r\nversion:0.1.0\r\n\r\n# Raft\r\nterm:7\r\njunk\r\nurl:http://x:1\r\n');
  t.is(info.fields.role, 'leader');
  t.is(info.fields.url, 'http://x:1');
  t.is(info.sections.raft?.term, '7');
  t.is(info.sections.server?.version, '0.1.0');
});

test('timed tokens are <unix ms>-<random> and fit the 64-byte limit', (t) => {
  const token = timedToken(1764131000000);
  t.regex(token, /^1764131000000-[A-Za-z0-9_-]{16}$/);
  t.not(timedToken(), timedToken());
  t.true(Buffer.byteLength(timedToken()) <= 64);
});

test('requests encode as RESP arrays of bulk strings, binary-safe', (t) => {
  t.is(encodeRequest(['INC', 'b', 'é']).toString('latin1'), '*3\r\n$3\r\nINC\r\n$1\r\nb\r\n$2\r\n\xc3\xa9\r\n');
  t.deepEqual(encodeRequest([Buffer.from([0, 13, 10])]), Buffer.from('*1\r\n$3\r\n\x00\r\n\r\n', 'latin1'));
});

test('the call gate bounds calls in progress and waiting, in FIFO order', async (t) => {
  const gate = new CallGate(1, 1);
  const far = Date.now() + 10_000;
  await gate.enter(far);
  const order: string[] = [];
  const second = gate.enter(far).then(() => order.push('second'));
  const third = await t.throwsAsync(gate.enter(far));
  t.is((third as { code?: string }).code, ClientErrorCode.QUEUE_FULL);
  gate.leave();
  await second;
  t.deepEqual(order, ['second']);
  t.is(gate.pending, 1);
  const late = await t.throwsAsync(gate.enter(Date.now() + 20));
  t.is((late as { code?: string }).code, ClientErrorCode.TIMEOUT);
  gate.close(new Error('closed'));
  await t.throwsAsync(gate.enter(far), { message: 'closed' });
  gate.leave();
  await gate.idle();
  t.is(gate.pending, 0);
});

test('options are validated with ERR_INVALID_ARGUMENT', (t) => {
  for (const bad of [{ routers: [] }, { routers: ['x:1'], deadlineMs: 0 }, { routers: ['x:1'], connectionsPerRouter: 1.5 }]) {
    const err = t.throws(() => resolveOptions(bad));
    t.true(isClientError(err, ClientErrorCode.INVALID_ARGUMENT));
  }
  t.is(resolveOptions({ routers: ['h:1'] }).deadlineMs, 15_000);
});

test("a node's OUTCOME_UNKNOWN reply may have applied: INC retries with its token, SET does not", (t) => {
  const unknown = { kind: 'reply', word: 'AMBIGUOUS', message: 'leader changed; the write may or may not have applied: retry only with the same ID token' } as const;
  t.like(judge(unknown, true), { retry: true, mayHaveApplied: true });
  t.like(judge(unknown, false), { retry: false, mayHaveApplied: true });
  // A router's SET whose connection broke says so with the word only.
  t.like(judge({ kind: 'reply', word: 'AMBIGUOUS', message: 'shard 1: connection lost; the SET may or may not have applied' }, false), { retry: false, mayHaveApplied: true });
  // SHUTDOWN: refused before anything ran, so even a SET is retried (elsewhere).
  t.like(judge({ kind: 'reply', word: 'SHUTDOWN', message: 'node is shutting down' }, false), { retry: true, mayHaveApplied: false, failover: true });
  // A node of before the word (during an upgrade) said it in the text.
  const legacy = { kind: 'reply', word: 'ERR', message: 'leader changed; the write may or may not have applied: retry only with the same ID token' } as const;
  t.like(judge(legacy, true), { retry: true, mayHaveApplied: true });
  t.like(judge({ kind: 'reply', word: 'ERR', message: 'syntax error' }, true), { retry: false, mayHaveApplied: false });
});
