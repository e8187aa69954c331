/**
 * Retention (SEQ.RETAIN) and AUDIT together: every number 1..value stays accounted for (a record,
 * a plain-INC run, `pre` or `pruned`), and an AUDIT never fails or throws because of what
 * pruning removed, least of all while applying (a throw there stops every replica, at every
 * restart). Cases a review found; the state machine over real LMDB, every command through the log
 * encoding, then the same AUDIT on a real 3-node shard.
 */
import test from 'ava';
import type { CommandResult, ResultItem } from '../../node/state-machine/index.ts';
import { EXPIRY_SWEEP_MAX, PRUNE_MAX } from '../../node/state-machine/series.ts';
import { Cluster, sleep } from '../replication/helpers/cluster.ts';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { T0, int, openStore, type Runner } from './series-store.ts';

async function openRun(t: Parameters<typeof tempDir>[0]): Promise<Runner> {
  return (await openStore(t)).run;
}

function states(result: CommandResult): string[] {
  if (result.type !== 'array') throw new Error(`expected array, got ${JSON.stringify(result)}`);
  return result.value.map((r) => `${(r as ResultItem[])[0]}:${((r as ResultItem[])[1] as Buffer).toString()}`);
}

test('pruning stops at an open reservation for runs too: the INC numbers above it stay in the audit', async (t) => {
  const run = await openRun(t);
  t.is((await run(T0, 'SEQ.RETAIN', 'b', 'inv', '2')).type, 'ok');
  t.is(int(await run(T0, 'RESERVE', 'b', 'inv', 'TTL', '3600')), 1n); // open for an hour
  t.is(int(await run(T0 + 1, 'INC', 'b', 'inv')), 2n);
  t.is(int(await run(T0 + 2000, 'INC', 'b', 'inv')), 3n); // a run of its own (2 s later)
  t.is(int(await run(T0 + 4000, 'INC', 'b', 'inv')), 4n); // the floor is 2 now, but 1 is open
  t.deepEqual(states(await run(T0 + 5000, 'AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '4')), ['1:reserved', '2:inc', '3:inc', '4:inc']);
});

test('an AUDIT whose range holds a reservation due now voids it first, then reads what pruning left', async (t) => {
  const run = await openRun(t);
  // Reservations elsewhere due first, as many as one sweep takes: ours is left to the AUDIT.
  for (let i = 0; i < EXPIRY_SWEEP_MAX; i++) await run(T0, 'RESERVE', 'b', `other${i}`, 'TTL', '1000');
  t.is(int(await run(T0 + 1, 'RESERVE', 'b', 'inv', 'TTL', '1000')), 1n);
  for (const n of [2, 3, 4]) {
    t.is(int(await run(T0 + 2, 'RESERVE', 'b', 'inv', 'TTL', '1000')), BigInt(n));
    t.is((await run(T0 + 3, 'CONFIRM', 'b', 'inv', String(n))).type, 'ok');
  }
  t.is((await run(T0 + 4, 'SEQ.RETAIN', 'b', 'inv', '1')).type, 'ok'); // floor 3, held back by open 1
  const rows = ['1:pruned', '2:pruned', '3:pruned', '4:used'];
  t.deepEqual(states(await run(T0 + 2_000_000, 'AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '4')), rows);
  t.deepEqual(states(await run(T0 + 2_000_001, 'AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '4')), rows, 'the same one entry later');
});

/** 64 reservations elsewhere, a series with PRUNE_MAX runs, an open R, more runs, retention 1. */
async function runsAroundAnOpenReservation(call: (...args: string[]) => Promise<bigint | string>, ttl: string, pause: () => Promise<void>): Promise<{ r: bigint; last: bigint }> {
  for (let i = 0; i < EXPIRY_SWEEP_MAX; i++) await call('RESERVE', 'b', `other${i}`, 'TTL', ttl);
  await call('SEQ.RETAIN', 'b', 'inv', '0');
  for (let i = 0; i < PRUNE_MAX; i++) {
    await call('INC', 'b', 'inv');
    await pause();
  }
  const r = (await call('RESERVE', 'b', 'inv', 'TTL', ttl)) as bigint;
  let last = r;
  for (let i = 0; i < PRUNE_MAX + 6; i++) {
    last = (await call('INC', 'b', 'inv')) as bigint;
    await pause();
  }
  await call('SEQ.RETAIN', 'b', 'inv', '1');
  return { r, last };
}

test('an AUDIT that voids a reservation and so prunes runs it would read answers its rows, never throws', async (t) => {
  const run = await openRun(t);
  let now = T0;
  const call = async (...args: string[]): Promise<bigint | string> => {
    const r = await run((now += 1), ...args);
    if (r.type === 'error') throw new Error(`${args.join(' ')}: ${r.code} ${r.message}`);
    return r.type === 'int' ? r.value : r.type;
  };
  const { r, last } = await runsAroundAnOpenReservation(call, '1000', async () => void (now += 2000)); // each INC its own run
  const audit = await run(now + 2_000_000, 'AUDIT', 'b', 'inv', 'FROM', String(r), 'TO', String(last));
  const rows = states(audit);
  t.is(rows.length, Number(last - r + 1n));
  t.is(rows[0], `${r}:pruned`, 'voided by this AUDIT, then pruned under retention 1');
  t.true(rows.slice(1).every((row) => /:(inc|pruned)$/.test(row)), rows.join(' '));
});

test('a RESERVE refused for OVERFLOW leaves the sequence as it was (SET still works)', async (t) => {
  const run = await openRun(t);
  t.is((await run(T0, 'SET', 'b', 'full', '9223372036854775807')).type, 'ok');
  const r = await run(T0 + 1, 'RESERVE', 'b', 'full', 'TTL', '60');
  t.is(r.type === 'error' ? r.code : r.type, 'OVERFLOW');
  t.is((await run(T0 + 3, 'SET', 'b', 'full', '5')).type, 'ok');
});

test('the same AUDIT on a real 3-node shard: answered, and every replica stays up', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  // Series commands wait (TRYAGAIN) until the leader heard every member say it applies them.
  for (const deadline = Date.now() + 20_000; (await c.info(leader))?.incs !== 'on';) {
    if (Date.now() > deadline) throw new Error('the leader never heard every member');
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = await RespClient.connect(c.nodes[leader]!.port);
  t.teardown(() => client.socket.destroy());
  const call = async (...args: string[]): Promise<bigint | string> => {
    client.write(encodeRequest(...args));
    const reply = await client.next(5000);
    if (reply.startsWith(':')) return BigInt(reply.slice(1).trim());
    if (reply.startsWith('-')) throw new Error(`${args.join(' ')}: ${reply.trim()}`);
    return reply.trim();
  };
  // Long enough for the ~470 sequential writes of the setup on a loaded CI box (4 s was not).
  const ttlS = 12;
  const started = Date.now();
  // Runs are cut by confirmed reservations (wall time is the log's clock here).
  const cut = async (): Promise<void> => {
    const n = await call('RESERVE', 'b', 'inv', 'TTL', '3600');
    await call('CONFIRM', 'b', 'inv', String(n));
  };
  const { r, last } = await runsAroundAnOpenReservation(call, String(ttlS), cut);
  t.true(Date.now() - started < ttlS * 1000, 'set up before the reservations run out');
  await sleep(started + ttlS * 1000 + 1500 - Date.now());
  client.write(encodeRequest('AUDIT', 'b', 'inv', 'FROM', String(r), 'TO', String(last)));
  const audit = await client.next(5000);
  t.true(audit.startsWith('*'), audit.slice(0, 200));
  await sleep(1000);
  t.is(c.alive().length, 3, 'no replica stopped on the committed AUDIT');
  t.is(await call('INC', 'b', 'x'), 1n);
});
