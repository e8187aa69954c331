/**
 * Gapless series through a replicated shard of 3 real `seqdb node` processes: kill -9 the leader
 * under RESERVE/INC/CONFIRM/VOID load with ID retries that follow NOTLEADER to the new leader.
 * Afterwards every number 1..value is in exactly one state, none was handed out twice, none was
 * lost, and the restarted node catches up with the trail.
 */
import test from 'ava';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';

const TTL_SECONDS = 3;
const RETRYABLE = /^-(NOTLEADER|TRYAGAIN|BUSY|CLUSTERDOWN)|retry only with the same ID token|shutting down/;

/** Sends `args` until a reply that is not a leadership/availability problem, trying every node. */
async function call(c: Cluster, args: string[], deadlineMs: number): Promise<string> {
  let hint = 0;
  let last = '';
  while (Date.now() < deadlineMs) {
    const node = c.nodes[hint % c.nodes.length]!;
    try {
      const reply = await command(node.port, args, 2000);
      if (!RETRYABLE.test(reply)) return reply;
      last = reply;
      const leader = /^-NOTLEADER \S+ 127\.0\.0\.1:(\d+)/.exec(reply);
      const at = leader === null ? -1 : c.nodes.findIndex((n) => n.port === Number(leader[1]));
      hint = at >= 0 ? at : hint + 1;
      if (at < 0) await sleep(50);
    } catch (error) {
      last = (error as Error).message;
      hint++;
      await sleep(50);
    }
  }
  throw new Error(`no answer to ${args.join(' ')} before the deadline (last: ${last.trim()})`);
}

interface Ledger {
  readonly numbers: Map<string, { n: bigint; inc: boolean }>;
  readonly confirmed: Set<bigint>;
  readonly voided: Set<bigint>;
}

async function worker(c: Cluster, w: number, ledger: Ledger, stop: { atMs: number }): Promise<void> {
  for (let i = 0; i < 1000 && Date.now() < stop.atMs; i++) {
    const token = `${Date.now()}-f${w}-${i}`;
    const inc = i % 4 === 3;
    const args = inc ? ['INC', 'b', 'inv', 'ID', token] : ['RESERVE', 'b', 'inv', 'TTL', String(TTL_SECONDS), 'REF', token, 'ID', token];
    const reply = await call(c, args, stop.atMs + 15_000);
    const match = /^:(\d+)\r\n$/.exec(reply);
    if (match === null) throw new Error(`${args.join(' ')} -> ${reply}`);
    const n = BigInt(match[1]!);
    ledger.numbers.set(token, { n, inc });
    if (inc || i % 4 === 2) continue; // INC, or a reservation left to run out
    const confirm = i % 4 === 0;
    const close = confirm ? ['CONFIRM', 'b', 'inv', String(n), 'REF', token] : ['VOID', 'b', 'inv', String(n), 'REASON', 'test'];
    const closed = await call(c, close, stop.atMs + 15_000);
    // A retried CONFIRM may find that the reservation ran out while the shard had no leader.
    if (closed === '+OK\r\n') (confirm ? ledger.confirmed : ledger.voided).add(n);
    else if (!/^-ERR VOIDED /.test(closed)) throw new Error(`${close.join(' ')} -> ${closed}`);
  }
}

/** The rows of an AUDIT reply in wire text: [number, state] pairs. */
function auditStates(wire: string): [bigint, string][] {
  const out: [bigint, string][] = [];
  const row = /\*6\r\n:(\d+)\r\n\$\d+\r\n([a-z]+)\r\n/g;
  for (let m = row.exec(wire); m !== null; m = row.exec(wire)) out.push([BigInt(m[1]!), m[2]!]);
  return out;
}

test('3-node shard: kill -9 the leader under series load; every number in exactly one state', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  // Followers that never heard the leader announce its features would refuse series commands
  // as leaders until it is back (a fresh-clone CI run killed it within a second of the start).
  await c.waitFeatures();
  t.is(await call(c, ['SEQ.RETAIN', 'b', 'inv', '0'], Date.now() + 10_000), '+OK\r\n');
  const ledger: Ledger = { numbers: new Map(), confirmed: new Set(), voided: new Set() };
  const stop = { atMs: Date.now() + 30_000 };
  const load = Promise.all([0, 1, 2, 3].map((w) => worker(c, w, ledger, stop)));
  // Kill -9 the leader once some numbers went out (however busy the machine is), then load on for 2.5 s.
  const killBy = Date.now() + 8000;
  while (ledger.numbers.size < 60 && Date.now() < killBy) await sleep(50);
  const before = ledger.numbers.size;
  c.kill(leader, 'SIGKILL');
  stop.atMs = Date.now() + 2500;
  await load;
  t.log(`${ledger.numbers.size} numbers (${before} before the kill), ${ledger.confirmed.size} confirmed, ${ledger.voided.size} voided`);
  t.true(ledger.numbers.size > before, 'the shard kept serving after the kill');

  await sleep(TTL_SECONDS * 1000 + 200);
  const deadline = Date.now() + 15_000;
  const value = BigInt(/^:(\d+)/.exec(await call(c, ['GET', 'b', 'inv'], deadline))![1]!);
  const audit = await call(c, ['AUDIT', 'b', 'inv', 'FROM', '1', 'TO', String(value)], deadline);
  const rows = auditStates(audit);
  t.deepEqual(rows.map(([n]) => n), Array.from({ length: Number(value) }, (_, i) => BigInt(i + 1)));

  const handedOut = [...ledger.numbers.values()].map((e) => e.n);
  t.is(new Set(handedOut).size, handedOut.length, 'a number was handed out twice');
  const sorted = [...handedOut].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.deepEqual(sorted, rows.map(([n]) => n), 'a number was lost (or handed out unseen)');
  const incs = new Set([...ledger.numbers.values()].filter((e) => e.inc).map((e) => e.n));
  for (const [n, state] of rows) {
    t.true(['used', 'void', 'inc'].includes(state), `number ${n} is ${state}`);
    t.is(state === 'inc', incs.has(n), `number ${n} is ${state}`);
    if (ledger.confirmed.has(n)) t.is(state, 'used', `confirmed ${n}`);
    if (ledger.voided.has(n)) t.is(state, 'void', `voided ${n}`);
  }

  // The killed node restarts, catches up, and as leader would answer the same trail.
  const newLeader = await c.waitForLeader(3, 10_000, c.alive().map((n) => n.index));
  const target = Number((await c.info(newLeader))!.commit_index);
  c.spawn(leader);
  t.is((await c.waitApplied(leader, target)).role, 'follower');
});
