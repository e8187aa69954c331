/**
 * INCS during a rolling upgrade (node/replication/peer-features.ts): a leader runs an INCS only
 * once every member of its shard has said, in its probe reply, that it applies INCS entries; an
 * older follower would stop at the first one. Real processes, real ports and data dirs. The older
 * member is stood in for by a node of this build that announces no features
 * (SEQDB_TEST_ANNOUNCE_FEATURES=''): the leader cannot tell the two apart, which is the point.
 */
import test from 'ava';
import { Cluster, command, sleep } from './helpers/cluster.ts';

const OLD = 2;

const incs = (...sequences: string[]): string[] => ['INCS', 'b', `${Date.now()}-abcdefghijklmnop+${sequences.length}`, ...sequences];

const newLeader = (c: Cluster): Promise<number> => c.leaderOtherThan(OLD, 3);

test('a leader refuses INCS (FEATUREOFF, nothing taken) while a member is not known to apply it, and runs it once that member is upgraded', async (t) => {
  const older: Record<string, string> = { SEQDB_TEST_ANNOUNCE_FEATURES: '' };
  const c = await Cluster.start(t, { size: 3, envOf: (i) => (i === OLD ? older : {}) });
  const leader = await newLeader(c);
  const port = c.nodes[leader]!.port;
  t.regex(await command(port, ['INC', 'b', 'warm'], 5000), /^:1/);

  // The first INCS makes the leader ask; the older member never says yes: refused every time.
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    t.regex(await command(port, incs('x', 'y'), 2000), /^-FEATUREOFF /);
    await sleep(250);
  }
  t.regex(await command(port, ['GET', 'b', 'x']), /^\$-1/, 'nothing was taken');
  t.is((await c.info(leader))!.incs, 'off', 'INFO says why');
  // A part retry is told to wait and ask again, never to go another way (its INCS may have applied).
  t.regex(await command(port, ['INC', 'b', 'x', 'ID', `${Date.now()}-abcdefghijklmnop+2`, 'PART', '0/2'], 2000), /^-TRYAGAIN /);
  // Plain INCs run as ever.
  t.regex(await command(port, ['INC', 'b', 'x'], 5000), /^:1/);

  // The upgrade: the same node, data dir and id, now announcing what this version has.
  c.kill(OLD, 'SIGKILL');
  while (c.nodes[OLD]!.child !== null) await sleep(20);
  c.spawn(OLD);
  let reply = '';
  const upgraded = Date.now() + 15_000;
  while (Date.now() < upgraded) {
    reply = await command(port, incs('x', 'y'), 5000).catch((err: Error) => `error ${err.message}`);
    if (!reply.startsWith('-FEATUREOFF')) break;
    await sleep(200);
  }
  t.is(reply.replace(/\r\n/g, ' ').trim(), '*2 :2 :1', 'the INCS ran once every member announced it');
  t.is((await c.info(leader))!.incs, 'on');
  // Every replica, the upgraded one included, applied the INCS entry.
  const commit = Number((await c.info(leader))!.commit_index);
  for (const n of [0, 1, 2]) await c.waitApplied(n, commit);
  t.regex(await command(c.nodes[OLD]!.port, ['INFO']), /role:follower/);
});

test('a node that does not announce INCS is not added by a join (it would replay INCS entries); once upgraded it is', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  const port = c.nodes[leader]!.port;
  // Right after the start the leader may not have heard from every member yet (FEATUREOFF).
  let reply = '';
  for (const until = Date.now() + 10_000; Date.now() < until && !reply.startsWith('*2'); await sleep(200)) reply = await command(port, incs('x', 'y'), 5000);
  t.regex(reply, /^\*2/, 'an INCS entry is in the log');
  const older: Record<string, string> = { SEQDB_TEST_ANNOUNCE_FEATURES: '' };
  const joiner = await c.addNode(older);
  const members = async (): Promise<string> => (await c.info(leader))?.members ?? '';
  const refusedUntil = Date.now() + 3000;
  while (Date.now() < refusedUntil) {
    t.is((await members()).split(',').length, 3, 'not a member, not even a learner');
    await sleep(250);
  }
  t.regex(c.nodes[leader]!.output, /not adding \S+: \S+ runs a version without incs/);
  // Upgraded in place (same data dir and id): it joins and catches up, INCS entry included.
  c.kill(joiner, 'SIGKILL');
  while (c.nodes[joiner]!.child !== null) await sleep(20);
  c.spawn(joiner);
  const joined = Date.now() + 20_000;
  while (Date.now() < joined && (await members()).split(',').length !== 4) await sleep(200);
  t.is((await members()).split(',').length, 4);
  await c.waitApplied(joiner, Number((await c.info(leader))!.commit_index));
});
