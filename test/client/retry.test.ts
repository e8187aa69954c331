import test from 'ava';
import net from 'node:net';
import { createClient, ClientErrorCode, type OutcomeUnknownError, type ServerError } from '../../client/index.ts';
import { FAST_RETRIES, FakeState, startFake } from './fake-server.ts';
import { gaplessDefect } from './helpers.ts';

const fake = startFake;
const fast = FAST_RETRIES;

test('inc, get, set, ping and info work and integers stay exact as bigint', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address] });
  t.teardown(() => client.destroy());
  t.is(await client.get('b', 's'), null);
  t.is(await client.inc('b', 's'), 1n);
  t.is(await client.inc('b', 's', { count: 5 }), 6n);
  await client.set('b', 's', 2n ** 62n + 1n);
  t.is(await client.inc('b', 's'), 2n ** 62n + 2n);
  t.is(await client.get('b', 's'), 2n ** 62n + 2n);
  t.is(await client.ping(), 'PONG');
  t.regex(await client.info(), /role:fake/);
  await client.close();
});

test('concurrent calls share one connection and are answered in order', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address] });
  t.teardown(() => client.destroy());
  await client.ping(); // connected: batching below is the client's doing, not connect's
  // Count the client's socket writes to this server (the fake runs in this process, so what it
  // reads says nothing: the kernel coalesces writes while this loop is busy).
  const realWrite = net.Socket.prototype.write;
  let writes = 0;
  net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<typeof realWrite>) {
    if (this.remotePort === server.port) writes += 1;
    return realWrite.apply(this, args);
  } as typeof realWrite;
  let values: bigint[];
  try {
    values = await Promise.all(Array.from({ length: 300 }, () => client.inc('b', 's')));
  } finally {
    net.Socket.prototype.write = realWrite;
  }
  t.is(server.connections, 1);
  t.is(gaplessDefect(values), null);
  // Replies matched in order: the i-th call issued in one tick got the i-th number.
  t.deepEqual(values, values.slice().sort((a, b) => (a < b ? -1 : 1)));
  // Issued in one tick, written in one batch.
  t.is(writes, 1);
  await client.close();
});

test('connectionsPerRouter spreads concurrent calls over that many sockets', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address], connectionsPerRouter: 3 });
  t.teardown(() => client.destroy());
  const values = await Promise.all(Array.from({ length: 30 }, () => client.inc('b', 's')));
  t.is(server.connections, 3);
  t.is(gaplessDefect(values), null);
  await client.close();
});

test('a reply lost after the server applied the INC is retried with the same token: no gap', async (t) => {
  const server = await fake(t);
  let dropped = 0;
  server.script = (args) => (args[0] === 'inc' && dropped++ < 2 ? { drop: 'after' } : undefined);
  const client = createClient({ routers: [server.address], ...fast });
  t.teardown(() => client.destroy());
  t.is(await client.inc('b', 's'), 1n);
  t.is(await client.inc('b', 's'), 2n);
  t.is(server.requests, 4);
  t.deepEqual([...server.applied.values()], [1, 1]);
  await client.close();
});

test('-TRYAGAIN, -CLUSTERDOWN, -BUSY are retried; a syntax error is ERR_SERVER and sent once', async (t) => {
  const server = await fake(t);
  const words = ['-TRYAGAIN migrating\r\n', '-CLUSTERDOWN no leader\r\n', '-BUSY full\r\n'];
  server.script = (args, i) => (args[0] === 'inc' && i < 3 ? { reply: words[i]! } : undefined);
  const client = createClient({ routers: [server.address], ...fast });
  t.teardown(() => client.destroy());
  t.is(await client.inc('b', 's'), 1n);
  t.is(server.requests, 4);
  server.script = () => ({ reply: '-ERR syntax error\r\n' });
  const err = await t.throwsAsync<ServerError>(client.inc('b', 's'));
  t.is(err?.code, ClientErrorCode.SERVER);
  t.is(err?.serverCode, 'ERR');
  t.is(server.requests, 5);
  await client.close();
});

test('at the deadline, endless -TRYAGAIN is ERR_TIMEOUT but endless -CLUSTERDOWN is ERR_OUTCOME_UNKNOWN', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address], ...fast, deadlineMs: 250 });
  t.teardown(() => client.destroy());
  server.script = () => ({ reply: '-TRYAGAIN slot frozen\r\n' });
  // Long backoff: the deadline passes in a backoff pause, not while a request is unanswered
  // (which would rightly be an unknown outcome).
  const patient = createClient({ routers: [server.address], deadlineMs: 3000, backoffBaseMs: 2000, backoffMaxMs: 4000 });
  t.teardown(() => patient.destroy());
  const refused = await t.throwsAsync(patient.inc('b', 's'));
  t.is((refused as { code?: string }).code, ClientErrorCode.TIMEOUT);
  // A router says CLUSTERDOWN when its own deadline passed, maybe after the INC applied.
  server.script = () => ({ reply: '-CLUSTERDOWN no answer within 5000 ms\r\n' });
  const unknown = await t.throwsAsync<OutcomeUnknownError>(client.inc('b', 's'));
  t.is(unknown?.code, ClientErrorCode.OUTCOME_UNKNOWN);
  t.truthy(unknown?.token);
  const read = await t.throwsAsync(client.get('b', 's'));
  t.is((read as { code?: string }).code, ClientErrorCode.TIMEOUT, 'a read is never of unknown outcome');
  // Count SETs only: the GET's last attempt may still reach the server after its deadline.
  let sets = 0;
  server.script = (args) => {
    if (args[0] === 'set') sets += 1;
    return { reply: '-CLUSTERDOWN no answer within 5000 ms\r\n' };
  };
  const set = await t.throwsAsync(client.set('b', 's', 1));
  t.is((set as { code?: string }).code, ClientErrorCode.OUTCOME_UNKNOWN);
  t.is(sets, 1, 'SET is not replayed after CLUSTERDOWN');
  await client.close();
});

test('a server that stops answering is detected by attemptTimeoutMs and the INC retried', async (t) => {
  const server = await fake(t);
  server.script = (args, i) => (i === 0 ? { hang: true } : undefined);
  const client = createClient({ routers: [server.address], ...fast, attemptTimeoutMs: 100 });
  t.teardown(() => client.destroy());
  t.is(await client.inc('b', 's'), 1n);
  t.true(server.connections >= 2, 'the stuck connection was replaced');
  await client.close();
});

test('past the deadline a possibly-applied INC is ERR_OUTCOME_UNKNOWN with its token; retrying it closes the gap', async (t) => {
  const server = await fake(t);
  server.script = () => ({ drop: 'after' });
  const client = createClient({ routers: [server.address], ...fast, deadlineMs: 1500 });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync<OutcomeUnknownError>(client.inc('b', 's'));
  t.is(err?.code, ClientErrorCode.OUTCOME_UNKNOWN);
  t.truthy(err?.token);
  t.true((err?.attempts ?? 0) >= 2);
  server.script = () => undefined;
  t.is(await client.inc('b', 's', { id: err!.token! }), 1n);
  t.is(server.applied.get(err!.token!), 1);
  t.is(await client.inc('b', 's'), 2n);
  await client.close();
});

test('an unreachable server is ERR_TIMEOUT (nothing was sent, nothing applied)', async (t) => {
  const server = await fake(t);
  await server.stop();
  const client = createClient({ routers: [server.address], ...fast, deadlineMs: 200 });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync(client.inc('b', 's'));
  t.is((err as { code?: string }).code, ClientErrorCode.TIMEOUT);
  await client.close();
});

test('when a router dies the client fails over to the next one, same token', async (t) => {
  const state = new FakeState();
  const a = await fake(t, state);
  const b = await fake(t, state);
  const client = createClient({ routers: [a.address, b.address], ...fast });
  t.teardown(() => client.destroy());
  t.is(await client.inc('b', 's'), 1n);
  a.script = () => ({ drop: 'after' });
  const burst = Promise.all(Array.from({ length: 50 }, () => client.inc('b', 's')));
  const values = await burst;
  await a.stop();
  values.push(...(await Promise.all(Array.from({ length: 50 }, () => client.inc('b', 's')))));
  t.is(gaplessDefect([1n, ...values]), null);
  t.true(b.requests >= 100);
  for (const [token, count] of state.applied) t.is(count, 1, token);
  await client.close();
});

test('-NOTLEADER with an address sends this and later calls to that node', async (t) => {
  const state = new FakeState();
  const leader = await fake(t, state);
  const follower = await fake(t, state);
  follower.script = () => ({ reply: `-NOTLEADER 0 ${leader.address}\r\n` });
  const client = createClient({ routers: [follower.address], ...fast });
  t.teardown(() => client.destroy());
  t.is(await client.inc('b', 's'), 1n);
  t.is(await client.inc('b', 's'), 2n);
  t.is(follower.requests, 1);
  t.is(leader.requests, 2);
  await client.close();
});

test('SET is not replayed once it may have been applied', async (t) => {
  const server = await fake(t);
  server.script = (args) => (args[0] === 'set' ? { drop: 'after' } : undefined);
  const client = createClient({ routers: [server.address], ...fast });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync<OutcomeUnknownError>(client.set('b', 's', 5));
  t.is(err?.code, ClientErrorCode.OUTCOME_UNKNOWN);
  t.is(err?.token, undefined);
  t.is(server.requests, 1);
  await client.close();
});

test('calls beyond pending and waiting bounds fail with ERR_QUEUE_FULL', async (t) => {
  const server = await fake(t);
  server.script = () => ({ delayMs: 100 });
  const client = createClient({ routers: [server.address], pendingCallsMax: 2, waitingCallsMax: 1 });
  t.teardown(() => client.destroy());
  const calls = Array.from({ length: 4 }, () => client.inc('b', 's').then((v) => v, (e: { code: string }) => e.code));
  const results = await Promise.all(calls);
  t.deepEqual(results, [1n, 2n, 3n, ClientErrorCode.QUEUE_FULL]);
  await client.close();
});

test('an expired token is ERR_TOKEN_EXPIRED, not retried', async (t) => {
  const server = await fake(t);
  server.script = () => ({ reply: '-ERR token expired (older than the 86400 s window)\r\n' });
  const client = createClient({ routers: [server.address], ...fast });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync(client.inc('b', 's', { id: '1-old' }));
  t.is((err as { code?: string }).code, ClientErrorCode.TOKEN_EXPIRED);
  t.is(server.requests, 1);
  await client.close();
});

test('a retry answered "token expired" after a lost reply is ERR_OUTCOME_UNKNOWN, not a refusal', async (t) => {
  const server = await fake(t);
  // The first attempt applies and its reply is lost; the retry finds the token gone.
  server.script = (_args, n) => (n === 0 ? { drop: 'after' } : { reply: '-ERR ID token expired: older than the retention window or already evicted\r\n' });
  const client = createClient({ routers: [server.address], ...fast });
  t.teardown(() => client.destroy());
  const err = (await t.throwsAsync(client.inc('b', 's'))) as OutcomeUnknownError;
  t.is(err.code, ClientErrorCode.OUTCOME_UNKNOWN);
  t.truthy(err.token);
  t.is((err.cause as ServerError).code, ClientErrorCode.TOKEN_EXPIRED);
  t.false(err.retryable, 'a retry with a forgotten token could only be refused again');
  t.notRegex(err.message, /retry with token/);
  t.is(server.state.values.get('b\u0000s'), 1n, 'the first attempt did apply');
  await client.close();
});

test('bad arguments are ERR_INVALID_ARGUMENT and nothing is sent', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address] });
  t.teardown(() => client.destroy());
  const bad = [
    () => client.inc('', 's'),
    () => client.inc('b', 'x'.repeat(257)),
    () => client.inc('b', 's', { count: 0 }),
    () => client.inc('b', 's', { id: 'x'.repeat(65) }),
    () => client.set('b', 's', -1n),
    () => client.set('b', 's', 2n ** 63n),
    () => client.set('b', 's', 0.5),
  ];
  for (const call of bad) {
    const err = await t.throwsAsync(call());
    t.is((err as { code?: string }).code, ClientErrorCode.INVALID_ARGUMENT);
  }
  t.is(server.requests, 0);
  await client.close();
});

test('close lets calls in flight finish, then refuses with ERR_CLOSED; destroy fails them', async (t) => {
  const server = await fake(t);
  server.script = () => ({ delayMs: 50 });
  const client = createClient({ routers: [server.address] });
  const inFlight = client.inc('b', 's');
  const closing = client.close();
  const refused = await t.throwsAsync(client.inc('b', 's'));
  t.is((refused as { code?: string }).code, ClientErrorCode.CLOSED);
  t.is(await inFlight, 1n);
  await closing;

  server.script = () => ({ hang: true });
  const other = createClient({ routers: [server.address] });
  const requestsBefore = server.requests;
  const hung = other.inc('b', 's');
  // Destroy only once the INC was written and swallowed: then its outcome is truly unknown.
  for (let i = 0; i < 500 && server.requests === requestsBefore; i++) await new Promise((r) => setTimeout(r, 10));
  other.destroy();
  const err = await t.throwsAsync(hung);
  t.is((err as { code?: string }).code, ClientErrorCode.OUTCOME_UNKNOWN);
});
