/**
 * A node of a discovery-formed shard whose data dir was lost, restarted with the command line
 * that formed the shard (--bootstrap-expect 1), must join the shard, not found a second one.
 * Runs in a private network namespace (mDNS never leaves it).
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';

test.before(() => {
  requireNamespaces();
});

interface Result { before: string[]; roles: string[]; after: Record<string, string>; infoBefore: Record<string, string>; aLog: string }

test('a replaced --bootstrap-expect 1 node found by mDNS joins its shard instead of founding a second one', async (t) => {
  const r = await runInPrivateLoopback<Result>(join(REPO_ROOT, 'test', 'discovery', 'scenario-rebootstrap.ts'), [], { timeoutMs: 110_000 });
  t.log(JSON.stringify({ before: r.before, roles: r.roles, after: r.after }));
  t.deepEqual(r.before, ['1', '2', '3']);
  // At most one leader of shard 1 among the three nodes.
  t.true(r.roles.filter((x) => x === 'leader').length <= 1, `two leaders of shard 1: ${JSON.stringify(r.roles)}`);
  // x/s handed out 1, 2, 3: no node may hand out any of them again.
  for (const [address, v] of Object.entries(r.after)) {
    if (/^\d+$/.test(v)) t.true(Number(v) > 3, `${address} handed out ${v} again`);
  }
});
