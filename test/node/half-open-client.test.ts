/**
 * A client whose host vanishes (no FIN, no RST: power loss, a NAT or firewall that forgets the
 * flow) held its connection on a SeqDB server forever: client sockets had no TCP keepalive and
 * the idle timeout is off by default, so each such client kept one of the --maxclients slots and
 * a descriptor until every new client got -BUSY (a soak review). Client sockets now get TCP
 * keepalive after `--tcp-keepalive` idle seconds (default 300, as Redis's tcp-keepalive).
 *
 * Each case runs in its own network namespace (node/scenario-half-open.ts) whose keepalive
 * sysctls probe every 1 s, 3 times; the clients' packets are dropped by nftables, then their
 * sockets destroyed. The cases run at once: each has its own namespace, and they mostly wait.
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';

interface Result { fresh: string; before: number; during: number; after: number; keepaliveTimers: number; serverSockets: number }

const scenario = join(REPO_ROOT, 'test/node/scenario-half-open.ts');

for (const mode of ['dev', 'router'] as const) {
  test(`vanished clients are closed by TCP keepalive (${mode === 'dev' ? 'seqdb dev' : 'the router of seqdb dev --nodes 3'}, --tcp-keepalive 2)`, async (t) => {
    requireNamespaces();
    t.timeout(120_000);
    const r = await runInPrivateLoopback<Result>(scenario, [mode, '20', '15000', '-', '2'], { timeoutMs: 100_000 });
    t.is(r.during, r.before + 20, JSON.stringify(r));
    t.is(r.after, r.before, `vanished clients still held: ${JSON.stringify(r)}`);
    t.true(r.fresh.startsWith(':'));
  });
}

test('by default every client socket is probed (keepalive timer on), so vanished clients cannot fill --maxclients for good', async (t) => {
  requireNamespaces();
  t.timeout(120_000);
  const r = await runInPrivateLoopback<Result>(scenario, ['dev', '20', '3000', '-', '-'], { timeoutMs: 100_000 });
  t.true(r.serverSockets >= 20, JSON.stringify(r));
  t.is(r.keepaliveTimers, r.serverSockets, `sockets without a keepalive timer: ${JSON.stringify(r)}`);
});

test('--maxclients full of vanished clients frees itself (--maxclients 20 --tcp-keepalive 2)', async (t) => {
  requireNamespaces();
  t.timeout(120_000);
  // Up to 40 s (it ends as soon as a new client is served, ~5 s): 15 s once ran out in a full CI run.
  const r = await runInPrivateLoopback<Result>(scenario, ['dev', '20', '40000', '20', '2'], { timeoutMs: 100_000 });
  t.true(r.fresh.startsWith(':'), `a new client after 20 clients vanished got: ${r.fresh}`);
});
