/**
 * Inside a private network namespace (lo only), cluster "a", shard 1 of three nodes formed by
 * mDNS alone. The whole shard is stopped and started again on new ports (same data dirs), as
 * after a restart where every node got a new address. Each node still announces itself (with
 * its node id) over mDNS. It must elect a leader again: members were dialed only at addresses
 * learned from hellos, so it never did (found by a discovery review).
 */
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult } from '../helpers/netns.ts';
import { call, closePool, info, runMain, scenarioDir, showReply, sleep, start, stopProc, type Proc } from '../router/scenario-util.ts';

const HOST = '127.0.0.1';

runMain(async () => {
  assertIsolatedNamespace();
  const dir = scenarioDir('seqdb-discovery-');
  const launch = (base: number): Proc[] => [0, 1, 2].map((i) => start(`n${i}@${base + i}`,
    ['node', '--cluster', 'a', '--shard', '1', '--host', HOST, '--port', String(base + i), '--data', join(dir, `n${i}`), '--bootstrap-expect', '3']));
  const leaderOf = async (base: number): Promise<string | null> => {
    for (let i = 0; i < 3; i++) if ((await info(`${HOST}:${base + i}`)).role === 'leader') return `${HOST}:${base + i}`;
    return null;
  };
  const waitLeader = async (base: number, ms: number): Promise<string | null> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const l = await leaderOf(base);
      if (l !== null) return l;
      await sleep(250);
    }
    return null;
  };
  const first = launch(7111);
  const leader1 = await waitLeader(7111, 40_000);
  if (leader1 === null) throw new Error('shard never formed');
  const before: string[] = [];
  for (let i = 0; i < 3; i++) {
    // Until the catalog pushed this shard its slots, INC answers TRYAGAIN (nothing taken).
    for (let attempt = 0; attempt < 100; attempt++) {
      const v = showReply(await call(leader1, ['INC', 'x', 's'], 5000));
      if (!v.startsWith('TRYAGAIN')) { before.push(v); break; }
      await sleep(200);
    }
  }
  await sleep(1500); // followers apply, members are saved
  await Promise.all(first.map((p) => stopProc(p, 'SIGTERM')));
  const second = launch(7121);
  const leader2 = await waitLeader(7121, 30_000);
  const after = leader2 === null ? 'no leader' : showReply(await call(leader2, ['INC', 'x', 's'], 5000));
  const infos = await Promise.all([0, 1, 2].map((i) => info(`${HOST}:${7121 + i}`)));
  closePool();
  printResult({ before, leader2, after, roles: infos.map((i) => i.role ?? 'down'), log: second[0]!.output.slice(-1500) });
});
