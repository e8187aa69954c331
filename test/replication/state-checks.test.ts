import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, command, sleep } from './helpers/cluster.ts';

const CHECK_EVERY = 20;

async function incs(c: Cluster, leader: number, n: number, prefix: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const reply = (await command(c.nodes[leader]!.port, ['INC', 'b', `${prefix}${i % 7}`], 5000)).trim();
    if (!reply.startsWith(':')) throw new Error(`INC answered ${reply}`);
  }
}

/** Polls INFO of node i until `ok` holds for it. */
/** `work` runs between polls (more writes: more checkpoints, a node may skip one). */
async function infoUntil(c: Cluster, i: number, ok: (info: Record<string, string>) => boolean, what: string, work?: () => Promise<void>, withinMs = 40_000): Promise<Record<string, string>> {
  let last: Record<string, string> | null = null;
  for (const deadline = Date.now() + withinMs; Date.now() < deadline; await (work?.() ?? sleep(200))) {
    last = await c.info(i);
    if (last !== null && ok(last)) return last;
  }
  throw new Error(`node ${i}: ${what} not seen within ${withinMs} ms: ${JSON.stringify(last)}\n${c.dump()}`);
}

test('replicas digest their states at the same indexes and agree: through a transfer, a restart, snapshots and a late joiner', async (t) => {
  t.timeout(180_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--state-check-entries', String(CHECK_EVERY), '--snapshot-entries', '50'] });
  let leader = await c.waitForLeader(3);
  await incs(c, leader, 60, 'a');
  leader = await c.leaderOtherThan(leader, 3);
  await incs(c, leader, 60, 'b');
  const follower = c.nodes.find((n) => n.index !== leader)!.index;
  c.kill(follower, 'SIGKILL');
  await incs(c, leader, 120, 'c'); // it comes back behind a snapshot: installed, not replayed
  c.spawn(follower);
  const added = await c.addNode();
  await c.waitForLeader(4, 30_000);
  await incs(c, leader, 80, 'd');
  for (const n of c.nodes) {
    const info = await infoUntil(c, n.index, (i) => Number(i.state_checks_agreed) >= 2, 'two agreeing comparisons', () => incs(c, leader, 5, 'e'));
    t.is(info.state_check_mismatches, '0', `node ${n.index}`);
    t.is(info.state_damaged, '0', `node ${n.index}`);
    t.is(Number(info.state_check_last_index) % CHECK_EVERY, 0);
  }
  t.true(Number((await c.info(added))!.state_checks_agreed) >= 2, 'the late joiner compares too');
});

test('a sequence value changed on one replica\'s disk is found: that replica calls its state damaged and hands its leadership over', async (t) => {
  t.timeout(180_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--state-check-entries', String(CHECK_EVERY)] });
  let leader = await c.waitForLeader(3);
  // A value whose 8 bytes are easy to find in the state file.
  const value = 0x1122334455667788n;
  t.is((await command(c.nodes[leader]!.port, ['SET', 'b', 'v', String(value)], 5000)).trim(), '+OK');
  await incs(c, leader, 45, 'a');
  const victim = c.nodes.find((n) => n.index !== leader)!;
  await c.waitApplied(victim.index, Number((await c.info(leader))!.applied_index));
  await infoUntil(c, victim.index, (i) => Number(i.state_checks_agreed) >= 1, 'an agreeing comparison before the damage', () => incs(c, leader, 5, 'p'));
  c.kill(victim.index, 'SIGTERM');
  for (const deadline = Date.now() + 15_000; victim.child !== null && Date.now() < deadline;) await sleep(100);
  t.is(victim.child, null);

  const file = join(victim.dataDir, 'lmdb', 'data.mdb');
  const bytes = readFileSync(file);
  const needle = Buffer.alloc(8);
  needle.writeBigUInt64BE(value);
  let flipped = 0;
  for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
    bytes[at + 7] ^= 0x01; // 0x..88 -> 0x..89: the next INC would skip a number there
    flipped++;
  }
  t.true(flipped >= 1, 'the value was found in the state file');
  writeFileSync(file, bytes);

  c.spawn(victim.index);
  await c.waitForLeader(3);
  // Between polls: more writes through whoever leads (a moving leadership may refuse one: wait).
  const more = (): Promise<void> => c.waitForLeader(3).then((l) => incs(c, l, 5, 'b')).catch(() => sleep(200));
  const damaged = await infoUntil(c, victim.index, (i) => Number(i.state_damaged) > 0, 'state_damaged', more);
  t.true(Number(damaged.state_check_mismatches) >= 2, 'it differs from both others');
  t.regex(victim.output, /state check failed: this node's state at index \d+ differs from the one a majority/);
  const status = spawnSync(process.execPath, ['bin/seqdb.js', 'status', '--router', victim.addr], { encoding: 'utf8', timeout: 30_000 });
  t.is(status.status, 1, 'seqdb status: unhealthy');
  t.regex(status.stdout, /! state damaged: it differs from the state a majority of the voters hold at index \d+/);
  const victimId = damaged.node_id!;
  for (const n of c.nodes.filter((x) => x.index !== victim.index)) {
    const info = await infoUntil(c, n.index, (i) => Number(i.state_check_mismatches) >= 1, 'a mismatch', more);
    t.is(info.state_damaged, '0', 'the healthy ones are not damaged');
    t.regex(n.output, new RegExp(`state check failed: the state at index \\d+ differs from node ${victimId}'s`));
  }

  // Made leader, it hands the leadership over within about a second.
  leader = await c.waitForLeader(3);
  const reply = (await command(c.nodes[leader]!.port, ['SEQDB.TRANSFER', victimId], 5000)).trim();
  t.true(reply === '+OK' || reply.startsWith('-TRYAGAIN'), reply);
  // While it leads (until its next second's handover) it hands out nothing from its state.
  const asked = (await command(victim.port, ['INC', 'b', 'v'], 5000)).trim();
  t.false(asked.startsWith(':'), `the damaged node answered ${asked}`);
  t.regex(asked, /^-(TRYAGAIN|NOTLEADER|MOVED)/);
  await sleep(2500);
  const now = await c.waitForLeader(3);
  t.not(now, victim.index, 'the damaged node does not keep the leadership');
  t.regex(victim.output, /handing leadership to \S+: this node's state is damaged/);
  t.is((await command(c.nodes[now]!.port, ['GET', 'b', 'v'], 5000)).trim(), `:${value}`, 'the shard serves the right value');

  // The repair the README gives: stop it, delete its state, start it.
  c.kill(victim.index, 'SIGTERM');
  for (const deadline = Date.now() + 15_000; victim.child !== null && Date.now() < deadline;) await sleep(100);
  rmSync(join(victim.dataDir, 'lmdb'), { recursive: true, force: true });
  victim.output = '';
  c.spawn(victim.index);
  const repaired = await infoUntil(c, victim.index, (i) => Number(i.state_checks_agreed) >= 2, 'agreeing comparisons after the rebuild', more);
  t.is(repaired.state_damaged, '0');
  t.is(repaired.state_check_mismatches, '0');
  t.notRegex(victim.output, /state check failed/);
});
