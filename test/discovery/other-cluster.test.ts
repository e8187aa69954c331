/**
 * A router of cluster "a" must never take numbers from a node of another cluster. Runs in a
 * private network namespace (mDNS never leaves it).
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';

test.before(() => {
  requireNamespaces();
});

interface Result { before: string[]; after: string[]; nodeBCluster: string | null; routerCluster: string; routerShard1: string | null }

test('a router does not hand out numbers of another cluster\'s node that took over a dead node\'s address', async (t) => {
  const r = await runInPrivateLoopback<Result>(join(REPO_ROOT, 'test', 'discovery', 'scenario-other-cluster.ts'), [], { timeoutMs: 110_000 });
  t.log(JSON.stringify(r));
  t.deepEqual(r.before, ['1', '2', '3']);
  // Cluster "a"'s sequence x/s is at 3; a node of cluster "b" knows nothing of it. Any integer
  // answered now came from cluster "b" (and repeats numbers cluster "a" already handed out).
  const integers = r.after.filter((v) => /^-?\d+$/.test(v));
  t.deepEqual(integers, [], `router of cluster a answered ${JSON.stringify(r.after)} from a node of cluster b`);
});
