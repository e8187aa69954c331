/**
 * ClientOptions.mergeIncs (client/inc-merger.ts): concurrent inc() calls of one sequence leave
 * as one `INC ... COUNT k ID <token>` and each caller gets one number, in call order. Against the
 * fake server for what is sent and how failures spread; against a real node for PART retries.
 */
import test, { type ExecutionContext } from 'ava';
import { createClient, ClientErrorCode, type ClientOptions, type OutcomeUnknownError, type ServerError } from '../../client/index.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { FAST_RETRIES, startFake } from './fake-server.ts';
import { gaplessDefect } from './helpers.ts';

const fake = startFake;
const fast = FAST_RETRIES;

/** A fake server and a client merging its inc() calls against it, destroyed at teardown. */
async function mergingClient(t: ExecutionContext, options: Partial<ClientOptions> = {}) {
  const server = await fake(t);
  const client = createClient({ routers: [server.address], mergeIncs: true, ...options });
  t.teardown(() => client.destroy());
  return { server, client };
}

test('concurrent incs of one sequence leave as one block; each caller gets its own number in call order', async (t) => {
  const { server, client } = await mergingClient(t);
  await client.ping();
  const before = server.requests;
  const values = await Promise.all(Array.from({ length: 40 }, () => client.inc('b', 's')));
  t.deepEqual(values, Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
  t.is(server.requests - before, 1, 'one request for 40 calls');
  t.deepEqual([...server.applied.values()], [1], 'one token, applied once');
  // Other sequences, ids, counts and deadlines go apart; a lone call goes as before.
  const mixed = await Promise.all([
    client.inc('b', 's'), client.inc('b', 't'), client.inc('b', 's', { id: 'mine' }), client.inc('b', 's', { count: 3 }), client.inc('b', 's'),
    client.inc('b', 's', { deadlineMs: 9000 }),
  ]);
  t.is(gaplessDefect([...values, mixed[0]!, mixed[4]!, mixed[2]!, mixed[3]! - 2n, mixed[3]! - 1n, mixed[3]!, mixed[5]!]), null);
  t.is(mixed[1], 1n);
  t.is(mixed[4], mixed[0]! + 1n, 'the two plain calls of s share a block, in call order');
  await client.close();
});

test('without mergeIncs every inc is its own request (the default)', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address] });
  t.teardown(() => client.destroy());
  await client.ping();
  const before = server.requests;
  await Promise.all(Array.from({ length: 10 }, () => client.inc('b', 's')));
  t.is(server.requests - before, 10);
});

test('a block refused with a plain error is sent again one call at a time', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast });
  server.script = (args) => (args[0] === 'inc' && args.includes('COUNT') ? { reply: '-ERR increment would overflow\r\n' } : undefined);
  const values = await Promise.all(Array.from({ length: 5 }, () => client.inc('b', 's')));
  t.deepEqual(values, [1n, 2n, 3n, 4n, 5n]);
  server.script = () => ({ reply: '-ERR increment would overflow\r\n' });
  const errors = await Promise.all(Array.from({ length: 3 }, () => client.inc('b', 's').then(() => null, (e: ServerError) => e.code)));
  t.deepEqual(errors, [ClientErrorCode.SERVER, ClientErrorCode.SERVER, ClientErrorCode.SERVER]);
});

test('a block of unknown outcome gives each caller the token and its own part', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast, deadlineMs: 300 });
  server.script = () => ({ reply: '-CLUSTERDOWN no answer within 5000 ms\r\n' });
  const errors = await Promise.all(Array.from({ length: 3 }, () => client.inc('b', 's').then(() => null, (e: OutcomeUnknownError) => e)));
  t.true(errors.every((e) => e?.code === ClientErrorCode.OUTCOME_UNKNOWN));
  t.is(new Set(errors.map((e) => e!.token)).size, 1, 'one token for the block');
  t.deepEqual(errors.map((e) => e!.part), [0, 1, 2].map((index) => ({ index, count: 3 })));
  t.regex(errors[0]!.token!, /^\d{13}-[A-Za-z0-9_-]{16}~3$/, 'a block token');
  await t.throwsAsync(client.inc('b', 's', { part: { index: 0, count: 3 } }), { code: ClientErrorCode.INVALID_ARGUMENT });
  await t.throwsAsync(client.inc('b', 's', { id: 'x', part: { index: 3, count: 3 } }), { code: ClientErrorCode.INVALID_ARGUMENT });
  // The block's token alone would let the three callers share one number: refused before sending.
  const sent = server.requests;
  await t.throwsAsync(client.inc('b', 's', { id: errors[0]!.token! }), { code: ClientErrorCode.INVALID_ARGUMENT });
  await t.throwsAsync(client.inc('b', 's', { id: errors[0]!.token!, part: { index: 0, count: 2 } }), { code: ClientErrorCode.INVALID_ARGUMENT });
  t.is(server.requests, sent);
});

test('an error after a reply that may have been lost goes to every caller as an unknown outcome: nothing is re-sent', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast });
  let incs = 0;
  server.script = (args) => {
    if (args[0] !== 'inc') return undefined;
    incs++;
    return incs === 1 ? { drop: 'after' } : { reply: '-ERR increment would overflow\r\n' };
  };
  const errors = await Promise.all(Array.from({ length: 3 }, () => client.inc('b', 's').then(() => null, (e: ServerError) => e.code)));
  // The block may have applied (it did): its retry's error proves nothing, so every caller is
  // told the outcome is unknown, with its token and part to retry with.
  t.deepEqual(errors, [ClientErrorCode.OUTCOME_UNKNOWN, ClientErrorCode.OUTCOME_UNKNOWN, ClientErrorCode.OUTCOME_UNKNOWN]);
  t.is(incs, 2, 'the block and its retry, no single re-sends');
  t.is(server.values.get('b\u0000s'), 3n, 'the block had applied: its numbers are not handed out twice');
});

test('close() right after inc() lets the merged calls go out; merged calls are bounded like calls', async (t) => {
  const server = await fake(t);
  const client = createClient({ routers: [server.address], mergeIncs: true });
  const calls = [client.inc('b', 's'), client.inc('b', 's')];
  await client.close();
  t.deepEqual(await Promise.all(calls), [1n, 2n]);
  const small = createClient({ routers: [server.address], mergeIncs: true, pendingCallsMax: 1, waitingCallsMax: 2 });
  t.teardown(() => small.destroy());
  const settled = await Promise.allSettled(Array.from({ length: 5 }, () => small.inc('b', 'q')));
  t.deepEqual(settled.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as { code: string }).code)), [1n, 2n, 3n, ClientErrorCode.QUEUE_FULL, ClientErrorCode.QUEUE_FULL]);
});

test('a merged call keeps the deadline it was made with: a block has its earliest', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast });
  server.script = (args) => (args[0] === 'inc' ? { reply: '-TRYAGAIN busy\r\n' } : undefined);
  const started = Date.now();
  const results = await Promise.all([client.inc('b', 's', { deadlineMs: 300 }), client.inc('b', 's', { deadlineMs: 5000 })].map((p) => p.then(() => null, (e: { code: string }) => e.code)));
  const tookMs = Date.now() - started;
  // Both end at the earliest deadline: ERR_TIMEOUT, or ERR_OUTCOME_UNKNOWN when an attempt was
  // still in flight then (a busy box: it may have applied as far as the client can tell).
  const deadlinePassed: string[] = [ClientErrorCode.TIMEOUT, ClientErrorCode.OUTCOME_UNKNOWN];
  t.true(results.every((r) => r !== null && deadlinePassed.includes(r)), JSON.stringify(results));
  t.is(results[0], results[1], 'one block, one outcome');
  t.true(tookMs < 1500, `took ${tookMs} ms`);
});

test('a real node: merged calls, then each part of a block retried alone gets its own number once', async (t) => {
  const node = await startTestNode(t);
  const client = createClient({ routers: [`127.0.0.1:${node.address.port}`], mergeIncs: true });
  t.teardown(() => client.destroy());
  const values = await Promise.all(Array.from({ length: 64 }, () => client.inc('b', 's')));
  t.deepEqual(values, Array.from({ length: 64 }, (_, i) => BigInt(i + 1)));
  const id = `${Date.now()}-parts`;
  t.is(await client.inc('b', 's', { id, part: { index: 2, count: 4 } }), 67n, 'takes the block 65..68');
  t.is(await client.inc('b', 's', { id, part: { index: 0, count: 4 } }), 65n);
  t.is(await client.inc('b', 's', { id, part: { index: 2, count: 4 } }), 67n);
  t.is(await client.inc('b', 's', { id, count: 4 }), 68n);
  t.is(await client.get('b', 's'), 68n);
  await client.close();
});

test('concurrent incs of several sequences of one bucket leave as one INCS; other buckets go apart', async (t) => {
  const { server, client } = await mergingClient(t);
  await client.ping();
  const before = server.requests;
  const order = ['x', 'y', 'x', 'z'];
  const values = await Promise.all([...order.map((s) => client.inc('b', s)), client.inc('other', 'x')]);
  t.deepEqual(values, [1n, 1n, 2n, 1n, 1n]);
  t.is(server.requests - before, 2, 'one INCS for bucket b, one INC for bucket other');
  const tokens = [...server.applied.keys()].filter((k) => k.includes('+'));
  t.is(tokens.length, 1);
  t.regex(tokens[0]!, /^\d{13}-[A-Za-z0-9_-]{16}\+4$/, 'a multi-sequence block token');
});

test('an INCS of unknown outcome gives each caller the token and its part; a server without INCS gets the calls one at a time', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast, deadlineMs: 300 });
  server.script = () => ({ reply: '-CLUSTERDOWN no answer within 5000 ms\r\n' });
  const errors = await Promise.all(['x', 'y'].map((s) => client.inc('b', s).then(() => null, (e: OutcomeUnknownError) => e)));
  t.true(errors.every((e) => e?.code === ClientErrorCode.OUTCOME_UNKNOWN));
  t.deepEqual(errors.map((e) => e!.part), [0, 1].map((index) => ({ index, count: 2 })));
  t.regex(errors[0]!.token!, /\+2$/);
  // The INCS token alone, or with a COUNT, would let the callers share one number: refused before sending.
  const sent = server.requests;
  await t.throwsAsync(client.inc('b', 'x', { id: errors[0]!.token! }), { code: ClientErrorCode.INVALID_ARGUMENT });
  await t.throwsAsync(client.inc('b', 'x', { id: errors[0]!.token!, count: 2 }), { code: ClientErrorCode.INVALID_ARGUMENT });
  t.is(server.requests, sent);

  const old = await fake(t);
  const older = createClient({ routers: [old.address], mergeIncs: true, ...fast });
  t.teardown(() => older.destroy());
  let incsSent = 0;
  old.script = (args) => (args[0] === 'incs' ? (incsSent++, { reply: "-ERR unknown command 'INCS'\r\n" }) : undefined);
  t.deepEqual(await Promise.all(['x', 'y', 'x'].map((s) => older.inc('b', s))), [1n, 1n, 2n]);
  t.deepEqual(await Promise.all(['x', 'y'].map((s) => older.inc('b', s))), [3n, 2n]);
  t.is(incsSent, 1, 'after the refusal only blocks of one sequence are merged, for a while');
});

test('an INCS refused as FEATUREOFF (a shard with an older member) goes one call at a time, and INCS again 2 s later', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast });
  let off = true;
  let incsSent = 0;
  server.script = (args) => (args[0] === 'incs' ? (incsSent++, off ? { reply: '-FEATUREOFF INCS is off on this shard until every member is known to run a version that applies it\r\n' } : undefined) : undefined);
  t.deepEqual(await Promise.all(['x', 'y'].map((s) => client.inc('b', s))), [1n, 1n]);
  t.deepEqual(await Promise.all(['x', 'y'].map((s) => client.inc('b', s))), [2n, 2n]);
  t.is(incsSent, 1, 'no INCS right after the refusal');
  off = false;
  await new Promise((resolve) => setTimeout(resolve, 2100));
  t.deepEqual(await Promise.all(['x', 'y'].map((s) => client.inc('b', s))), [3n, 3n]);
  t.is(incsSent, 2, 'the pause after FEATUREOFF is short');
});

test('FEATUREOFF after a TRYAGAIN (nothing applied anywhere): the calls go one at a time', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast });
  let incs = 0;
  server.script = (args) => {
    if (args[0] !== 'incs') return undefined;
    incs++;
    return { reply: incs === 1 ? '-TRYAGAIN slot moving\r\n' : '-FEATUREOFF INCS is off on this shard\r\n' };
  };
  t.deepEqual(await Promise.all(['x', 'y'].map((s) => client.inc('b', s))), [1n, 1n]);
  t.is(incs, 2);
});

test('FEATUREOFF after an INCS attempt that may have applied: the same INCS is asked again, never sent one call at a time', async (t) => {
  const { server, client } = await mergingClient(t, { ...fast, deadlineMs: 3000 });
  let incs = 0;
  server.script = (args) => {
    if (args[0] !== 'incs') return undefined;
    incs++;
    if (incs === 1) return { drop: 'after' }; // applied, its reply lost
    return incs < 4 ? { reply: '-FEATUREOFF INCS is off on this shard until every member is known to run a version that applies it\r\n' } : undefined;
  };
  t.deepEqual(await Promise.all(['x', 'y'].map((s) => client.inc('b', s))), [1n, 1n], 'the numbers the first attempt took');
  t.is(incs, 4, 'the INCS and its retries with one token, no call sent alone');
  t.is(server.values.get('b\u0000x'), 1n);
  t.is(server.values.get('b\u0000y'), 1n);
});

test('a real node: merged calls of several sequences, then each part of an INCS retried alone gets its own number once', async (t) => {
  const node = await startTestNode(t);
  const client = createClient({ routers: [`127.0.0.1:${node.address.port}`], mergeIncs: true });
  t.teardown(() => client.destroy());
  const sequences = Array.from({ length: 40 }, (_, i) => `s${i % 7}`);
  const values = await Promise.all(sequences.map((s) => client.inc('b', s)));
  for (let k = 0; k < 7; k++) {
    const mine = values.filter((_, i) => sequences[i] === `s${k}`);
    t.deepEqual(mine, mine.map((_, i) => BigInt(i + 1)), `s${k}: 1..n in call order`);
  }
  const id = `${Date.now()}-abcdefghijklmnop+3`;
  t.is(await client.inc('b', 's1', { id, part: { index: 1, count: 3 } }), 7n, 'part 1 alone: s1 had 6');
  t.is(await client.inc('b', 's1', { id, part: { index: 1, count: 3 } }), 7n, 'once');
  t.is(await client.get('b', 's1'), 7n);
  await client.close();
});
