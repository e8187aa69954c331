/**
 * A node's stored snapshot image damaged on disk (bit rot under LMDB, which checks nothing it
 * reads back): one bit of a sequence's value in the image changed.
 * - A follower's, while it was down, the node then rebuilding its state from that image (its
 *   state LMDB, unsynced, is from another boot): it must refuse (CORRUPT: the image's checksum,
 *   snapshot-images.ts) instead of serving the changed number; the shard serves on without it.
 * - The leader's, while it runs, just before it must send the image to a follower that fell
 *   behind its log: it must not send it whole, and it replaces it with a new image of its state
 *   (local-snapshots.ts repair), which the follower installs.
 * Without the checksum the node starts with (or is sent) the sequence one off: a repeated or
 * skipped number once it leads.
 */
import test from 'ava';
import { open } from 'lmdb';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageRef } from '../../node/replication/snapshot-images.ts';
import { exitOf, getOnceLeading } from '../disk/fault-shard.ts';
import { Cluster, RetryingIncClient, command, sleep } from './helpers/cluster.ts';

const SEQ = 'rot-target-sequence';
const INCS = 250;

/** Flips the low bit of SEQ's stored value in the node's current snapshot image; false if not found. */
function rotValue(dataDir: string): boolean {
  const env = open({ path: join(dataDir, 'raft'), maxDbs: 4 });
  try {
    const meta = env.openDB<unknown, string>('meta', {});
    const image = env.openDB<Buffer, string>('image', { encoding: 'binary' });
    const ref = meta.get('imageRef') as ImageRef;
    const name = Buffer.from(SEQ);
    for (let i = 0; i < ref.chunks; i++) {
      const key = `${ref.gen}/${String(i).padStart(6, '0')}`;
      const chunk = Buffer.from(image.get(key)!);
      // The sequence's entry: its key ends with the name, then `u32 8 | u64 value`.
      for (let at = chunk.indexOf(name); at >= 0; at = chunk.indexOf(name, at + 1)) {
        const end = at + name.length;
        if (end + 12 > chunk.length || chunk.readUInt32BE(end) !== 8) continue;
        chunk[end + 11]! ^= 0x01;
        env.transactionSync(() => image.putSync(key, chunk));
        return true;
      }
    }
    return false;
  } finally {
    void env.close();
  }
}

test('a follower whose stored snapshot image rotted on disk refuses to rebuild its state from it; the shard serves on', async (t) => {
  t.timeout(90_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
  const leader = await c.waitForLeader(3);
  const client = new RetryingIncClient(0, c.nodes.map((n) => n.port));
  for (let op = 0; op < INCS; op++) t.not((await client.inc('b', SEQ, op, Date.now() + 10_000)).value, null);
  client.close();
  const victim = c.nodes.find((n) => n.index !== leader)!;
  const commit = Number((await c.infoSoon(leader)).commit_index);
  await c.waitApplied(victim.index, commit);
  for (const deadline = Date.now() + 15_000; Number((await c.infoSoon(victim.index)).first_index) <= 1 && Date.now() < deadline;) await sleep(100);
  t.true(Number((await c.infoSoon(victim.index)).first_index) > 1, 'the follower took a snapshot and compacted its log');

  c.kill(victim.index, 'SIGKILL');
  while (victim.child !== null) await sleep(20);
  t.true(rotValue(victim.dataDir), `${SEQ}'s value was found in the stored image`);
  // Its unsynced state from "another boot": the node rebuilds it from the snapshot and log.
  writeFileSync(join(victim.dataDir, 'lmdb', 'written-by-boot'), 'an-earlier-boot');
  c.spawn(victim.index);
  const exited = await exitOf(c, victim.index, 30_000);
  t.log(`node ${victim.index} ended: ${exited}; its last words: ${victim.output.trim().split('\n').slice(-2).join(' | ').slice(0, 400)}`);
  t.not(exited, 'running', 'the node did not start on a damaged image');
  t.regex(victim.output, /snapshot image \d+ does not match its checksum/);

  const now = await c.waitForLeader(3, 15_000, c.alive().map((n) => n.index));
  t.is((await command(c.nodes[now]!.port, ['INC', 'b', SEQ], 5000)).trim(), `:${INCS + 1}`, 'the shard serves on, numbers unchanged');
});

test('a leader whose stored snapshot image rotted sends none of it whole, takes a new one, and the lagging follower installs that', async (t) => {
  t.timeout(90_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
  const leader = await c.waitForLeader(3);
  const victim = c.nodes.find((n) => n.index !== leader)!;
  const others = c.nodes.filter((n) => n !== victim).map((n) => n.port);
  const client = new RetryingIncClient(0, others);
  for (let op = 0; op < 20; op++) t.not((await client.inc('b', SEQ, op, Date.now() + 10_000)).value, null);
  // The follower goes down; the leader's log moves past what it has (snapshots, compaction).
  await c.waitApplied(victim.index, Number((await c.infoSoon(leader)).commit_index));
  const behind = Number((await c.infoSoon(victim.index)).last_index);
  c.kill(victim.index, 'SIGKILL');
  while (victim.child !== null) await sleep(20);
  // The leader keeps --snapshot-entries entries below its snapshot (snapshot-image.ts): write
  // until its log begins past the follower (bounded).
  let total = 20;
  for (let round = 0; round < 8 && (total < INCS || Number((await c.infoSoon(leader)).first_index) <= behind + 1); round++) {
    for (const end = total + 115; total < end; total++) t.not((await client.inc('b', SEQ, total, Date.now() + 10_000)).value, null);
    for (const deadline = Date.now() + 2000; Number((await c.infoSoon(leader)).first_index) <= behind + 1 && Date.now() < deadline;) await sleep(100);
  }
  client.close();
  t.true(Number((await c.infoSoon(leader)).first_index) > behind + 1, 'the leader compacted past the follower');

  // Rot under the running leader (LMDB takes another process's write), then the follower is back.
  t.true(rotValue(c.nodes[leader]!.dataDir), `${SEQ}'s value was found in the leader's stored image`);
  c.spawn(victim.index);
  const commit = Number((await c.infoSoon(leader)).commit_index);
  await c.waitApplied(victim.index, commit);
  const leaderLog = c.nodes[leader]!.output;
  t.regex(leaderLog, /snapshot image \d+ does not match its checksum/);
  t.regex(leaderLog, /the damaged snapshot image is replaced/);
  t.regex(victim.output, /installed snapshot at index/);
  t.is(await getOnceLeading(c, leader, victim.index, SEQ), `:${total}`, 'the follower holds the numbers as they were');
  t.is((await command(victim.port, ['INC', 'b', SEQ], 5000)).trim(), `:${total + 1}`);
});
