/**
 * `seqdb dev` keeps a single node's state in <data>/lmdb and a local cluster's in
 * <data>/shard-S/node-I. Started the other way on a dir, it looked where nothing was and began
 * every sequence at 1 again beside the real state (a review: `seqdb dev --nodes 3` on a restored
 * dir). Both are refused with a usage error, nothing started.
 */
import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp-dir.ts';
import { freeRange, seqdb } from './helpers.ts';

test("a single node's dir started as a cluster, and a cluster's dir started as a single node: refused", async (t) => {
  const dir = await tempDir(t, 'seqdb-dev-shape-');
  const single = join(dir, 'single');
  await mkdir(join(single, 'lmdb'), { recursive: true });
  const asCluster = seqdb(t, ['dev', '--nodes', '3', '--port', String(await freeRange(4)), '--data', single]);
  const one = await asCluster.exited;
  t.is(one.code, 2);
  t.regex(asCluster.output(), /holds a single node's state/);
  const cluster = join(dir, 'cluster');
  await mkdir(join(cluster, 'shard-1', 'node-0'), { recursive: true });
  const asSingle = seqdb(t, ['dev', '--port', '0', '--data', cluster]);
  const two = await asSingle.exited;
  t.is(two.code, 2);
  t.regex(asSingle.output(), /holds a local cluster's nodes/);
});
