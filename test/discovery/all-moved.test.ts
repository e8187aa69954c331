/**
 * A discovery-formed shard whose nodes all come back on new addresses must form again: every
 * node announces its id and new address over mDNS. Runs in a private network namespace.
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';

test.before(() => {
  requireNamespaces();
});

interface Result { before: string[]; leader2: string | null; after: string; roles: string[]; log: string }

test('a shard whose nodes all restart on new ports elects a leader again', async (t) => {
  const r = await runInPrivateLoopback<Result>(join(REPO_ROOT, 'test', 'discovery', 'scenario-all-moved.ts'), [], { timeoutMs: 110_000 });
  t.log(JSON.stringify({ before: r.before, leader2: r.leader2, after: r.after, roles: r.roles }));
  t.deepEqual(r.before, ['1', '2', '3']);
  t.not(r.leader2, null, `no leader 30 s after the restart: ${JSON.stringify(r.roles)}\n${r.log}`);
  t.is(r.after, '4');
});
