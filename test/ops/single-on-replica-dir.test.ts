/**
 * A shard member's data dir started as a single node (`seqdb dev --data <node dir>`): the single
 * node read only the member's state (lmdb/), which may lag the shard's committed log, and handed
 * out numbers the shard had already given. It is refused now (IDENTITY_MISMATCH), and the member
 * still starts on it afterwards with its numbers intact.
 */
import test from 'ava';
import { join } from 'node:path';
import { startSingleNode } from '../../node/single/single-node.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { freeRange, incRetry, loneMember, seqdb, seqdbRun } from './helpers.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test("a shard member's data dir is refused as a single node's, by the API and by seqdb dev", async (t) => {
  const dir = join(await tempDir(t, 'seqdb-replica-dir-'), 'n0');
  const { addr, args: nodeArgs, proc: member } = await loneMember(t, dir);
  for (let i = 1; i <= 3; i++) t.is(await incRetry([addr], 'b', 's', `tok-${i}`, 30_000), BigInt(i));
  member.child.kill('SIGKILL');
  await member.exited;

  const err = await t.throwsAsync(startSingleNode({ dataDir: dir, server: { host: '127.0.0.1', port: 0 } }));
  t.is((err as { code?: string }).code, ErrorCode.IDENTITY_MISMATCH);
  const cli = await seqdbRun(['dev', '--port', String(await freeRange(1)), '--data', dir]);
  t.not(cli.code, 0, cli.output);
  t.regex(cli.output, /seqdb node --data/);
  // ... and `seqdb dev --nodes` names the member's dir as one (it pointed at `seqdb dev --data`).
  const devCluster = await seqdbRun(['dev', '--nodes', '3', '--port', String(await freeRange(4)), '--data', dir]);
  t.not(devCluster.code, 0, devCluster.output);
  t.regex(devCluster.output, /holds a shard member's data/);

  // Refused without harm: the member starts on its dir again and goes on from 3.
  const again = seqdb(t, nodeArgs);
  t.is(await incRetry([addr], 'b', 's', 'tok-4', 30_000), 4n, again.output().slice(-2000));
});
