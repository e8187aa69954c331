/**
 * What the disk-fault tests of a 3-node shard share: the shard with a fault per node, waiting for
 * a node to exit, and reading a sequence through a node once it leads.
 */
import type { ExecutionContext } from 'ava';
import { ioFault, type IoFault } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';

/**
 * A 3-node shard whose node i's files containing `/n<i>/<files>` can be made to fail (the data
 * dirs are <base>/n<i>, helpers/cluster.ts), each fault its own.
 */
export async function faultedShard(t: ExecutionContext, lib: string, files: string, o: { ops?: string; args?: readonly string[]; mode?: 'fail' | 'stall' | 'tear' } = {}): Promise<{ c: Cluster; faults: IoFault[] }> {
  const dir = await tempDir(t);
  const faults = [0, 1, 2].map((i) => ioFault(lib, dir, `/n${i}/${files}`, o.ops, undefined, o.mode));
  const c = await Cluster.start(t, { size: 3, extraArgs: o.args ?? [], envOf: (i) => faults[i]!.env });
  return { c, faults };
}

/** Node i's exit code (or signal) once it exits, or 'running' after `ms`. */
export function exitOf(c: Cluster, i: number, ms: number): Promise<number | string> {
  const child = c.nodes[i]!.child;
  if (child === null) return Promise.resolve('gone before');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('running'), ms);
    child.once('exit', (code, signal) => (clearTimeout(timer), resolve(code ?? signal ?? 'unknown')));
  });
}

/** Leadership moved from `from` to `to`, then `GET b <seq>` there; retried while the move settles. */
export async function getOnceLeading(c: Cluster, from: number, to: number, seq: string): Promise<string> {
  const id = (await c.info(to))!.node_id!;
  let reply = '';
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(200)) {
    await command(c.nodes[from]!.port, ['SEQDB.TRANSFER', id], 5000).catch(() => '');
    reply = (await command(c.nodes[to]!.port, ['GET', 'b', seq], 3000).catch((err: Error) => err.message)).trim();
    if (reply.startsWith(':')) break;
  }
  return reply;
}
