/**
 * A node's saved peer records (the members' addresses, node/replication/peer-records.ts) while its
 * Raft metadata store fails a write (EIO): the save is tried again once the disk heals, so the
 * records a restart reads are not stale. (Each record was saved once per change: a failed save
 * was only logged, and the change never saved.) A store that keeps failing (LMDB refuses every
 * transaction once its meta-page write failed, a review) stops the node, as any Raft storage write
 * does.
 */
import test from 'ava';
import { join } from 'node:path';
import { open } from 'lmdb';
import { ioFaultLibrary } from '../helpers/io-fault.ts';
import { sleep } from '../replication/helpers/cluster.ts';
import { exitOf, faultedShard } from './fault-shard.ts';

const lib = ioFaultLibrary();

(lib === null ? test.skip : test)('a members record whose save failed (EIO) is saved once the disk heals', async (t) => {
  t.timeout(120_000);
  // No snapshot in the test's time: the metadata store is written only by the peer records.
  const { c, faults } = await faultedShard(t, lib!, 'raft/data.mdb', { args: ['--snapshot-entries', '1000000'] });
  const leader = await c.waitForLeader(3);
  const f = c.nodes.find((n) => n.index !== leader)!.index;
  await sleep(1500); // the first records saved
  faults[f]!.arm();
  const added = await c.addNode();
  const addedId = await waitFor(async () => (await c.info(added))?.node_id);
  // The follower applied the new member, and its save of the record failed.
  await waitFor(() => (c.nodes[f]!.output.includes('saving members failed') ? true : undefined));
  faults[f]!.heal();
  await sleep(2500); // saved again within a second or two
  t.not(c.nodes[f]!.child, null, 'the follower kept running');
  c.kill(f, 'SIGKILL');
  await sleep(300);
  const env = open({ path: join(c.nodes[f]!.dataDir, 'raft'), readOnly: true, maxDbs: 4 });
  t.teardown(() => env.close());
  const saved = env.openDB<{ members: Record<string, string> }, string>('meta', {}).get('members');
  t.truthy(saved?.members[addedId], `the saved members record names the new member ${addedId}: ${JSON.stringify(saved)}`);
});

(lib === null ? test.skip : test)('a Raft metadata store whose writes keep failing (EIO) stops the node after five failed saves in a row', async (t) => {
  t.timeout(120_000);
  const { c, faults } = await faultedShard(t, lib!, 'raft/data.mdb', { args: ['--snapshot-entries', '1000000'] });
  const leader = await c.waitForLeader(3);
  const f = c.nodes.find((n) => n.index !== leader)!.index;
  await sleep(1500);
  const exited = exitOf(c, f, 30_000);
  faults[f]!.arm();
  await c.addNode();
  const code = await exited; // the disk never heals
  t.not(code, 'running', `a node whose Raft metadata store is broken kept running: ${c.nodes[f]!.output.split('\n').filter((l) => l.includes('saving')).slice(0, 6).join('\n').slice(0, 1500)}`);
  t.not(code, 0);
  // Members and peer features are saved alike (peer-records.ts); whichever reaches five first stops it
  // (a CI run stopped on peer features).
  t.regex(c.nodes[f]!.output, /saving (members|peer features) failed 5 times in a row/);
});

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100)) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  throw new Error('timed out');
}
