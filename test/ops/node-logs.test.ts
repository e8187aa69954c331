/**
 * Structured logs of real node processes: JSON lines carrying node and shard; a leader change
 * and a membership change are logged as events; a peer of another cluster is refused with a
 * warning; --log-level filters.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, seqdb } from './helpers.ts';

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('node logs: leader and membership events, refused peers as warnings, node and shard on every line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-ops-logs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()];
  const a = seqdb(t, ['node', '--shard', 'lg', '--port', String(pa), '--data', join(dir, 'a'), '--join', `127.0.0.1:${pa}`, '--bootstrap-expect', '1']);
  await a.waitFor(/"event":"leader_change"/);
  // A second node joins: the leader logs the membership change.
  seqdb(t, ['node', '--shard', 'lg', '--port', String(pb), '--data', join(dir, 'b'), '--join', `127.0.0.1:${pa},127.0.0.1:${pb}`, '--log-level', 'warn']);
  await a.waitFor(/"event":"membership_change"/);
  // A node of another cluster knocks: refused, and said so at warn level.
  seqdb(t, ['node', '--shard', 'lg', '--cluster', 'other', '--port', String(pc), '--data', join(dir, 'c'),
    '--join', `127.0.0.1:${pa},127.0.0.1:${pc}`, '--bootstrap-expect', '2', '--log-level', 'warn']);
  await a.waitFor(/refused peer/);
  const lines = jsonLines(a.output());
  t.true(lines.length >= 3);
  const nodeId = /seqdb node ([0-9a-f]+) of shard/.exec(a.output())![1];
  for (const l of lines) {
    t.is(l.shard, 'lg');
    if (l.event !== 'shutdown') t.is(l.node, nodeId, JSON.stringify(l));
  }
  const leader = lines.find((l) => l.event === 'leader_change')!;
  t.is(leader.leader, nodeId);
  t.is(typeof leader.term, 'number');
  const member = lines.find((l) => l.event === 'membership_change')!;
  t.is((member.learners as string[]).length + (member.voters as string[]).length, 2);
  const refused = lines.find((l) => /refused peer/.test(String(l.msg)))!;
  t.is(refused.level, 40);
  t.regex(String(refused.msg), /cluster other/);
});
