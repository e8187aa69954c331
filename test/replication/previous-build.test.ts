/**
 * A rolling upgrade with a real node of the previous build, not a stand-in: this build's nodes
 * send checksummed peer frames (peer-codec.ts) only to peers that announced `framesums`, so a
 * shard of two nodes of this build and one of the build before checksummed frames (PREVIOUS,
 * unpacked from git into a temp dir) forms and serves INCs through either kind of leader. One
 * more of that build asking to join late is refused since this build writes entries it could not
 * apply (RELEASEPAGE: peer-features.ts ENTRY_FEATURES); before them it joined (a
 * leader of this build refused it once for wanting every announced feature, framesums included,
 * review of stop 44: the refusal must name an entry feature). Nothing any node sends is refused
 * by another.
 * Skipped with a note where the commit is not in the clone (a shallow one).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/netns.ts';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from './helpers/cluster.ts';
import { getOnceLeading } from '../disk/fault-shard.ts';

/** The last build before checksummed peer frames. */
const PREVIOUS = 'dcecb8e5a9ef3ebb7763e7a331854d7029099d22';
const OLD = 2;

const have = spawnSync('git', ['-C', REPO_ROOT, 'cat-file', '-e', `${PREVIOUS}^{commit}`]).status === 0;
if (!have) console.log(`previous-build: commit ${PREVIOUS} is not in this clone: skipped`);

/** The previous build's files in a temp dir, running on this checkout's node_modules (the same pins). */
async function previousBuild(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-previous-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const archive = spawnSync('sh', ['-c', `git -C '${REPO_ROOT}' archive --format=tar ${PREVIOUS} | tar -x -C '${dir}'`], { encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive: ${archive.stderr}`);
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function incs(c: Cluster, ops: IncOp[], from: number, count: number): Promise<void> {
  const client = new RetryingIncClient(0, c.alive().map((n) => n.port));
  for (let op = from; op < from + count; op++) ops.push(await client.inc('b', 's', op, Date.now() + 15_000));
  client.close();
}

(have ? test : test.skip)('a shard with a node of the build before checksummed frames: it forms, serves through either leader; one more of it is not let join (entries it could not apply)', async (t) => {
  t.timeout(120_000);
  const old = await previousBuild(t);
  const c = await Cluster.start(t, { size: 3, rootOf: (i) => (i === OLD ? old : undefined) });
  const leader = await c.leaderOtherThan(OLD, 3);
  const ops: IncOp[] = [];
  await incs(c, ops, 0, 200);
  // The previous build leads (plain frames to this build's nodes), then this build again.
  t.is(await getOnceLeading(c, leader, OLD, 's'), ':200');
  await incs(c, ops, 200, 200);
  t.is(await getOnceLeading(c, OLD, leader, 's'), ':400');
  // One more node of the previous build asks to join the running shard late: refused.
  const late = await c.addNode({}, old);
  await incs(c, ops, 400, 100);
  const refusedBy = (): string => c.nodes.slice(0, 3).map((n) => n.output).join('');
  for (const until = Date.now() + 20_000; Date.now() < until && !/runs a version without releasepages/.test(refusedBy()); ) await sleep(200);
  t.regex(refusedBy(), /runs a version without releasepages/, 'refused for an entry feature, not for framesums');
  const commit = Number((await c.infoSoon(leader)).commit_index);
  for (const n of c.nodes.slice(0, 3)) await c.waitApplied(n.index, commit);
  t.notRegex((await c.infoSoon(leader)).members ?? '', new RegExp(`127\\.0\\.0\\.1:${c.nodes[late]!.port}/`), 'the late node is not a member');
  t.deepEqual(checkIncHistory(ops), []);
  t.is((await command(c.nodes[leader]!.port, ['GET', 'b', 's'], 5000)).trim(), ':500');
  for (const n of c.nodes) {
    t.notRegex(n.output, /dropping peer|unknown frame kind|runs a version without (incs|tokenoptions|tokenrules|framesums)/, `node ${n.index}${n.root !== undefined ? ' (previous build)' : ''}`);
  }
  t.true(c.nodes[OLD]!.output.includes('listening on'), 'the previous build ran');
});
