/**
 * Issue 11's acceptance: in a private network namespace with mDNS discovery, impostor nodes with
 * the right shard id but no (or a wrong) cluster secret announce themselves during INC load.
 * They never become members, the router never routes to them, and clients never see their
 * answers (no repeat, no gap). Fails (never skips) where namespaces are unavailable.
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';

test.before(() => {
  requireNamespaces();
});

interface Result {
  seed: number;
  acks: [string, string][];
  errors: Record<string, number>;
  finals: Record<string, string | null>;
  members: string[];
  leaders: string[];
  routerInfo: Record<string, string>;
  router2Info: Record<string, string>;
  router2Acks: number;
  impostorsUp: string[];
  impostorSequences: string[];
  refusedLogged: boolean;
  routerRefusedLogged: boolean;
  secretLeaked: boolean;
  dumpTail: string;
}

test('impostors with the right shard id and no or a wrong secret never join and never answer clients', async (t) => {
  const seed = Number(process.env.SEQDB_SEED ?? Date.now() % 100_000);
  t.log(`seed ${seed} (SEQDB_SEED=${seed} to replay)`);
  const r = await runInPrivateLoopback<Result>(join(REPO_ROOT, 'test', 'security', 'scenario-impostor.ts'), [String(seed)], { timeoutMs: 100_000 });
  t.log(`${r.acks.length} INCs acknowledged; errors seen by clients: ${JSON.stringify(r.errors)}; impostor roles: ${r.impostorsUp.join(",")}; router refused a node: ${r.routerRefusedLogged}`);
  t.is(r.dumpTail, '');
  t.true(r.acks.length > 50, 'enough load went through');
  // The impostors ran and announced themselves (they answer INFO), yet stay outside.
  t.true(r.impostorsUp.every((role) => role !== ''), `impostors up: ${r.impostorsUp.join(',')}`);
  for (const m of r.members) {
    t.notRegex(m, /:719[01]\b/, `members: ${m}`);
  }
  t.deepEqual(r.impostorSequences, ['0', '0'], 'no INC ever reached an impostor');
  t.notRegex(JSON.stringify(r.routerInfo), /:719[01]\b/);
  // The router started while the rival catalog was up found the real one and served every bucket.
  t.is(r.router2Acks, 16);
  t.notRegex(JSON.stringify(r.router2Info), /:719[01]\b/);
  t.regex(r.router2Info.shard_1 ?? '', /slots=16384/);
  t.is(r.leaders.filter((role) => role === 'leader').length, 1);
  // Every number came from the real shard: per bucket exactly 1..n, the final value n.
  const byBucket = new Map<string, bigint[]>();
  for (const [bucket, value] of r.acks) byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), BigInt(value)]);
  for (const [bucket, values] of byBucket) {
    const sorted = [...values].sort((a, b) => (a < b ? -1 : 1));
    t.deepEqual(sorted, sorted.map((_, i) => BigInt(i + 1)), `repeat or gap in ${bucket}`);
    t.is(r.finals[bucket], String(sorted.length), `final value of ${bucket}`);
  }
  t.true(r.refusedLogged, 'the real nodes logged refusing the impostors');
  t.false(r.secretLeaked, 'the secret never appears in logs');
});
