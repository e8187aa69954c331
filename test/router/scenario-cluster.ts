/**
 * Runs inside a private network namespace (unshare -n, lo only): two shards of three nodes and
 * two routers, formed by mDNS alone (no --join anywhere), plus a node of another --cluster.
 * Drives INC load over 64 buckets through both routers while killing a shard leader and
 * restarting a router, then prints what the test asserts. Argument: the seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult } from '../helpers/netns.ts';
import { call, closePool, dump, info, killAll, respawn, runMain, sleep, start, stopProc, waitUntil, type Proc } from './scenario-util.ts';
import { Rng } from '../sim/rng.ts';

const seed = Number(process.argv[2] ?? 1);
const rng = new Rng(seed);
const rand = (n: number): number => rng.int(n);

const HOST = '127.0.0.1';
const BUCKETS = Array.from({ length: 64 }, (_, i) => `b${i}`);
const PLAIN_BUCKETS = Array.from({ length: 8 }, (_, i) => `p${i}`);
const LOAD_MS = 12_000;
const OP_DEADLINE_MS = 25_000;

interface Ack { bucket: string; value: string; token: string | null; atMs: number; router: number }

/** Which shard serves `bucket`: the one whose leader does not answer MOVED to a GET. */
const shardLeaders: Record<string, string> = {};
async function ownerShard(bucket: string): Promise<string> {
  for (const [shard, address] of Object.entries(shardLeaders)) {
    const r = await call(address, ['GET', bucket, 's'], 2000);
    if (r !== null && !(r.kind === 'error' && r.word === 'MOVED')) return shard;
  }
  return '?';
}

runMain(async () => {
  assertIsolatedNamespace();
  const dir = mkdtempSync(join(tmpdir(), 'seqdb-router-'));
  process.on('exit', () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const nodes: { proc: Proc; shard: string; address: string }[] = [];
  for (const shard of ['1', '2']) {
    for (let i = 0; i < 3; i++) {
      const port = 7100 + Number(shard) * 10 + i;
      const address = `${HOST}:${port}`;
      nodes.push({ shard, address, proc: start(`node s${shard}n${i}`, ['node', '--shard', shard, '--host', HOST, '--port', String(port), '--data', join(dir, `s${shard}n${i}`), '--bootstrap-expect', '3']) });
    }
  }
  const stranger = start('stranger', ['node', '--cluster', 'other', '--shard', '1', '--host', HOST, '--port', '7199', '--data', join(dir, 'other'), '--bootstrap-expect', '1']);
  const routers = [7001, 7002].map((port) => start(`router ${port}`, ['router', '--host', HOST, '--port', String(port)]));
  const routerAddrs = ['127.0.0.1:7001', '127.0.0.1:7002'];

  const t0 = Date.now();
  const ready = async (a: string): Promise<boolean> => {
    const i = await info(a);
    return i.shards === '2' && i.catalog_epoch === '1' && Number(i.shard_1?.match(/slots=(\d+)/)?.[1]) > 0 && Number(i.shard_2?.match(/slots=(\d+)/)?.[1]) > 0;
  };
  await waitUntil('both routers to see two shards owning slots', async () => (await ready(routerAddrs[0]!)) && (await ready(routerAddrs[1]!)), 60_000);
  // Every bucket answers through both routers (GET: a read, nothing created).
  const served: Record<string, number> = {};
  for (const r of routerAddrs) {
    served[r] = 0;
    for (const b of [...BUCKETS, ...PLAIN_BUCKETS]) {
      const reply = await call(r, ['GET', b, 's'], 6000);
      if (reply !== null && reply.kind !== 'error') served[r]!++;
    }
  }
  const formedMs = Date.now() - t0;
  const routerInfo = await info(routerAddrs[0]!);

  // Load: ID clients retry the same token until acknowledged; plain clients never retry.
  const acks: Ack[] = [];
  const errors: Record<string, number> = {};
  const loadStartMs = Date.now();
  const loadEnd = loadStartMs + LOAD_MS;
  const client = async (id: number, withId: boolean): Promise<void> => {
    const downUntilMs = [0, 0];
    for (let op = 0; Date.now() < loadEnd && op < 2000; op++) {
      // Alternate routers, avoiding for 1 s one that failed to answer.
      let router = (id + op) % 2;
      if (downUntilMs[router]! > Date.now()) router = 1 - router;
      const bucket = withId ? BUCKETS[rand(BUCKETS.length)]! : PLAIN_BUCKETS[rand(PLAIN_BUCKETS.length)]!;
      const token = withId ? `c${id}-o${op}-${seed}` : null;
      const args = ['INC', bucket, 's', ...(token ? ['ID', token] : [])];
      const opDeadline = Date.now() + OP_DEADLINE_MS;
      while (Date.now() < opDeadline) {
        const reply = await call(routerAddrs[router]!, args, 7000);
        if (reply?.kind === 'integer') {
          acks.push({ bucket, value: String(reply.value), token, atMs: Date.now(), router });
          break;
        }
        const kind = reply === null ? 'no reply' : reply.kind === 'error' ? reply.word : reply.kind;
        errors[kind] = (errors[kind] ?? 0) + 1;
        if (reply === null) {
          downUntilMs[router] = Date.now() + 1000; // that router is down: use the other
          router = 1 - router;
        }
        if (!withId) break;
        await sleep(50);
      }
    }
  };
  const load = Promise.all([
    ...Array.from({ length: 12 }, (_, i) => client(i, true)),
    ...Array.from({ length: 2 }, (_, i) => client(100 + i, false)),
  ]);

  // Faults mid-load: kill -9 the leader of shard 2, then restart router 1.
  await sleep(3000);
  let killedLeader = '';
  let killedAtMs = 0;
  for (const n of nodes.filter((x) => x.shard === '2')) {
    if ((await info(n.address)).role === 'leader') {
      killedLeader = n.address;
      killedAtMs = Date.now();
      n.proc.child?.kill('SIGKILL');
      break;
    }
  }
  await sleep(3000);
  await stopProc(routers[0]!, 'SIGKILL');
  const routerKilledAtMs = Date.now();
  await sleep(500);
  respawn(routers[0]!);
  await load;

  // Final state agrees with what was acknowledged.
  const finals: Record<string, string | null> = {};
  for (const b of BUCKETS) {
    const reply = await call(routerAddrs[1]!, ['GET', b, 's'], 6000);
    finals[b] = reply?.kind === 'integer' ? String(reply.value) : null;
  }
  const strangerAddr = '127.0.0.1:7199';
  const infos = await Promise.all(routerAddrs.map((a) => info(a)));
  const catalogLeader = nodes.filter((n) => n.shard === '1');
  let catalogMembers = '';
  for (const n of catalogLeader) {
    const i = await info(n.address);
    if (i.role === 'leader') catalogMembers = i.members ?? '';
  }
  for (const n of nodes) if ((await info(n.address)).role === 'leader') shardLeaders[n.shard] = n.address;
  closePool();
  printResult({
    seed, formedMs, served, routerInfo, errors,
    // Compact: [bucket, value, token or '', ms since load start, router].
    acks: acks.map((a) => [a.bucket, a.value, a.token ?? '', a.atMs - loadStartMs, a.router]), finals, killedLeader, killedAtMs: killedAtMs - loadStartMs, routerKilledAtMs: routerKilledAtMs - loadStartMs,
    restartedRouterRequests: Number(infos[0]?.requests_total ?? 0),
    owners: Object.fromEntries(await Promise.all(BUCKETS.map(async (b) => [b, await ownerShard(b)]))),
    strangerSeen: infos.some((i) => JSON.stringify(i).includes(strangerAddr)) || catalogMembers.includes(strangerAddr),
    strangerAlive: stranger.child !== null,
    routerRestartedShards: infos[0]?.shards,
    dumpTail: acks.length === 0 ? dump() : '',
  });
});
