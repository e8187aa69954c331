import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevCluster } from '../../node/replication/dev-cluster.ts';
import { command, freePort, sleep } from './helpers/cluster.ts';
import { RespClient, encodeRequest, intOf } from '../helpers/resp-client.ts';

async function incThroughProxy(port: number, deadlineMs: number): Promise<string> {
  let last = '';
  while (Date.now() < deadlineMs) {
    last = await command(port, ['INC', 'dev', 'x'], 1000).catch((e: Error) => e.message);
    if (last.startsWith(':')) return last.trim();
    await sleep(100);
  }
  return last;
}

test('dev cluster: 3 node processes behind a leader-following proxy survive kill -9 of the leader', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-devc-'));
  const nodePorts = [await freePort(), await freePort(), await freePort()];
  const lines: string[] = [];
  const dev = await startDevCluster({ nodes: 3, host: '127.0.0.1', port: 0, dataDir: dir, nodePorts, log: (l) => lines.push(l), nodeOutput: 'ignore' });
  t.teardown(async () => {
    for (const n of dev.nodes) if (n.pid) try { process.kill(n.pid, 'SIGKILL'); } catch { /* gone */ }
    await dev.close();
    await rm(dir, { recursive: true, force: true });
  });
  t.is(await incThroughProxy(dev.address.port, Date.now() + 30_000), ':1');
  // Wait until all three are voters (the bootstrap node leads alone at first).
  const deadline = Date.now() + 30_000;
  let members = '';
  while (Date.now() < deadline && (members.match(/\/voter\//g) ?? []).length < 3) {
    members = /members:(\S*)/.exec(await command(dev.address.port, ['INFO']).catch(() => ''))?.[1] ?? '';
    await sleep(100);
  }
  t.is((members.match(/\/voter\//g) ?? []).length, 3);
  // Pipelined INC, GET, INC on each of 16 connections at once: a GET sees the INC sent before it
  // and never the one sent after it, however the leader batches and applies them.
  const conns = await Promise.all(Array.from({ length: 16 }, () => RespClient.connect(dev.address.port)));
  const triples = (await Promise.all(conns.map(async (c) => {
    const out: bigint[][] = [];
    for (let round = 0; round < 10; round++) {
      c.write(Buffer.concat([encodeRequest('INC', 'dev', 'p'), encodeRequest('GET', 'dev', 'p'), encodeRequest('INC', 'dev', 'p')]));
      out.push((await c.take(3)).map(intOf));
    }
    c.close();
    return out;
  }))).flat();
  const misordered = triples.filter(([a, g, b]) => !(a! <= g! && g! < b!));
  t.deepEqual(misordered, [], 'INC, GET, INC of one connection');
  const leaderLine = [...lines].reverse().find((l) => l.startsWith('leader is now'))!;
  const leaderAddr = leaderLine.split(' ').pop()!;
  const victim = dev.nodes.find((n) => n.addr === leaderAddr)!;
  process.kill(victim.pid!, 'SIGKILL');
  t.is(await incThroughProxy(dev.address.port, Date.now() + 20_000), ':2', lines.join('\n'));
});
