/**
 * The forwarder against scripted fake nodes on real sockets: NOTLEADER hints, TRYAGAIN, MOVED
 * (bounded, with catalog refreshes), lost connections and timeouts (retried with the SAME token),
 * and CLUSTERDOWN after a bounded wait when no leader answers.
 */
import test from 'ava';
import type { Command } from '../../node/state-machine/command.ts';
import { fakeNode, forwarderFor, type FakeNode } from './fake-node.ts';

const inc = (token?: string, bucket = 'b', sequence = 's'): Command => ({
  type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from(sequence), count: 1, ...(token ? { token: Buffer.from(token) } : {}),
});
const tokenOf = (args: string[]): string | undefined => args[args.indexOf('ID') + 1];

test('follows a NOTLEADER hint; every INC carries a router token', async (t) => {
  let b: FakeNode | undefined;
  const a = await fakeNode(() => `-NOTLEADER 2 ${b!.address}\r\n`);
  b = await fakeNode(() => ':7\r\n');
  const { forwarder, map } = await forwarderFor(t, [a, b]);
  map.entry('2').leader = a.address;
  t.deepEqual(await forwarder.execute(inc()), { type: 'int', value: 7n });
  const sent = b.seen.find((args) => args[0] === 'INC')!;
  t.regex(tokenOf(sent)!, /^\d{13}-[A-Za-z0-9_-]{16}$/);
  t.is(map.get('2')!.leader, b.address);
  // The client's own ID is passed through untouched.
  await forwarder.execute(inc('mine'));
  t.is(tokenOf(b.seen.at(-1)!), 'mine');
});

test('a lost connection and a timed-out attempt are retried with the same token', async (t) => {
  const a = await fakeNode((args) => (args[0] === 'INC' ? 'drop' : '+OK\r\n'));
  const b = await fakeNode((args, n) => (args[0] === 'INC' && n === 1 ? 'ignore' : ':9\r\n'));
  const { forwarder, map } = await forwarderFor(t, [a, b], { attemptTimeoutMs: 300 });
  map.entry('2').leader = a.address;
  t.deepEqual(await forwarder.execute(inc()), { type: 'int', value: 9n });
  const tokens = [...a.seen, ...b.seen].filter((args) => args[0] === 'INC').map(tokenOf);
  t.true(tokens.length >= 3, `attempts: ${tokens.length}`);
  t.is(new Set(tokens).size, 1, 'one token for every attempt');
  t.true(forwarder.stats.retries >= 2);
});

test('TRYAGAIN is retried after a pause', async (t) => {
  const a = await fakeNode((_args, n) => (n <= 2 ? '-TRYAGAIN shard 2 has no slot ownership committed yet\r\n' : ':3\r\n'));
  const { forwarder } = await forwarderFor(t, [a]);
  t.deepEqual(await forwarder.execute(inc()), { type: 'int', value: 3n });
  t.is(a.seen.length, 3);
});

test('SHUTDOWN (and the -ERR text of older nodes) is waited out and retried, a SET too: nothing ran', async (t) => {
  const replies = ['-SHUTDOWN node is shutting down\r\n', '-ERR node is shutting down\r\n'];
  const a = await fakeNode((_args, n) => replies[n - 1] ?? '+OK\r\n');
  const { forwarder } = await forwarderFor(t, [a]);
  t.deepEqual(await forwarder.execute({ type: 'set', bucket: Buffer.from('b'), sequence: Buffer.from('s'), value: 5n }), { type: 'ok' });
  t.is(a.seen.length, 3);
});

test('MOVED refreshes the catalog and is followed at most redirectsMax times', async (t) => {
  const a = await fakeNode(() => '-MOVED 0 ? not owned by shard 2 (epoch 1)\r\n');
  const { forwarder, cat } = await forwarderFor(t, [a], { redirectsMax: 4 });
  const fetchesBefore = cat.seen.length;
  const r = await forwarder.execute(inc());
  t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
  t.is(a.seen.length, 5);
  t.true(cat.seen.length - fetchesBefore >= 4, 'the map was refreshed on each MOVED');
});

test('no leader anywhere: CLUSTERDOWN after the deadline, not a hang', async (t) => {
  const a = await fakeNode(() => '-NOTLEADER 2 ?\r\n');
  const b = await fakeNode(() => '-NOTLEADER 2 ?\r\n');
  const { forwarder } = await forwarderFor(t, [a, b], { deadlineMs: 500 });
  const started = Date.now();
  const r = await forwarder.execute({ type: 'get', bucket: Buffer.from('b'), sequence: Buffer.from('s') });
  const took = Date.now() - started;
  t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
  t.true(took >= 450 && took < 1500, `took ${took} ms`);
});

test('an INC whose outcome is unknown at the deadline names its token in the error', async (t) => {
  const a = await fakeNode((args) => (args[0] === 'INC' ? 'ignore' : '+OK\r\n'));
  const { forwarder } = await forwarderFor(t, [a], { deadlineMs: 400, attemptTimeoutMs: 150 });
  const r = await forwarder.execute(inc());
  t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
  const token = tokenOf(a.seen.find((args) => args[0] === 'INC')!)!;
  t.true(r.type === 'error' && r.message.includes(`retry with ID ${token}`));
});

test('node errors pass through byte-identically as ERR', async (t) => {
  const a = await fakeNode(() => '-ERR increment would overflow\r\n');
  const { forwarder } = await forwarderFor(t, [a]);
  const r = await forwarder.execute(inc());
  t.true(r.type === 'error' && r.message === 'increment would overflow');
  const { errorReply } = await import('../../shared/protocol/index.ts');
  t.is(r.type === 'error' ? errorReply(r) : '', '-ERR increment would overflow\r\n');
});

test('a SET whose connection is lost is not re-sent (it could rewind the sequence)', async (t) => {
  const a = await fakeNode((args) => (args[0] === 'SET' ? 'drop' : '+OK\r\n'));
  const { forwarder } = await forwarderFor(t, [a]);
  const r = await forwarder.execute({ type: 'set', bucket: Buffer.from('b'), sequence: Buffer.from('s'), value: 5n });
  t.is(r.type === 'error' ? r.code : r.type, 'OUTCOME_UNKNOWN');
  t.is(a.seen.filter((args) => args[0] === 'SET').length, 1);
});

const reserve = (token?: string): Command => ({
  type: 'reserve', bucket: Buffer.from('b'), sequence: Buffer.from('s'), ttlSeconds: 60, ...(token ? { token: Buffer.from(token) } : {}),
});

test('a RESERVE without ID gets a router token, reused after a lost connection and a timeout', async (t) => {
  const a = await fakeNode((args) => (args[0] === 'RESERVE' ? 'drop' : '+OK\r\n'));
  const b = await fakeNode((args, n) => (args[0] === 'RESERVE' && n === 1 ? 'ignore' : ':4\r\n'));
  const { forwarder, map } = await forwarderFor(t, [a, b], { attemptTimeoutMs: 300 });
  map.entry('2').leader = a.address;
  t.deepEqual(await forwarder.execute(reserve()), { type: 'int', value: 4n });
  const tokens = [...a.seen, ...b.seen].filter((args) => args[0] === 'RESERVE').map(tokenOf);
  t.true(tokens.length >= 3, `attempts: ${tokens.length}`);
  t.is(new Set(tokens).size, 1, 'one token for every attempt');
  t.regex(tokens[0]!, /^\d{13}-[A-Za-z0-9_-]{16}$/);
  // The client's own ID is passed through untouched.
  await forwarder.execute(reserve('mine'));
  t.is(tokenOf(b.seen.at(-1)!), 'mine');
});

test('a RESERVE whose outcome is unknown is retried with its token, and named at the deadline', async (t) => {
  let unknowns = 0;
  const a = await fakeNode((args) => {
    if (args[0] !== 'RESERVE') return '+OK\r\n';
    // -AMBIGUOUS, and the -ERR text of nodes of before that word (during an upgrade).
    if (++unknowns === 1) return '-AMBIGUOUS leader changed; the write may or may not have applied: retry only with the same ID token\r\n';
    return unknowns === 2 ? '-ERR leader changed; the write may or may not have applied: retry only with the same ID token\r\n' : ':8\r\n';
  });
  const { forwarder } = await forwarderFor(t, [a]);
  t.deepEqual(await forwarder.execute(reserve()), { type: 'int', value: 8n }, 'an unknown outcome is retried, not returned');
  const sent = a.seen.filter((args) => args[0] === 'RESERVE').map(tokenOf);
  t.is(sent.length, 3);
  t.is(new Set(sent).size, 1);

  const c = await fakeNode((args) => (args[0] === 'RESERVE' ? 'ignore' : '+OK\r\n'));
  const second = await forwarderFor(t, [c], { deadlineMs: 400, attemptTimeoutMs: 150 });
  const r = await second.forwarder.execute(reserve());
  t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
  const token = tokenOf(c.seen.find((args) => args[0] === 'RESERVE')!)!;
  t.true(r.type === 'error' && r.message.includes(`RESERVE may have applied: retry with ID ${token}`), r.type === 'error' ? r.message : '');
});

test('a shard whose members all refuse the connection is dialed again after a pause, not in a tight loop', async (t) => {
  const dead = await fakeNode(() => '+OK\r\n');
  const deadAddress = dead.address;
  await dead.close(); // nobody listens there now: ECONNREFUSED at once
  const { forwarder, map } = await forwarderFor(t, [], { deadlineMs: 500, backoffMs: 100 });
  map.addMember(map.entry('2'), deadAddress);
  const r = await forwarder.execute({ type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1 });
  t.is(r.type, 'error');
  t.true(forwarder.stats.retries < 20, `${forwarder.stats.retries + 1} attempts in 500 ms (8,000 before the pause)`);
});

test('a MOVED answer is followed within the deadline even when the catalog does not answer', async (t) => {
  const a = await fakeNode(() => '-MOVED 0 ? not owned by shard 2 (epoch 1)\r\n');
  const { forwarder, cat, map } = await forwarderFor(t, [a], { deadlineMs: 300 });
  // The catalog shard's members accept and never answer (a half-open leader); the seed is gone.
  const silent = await fakeNode(() => 'ignore');
  const silent2 = await fakeNode(() => 'ignore');
  t.teardown(() => Promise.all([silent.close(), silent2.close()]));
  const catalog = map.entry('1');
  catalog.leader = silent.address;
  catalog.members.add(silent2.address);
  await cat.close();
  const started = Date.now();
  const r = await forwarder.execute({ type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1 });
  const tookMs = Date.now() - started;
  t.is(r.type, 'error');
  t.true(tookMs < 800, `answered after ${tookMs} ms with a 300 ms deadline (2,000 before)`);
});

test('an INC that may have applied, then NOSPACE on the retry: asked again, and at the deadline the token to retry with (a review)', async (t) => {
  // NOSPACE is answered before the token is looked at: it says nothing of the first attempt.
  const a = await fakeNode((args, n) => (args[0] !== 'INC' ? '+OK\r\n' : n === 1 ? 'drop' : '-NOSPACE disk space under the reserve (64.0 MiB) on this node; nothing was taken, free space to resume\r\n'));
  const { forwarder, map } = await forwarderFor(t, [a], { deadlineMs: 1500 });
  map.entry('2').leader = a.address;
  const r = await forwarder.execute({ type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1 });
  const incs = a.seen.filter((args) => args[0] === 'INC');
  t.true(incs.length >= 3, `attempts ${incs.length}`);
  const token = incs[0]![incs[0]!.indexOf('ID') + 1]!;
  t.is(r.type, 'error');
  if (r.type === 'error') {
    t.is(r.code, 'CLUSTER_DOWN');
    t.true(r.message.includes(`retry with ID ${token}`), r.message);
  }
});

test('an INC that may have applied, then TOKEN_EXPIRED on the retry (its token forgotten meanwhile): the outcome is unknown, not "expired"', async (t) => {
  const expired = '-ERR ID token expired: older than the retention window or already evicted\r\n';
  const a = await fakeNode((args, n) => (args[0] !== 'INC' ? '+OK\r\n' : n === 1 ? 'drop' : expired));
  const { forwarder, map } = await forwarderFor(t, [a], { deadlineMs: 1500 });
  map.entry('2').leader = a.address;
  const r = await forwarder.execute(inc());
  t.is(r.type === 'error' ? r.code : r.type, 'OUTCOME_UNKNOWN');
  // On a first attempt TOKEN_EXPIRED is what it says: nothing was taken.
  const b = await fakeNode((args) => (args[0] !== 'INC' ? '+OK\r\n' : expired));
  const other = await forwarderFor(t, [b], { deadlineMs: 1500 });
  other.map.entry('2').leader = b.address;
  const first = await other.forwarder.execute(inc(`${Date.now()}-mine`));
  t.true(first.type === 'error' && first.code !== 'OUTCOME_UNKNOWN' && /token expired/.test(first.message), JSON.stringify(first));
});

test('NOSPACE on a first attempt is final: nothing was taken', async (t) => {
  const a = await fakeNode((args) => (args[0] !== 'INC' ? '+OK\r\n' : '-NOSPACE disk space under the reserve (64.0 MiB) on this node; nothing was taken, free space to resume\r\n'));
  const { forwarder, map } = await forwarderFor(t, [a], { deadlineMs: 1500 });
  map.entry('2').leader = a.address;
  const r = await forwarder.execute({ type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1 });
  t.is(r.type === 'error' ? r.code : r.type, 'NO_SPACE');
  t.is(a.seen.filter((args) => args[0] === 'INC').length, 1);
});

test('a RESERVE that may have applied, then FEATUREOFF on the retry (a leader whose members are not all known yet): asked again, and at the deadline the token to retry with', async (t) => {
  // A FEATUREOFF comes before the token is looked at (an older build's leader may answer it to a RESERVE).
  const a = await fakeNode((args, n) => (args[0] !== 'RESERVE' ? '+OK\r\n' : n === 1 ? 'drop' : '-FEATUREOFF series commands are off on this shard until every member is known to run a version that applies them; nothing was taken, retry later\r\n'));
  const { forwarder, map } = await forwarderFor(t, [a], { deadlineMs: 1500 });
  map.entry('2').leader = a.address;
  const r = await forwarder.execute({ type: 'reserve', bucket: Buffer.from('b'), sequence: Buffer.from('s'), ttlSeconds: 60 });
  const sent = a.seen.filter((args) => args[0] === 'RESERVE');
  t.true(sent.length >= 3, `attempts ${sent.length}`);
  t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
  if (r.type === 'error') t.true(r.message.includes(`retry with ID ${sent[0]![sent[0]!.indexOf('ID') + 1]!}`), r.message);
});

test('a command of a bucket sent while an earlier one waits to retry goes after it (a review: pipelined INCs got reversed numbers)', async (t) => {
  // The slot is frozen for the first INC only (a move ends between the two): without lanes the
  // second, sent during the first one's pause, took 1 and the first 2.
  let next = 0;
  let firstSeen = false;
  const a = await fakeNode((args) => {
    if (args[0] !== 'INC') return '+OK\r\n';
    if (tokenOf(args) === 'first' && !firstSeen) {
      firstSeen = true;
      return '-TRYAGAIN slot 1 is moving\r\n';
    }
    return `:${++next}\r\n`;
  });
  const { forwarder } = await forwarderFor(t, [a], { backoffMs: 200, tryAgainBackoffMs: 200 });
  const first = forwarder.execute(inc('first'));
  while (forwarder.bucketsRetrying === 0) await new Promise((r) => setTimeout(r, 5)); // refused: it will retry
  const second = forwarder.execute(inc('second'));
  const other = forwarder.execute(inc('other', 'another bucket'));
  t.deepEqual(await other, { type: 'int', value: 1n }, 'another bucket does not wait');
  t.deepEqual(await first, { type: 'int', value: 2n });
  t.deepEqual(await second, { type: 'int', value: 3n }, 'the later INC of the bucket waited for the retry');
  t.deepEqual(a.seen.filter((x) => x[0] === 'INC').map(tokenOf), ['first', 'other', 'first', 'second']);
});

test('a command held back by a retrying one of its bucket follows it as soon as it goes out again, not after its answer', async (t) => {
  const a = await fakeNode((args) => (tokenOf(args) === 'stuck' ? '-TRYAGAIN slot 1 is moving\r\n' : ':5\r\n'));
  const { forwarder } = await forwarderFor(t, [a], { deadlineMs: 1500, backoffMs: 100, tryAgainBackoffMs: 100 });
  const stuck = forwarder.execute(inc('stuck'));
  while (forwarder.bucketsRetrying === 0) await new Promise((r) => setTimeout(r, 5)); // refused: it retries
  const later = await forwarder.execute(inc('later', 'b', 't'));
  t.deepEqual(later, { type: 'int', value: 5n }, 'answered while the earlier one still retries');
  const tokens = a.seen.map(tokenOf);
  t.deepEqual(tokens.slice(-2), ['stuck', 'later'], 'sent right behind the earlier one\'s next attempt');
  const stuckResult = await stuck;
  t.is(stuckResult.type === 'error' ? stuckResult.code : stuckResult.type, 'CLUSTER_DOWN');
  t.is(forwarder.bucketsRetrying, 0, 'nothing left behind');
});

test('a full connection to the leader (busy: nothing sent) waits for it; it neither drops the leader nor detours through a follower', async (t) => {
  let n = 0;
  let stuckOnce = true;
  // The leader leaves its first INC unanswered (the connection is then stuck until the router drops it).
  const leader = await fakeNode((args) => {
    if (args[0] !== 'INC') return '+OK\r\n';
    if (stuckOnce) return ((stuckOnce = false), 'ignore');
    return `:${++n}\r\n`;
  });
  const follower = await fakeNode(() => `-NOTLEADER 2 ${leader.address}\r\n`);
  const { forwarder, map } = await forwarderFor(t, [leader, follower], { attemptTimeoutMs: 300 }, { inflightMax: 1 });
  map.entry('2').leader = leader.address;
  // Two buckets at once: the second finds the connection full (one request in flight at most).
  const results = await Promise.all([forwarder.execute(inc(undefined, 'b1')), forwarder.execute(inc(undefined, 'b2'))]);
  t.deepEqual(results.map((r) => r.type).sort(), ['int', 'int']);
  // b1 timed out at the leader and may look elsewhere; b2 was never sent anywhere but the leader.
  t.deepEqual(follower.seen.filter((args) => args[0] === 'INC' && args[1] === 'b2'), [], 'b2 never went to the follower');
});
