import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, parseInfo, type SeqClient } from '../../client/index.ts';
import { gatherStatus, renderStatus } from '../../client/cli/status.ts';
import { freePort } from '../replication/helpers/cluster.ts';
import { ROOT, SEQDB, tempDir } from './dev-process.ts';
import { gaplessDefect, settle } from './helpers.ts';

/**
 * Issue 7's acceptance: a real 3-node shard (the catalog shard "1") behind two real routers;
 * 8 library clients INC while a router and then the shard leader are killed with SIGKILL (and
 * restarted). Afterwards the numbers are unique and gapless and each client's increasing.
 */
const title = 'through two routers: kill -9 a router, then the shard leader; numbers unique and gapless';

interface Proc {
  readonly args: readonly string[];
  readonly addr: string;
  child: ChildProcess | null;
  output: string;
}

function launch(p: Proc): void {
  const child = spawn(process.execPath, [SEQDB, ...p.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  p.child = child;
  const keep = (d: Buffer): void => {
    p.output = (p.output + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.once('exit', () => {
    if (p.child === child) p.child = null;
  });
}

function kill9(p: Proc): Promise<void> {
  const child = p.child;
  if (child === null || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return exited;
}

async function leaderIndex(nodes: readonly Proc[], timeoutMs: number): Promise<number> {
  const stopAtMs = Date.now() + timeoutMs;
  while (Date.now() < stopAtMs) {
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i]!.child === null) continue;
      const probe = createClient({ routers: [nodes[i]!.addr], deadlineMs: 500, connectTimeoutMs: 300 });
      try {
        const info = parseInfo(await probe.info()).fields;
        if (info.role === 'leader' && (info.members ?? '').split(',').filter((m) => m.includes('/voter/')).length === 3) return i;
      } catch {
        // not up yet
      } finally {
        probe.destroy();
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no leader within ${timeoutMs} ms\n${nodes.map((n) => n.output.slice(-2000)).join('\n---\n')}`);
}

/** The router's `shards:` count once it is at least 1, or the last seen count at the timeout. */
async function routerShards(addr: string, timeoutMs: number): Promise<number> {
  const stopAtMs = Date.now() + timeoutMs;
  let shards = -1;
  while (Date.now() < stopAtMs) {
    const probe = createClient({ routers: [addr], deadlineMs: 500, connectTimeoutMs: 300 });
    try {
      shards = Number(parseInfo(await probe.info()).fields.shards ?? -1);
      if (shards >= 1) return shards;
    } catch {
      // not up yet
    } finally {
      probe.destroy();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return shards;
}

if (!existsSync(join(ROOT, 'bin/commands/router.ts'))) {
  test.todo(`${title} (needs \`seqdb router\`, issue 5)`);
} else {
  test(title, async (t) => {
    const dir = await tempDir('seqdb-client-routers-');
    const nodePorts = [await freePort(), await freePort(), await freePort()];
    const joinList = nodePorts.map((p) => `127.0.0.1:${p}`).join(',');
    const nodes: Proc[] = nodePorts.map((port, i) => ({
      args: ['node', '--shard', '1', '--host', '127.0.0.1', '--port', String(port), '--data', join(dir.path, `n${i}`), '--join', joinList, '--bootstrap-expect', '3',
        '--catalog', joinList, '--shards-expect', '1'],
      addr: `127.0.0.1:${port}`,
      child: null,
      output: '',
    }));
    const routerPorts = [await freePort(), await freePort()];
    const routers: Proc[] = routerPorts.map((port) => ({
      args: ['router', '--host', '127.0.0.1', '--port', String(port), '--join', joinList],
      addr: `127.0.0.1:${port}`,
      child: null,
      output: '',
    }));
    let clients: SeqClient[] = [];
    t.teardown(async () => {
      clients.forEach((c) => c.destroy());
      await Promise.all([...nodes, ...routers].map(kill9));
      await dir.remove();
    });
    nodes.forEach(launch);
    routers.forEach(launch);
    const leader = await leaderIndex(nodes, 30_000);
    const addresses = routers.map((r) => r.addr);
    clients = Array.from({ length: 8 }, (_, i) =>
      createClient({
        routers: i % 2 === 0 ? addresses : [...addresses].reverse(),
        deadlineMs: 30_000,
        connectTimeoutMs: 500,
        backoffBaseMs: 20,
        backoffMaxMs: 250,
      }),
    );
    // Both routers must know the shard before the load starts; say so plainly if they never do.
    for (const router of routers) {
      const shards = await routerShards(router.addr, 20_000);
      if (shards < 1) {
        t.fail(`router ${router.addr} still reports shards:${shards} after 20 s (shard registration, issue 5)`);
        return;
      }
    }
    // Warm up: both routers have the catalog and forward.
    for (const client of clients.slice(0, 2)) t.true((await client.inc('b', 'warm')) > 0n);

    // `seqdb status` over routers and nodes: one shard, everything healthy.
    const report = await gatherStatus([...addresses, ...nodes.map((n) => n.addr)], 2000);
    t.true(report.healthy, renderStatus(report));
    t.deepEqual(report.nodes.map((n) => n.summary.role), ['router', 'router', ...nodes.map((_, i) => (i === leader ? 'leader' : 'follower'))]);
    t.is(report.nodes[0]!.summary.shards, '1');
    t.is(report.nodes[0]!.shards[0]?.id, '1');

    let done = false;
    let completed = 0;
    const hardStopAtMs = Date.now() + 40_000;
    const load = Promise.all(
      clients.map(async (client) => {
        const got: bigint[] = [];
        while (!done && got.length < 5000 && Date.now() < hardStopAtMs) {
          got.push(await client.inc('b', 'routers'));
          completed += 1;
        }
        return got;
      }),
    );
    const marks: Record<string, number> = {};
    await settle(1000, () => completed >= 20);
    marks.routerKilled = completed;
    await kill9(routers[0]!);
    await settle(1000, () => completed >= marks.routerKilled! + 20);
    launch(routers[0]!);
    marks.leaderKilled = completed;
    await kill9(nodes[leader]!);
    await settle(2500, () => completed >= marks.leaderKilled! + 20);
    marks.afterLeaderKill = completed;
    launch(nodes[leader]!);
    await settle(1000, () => completed >= marks.afterLeaderKill! + 20);
    done = true;
    const results = await load;
    const all = results.flat();
    t.log(`${all.length} INCs; marks ${JSON.stringify(marks)}`);
    t.true(marks.leaderKilled! > marks.routerKilled!, 'progress after the router was killed');
    t.true(marks.afterLeaderKill! > marks.leaderKilled!, 'progress after the leader was killed');
    t.is(gaplessDefect(all), null);
    for (const got of results) t.true(got.every((v, i) => i === 0 || v > got[i - 1]!), 'each client saw increasing numbers');
    t.is(await clients[0]!.get('b', 'routers'), BigInt(all.length));
  });
}
