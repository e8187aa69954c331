/**
 * Runs inside a private network namespace (unshare -n, lo only): a shard "1" of three nodes and a
 * router, all with one cluster secret and formed by mDNS alone. During INC load, two impostors
 * with the right shard id announce themselves on the same network: one with no secret (trying to
 * join the live shard), one with a wrong secret (forming its own shard "1", a rival catalog that
 * owns every slot). A second router started after them finds the catalog among four nodes that
 * announce shard "1" and must pick the real one. Prints what the test asserts. Argument: the seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult } from '../helpers/netns.ts';
import { call, closePool, dump, info, killAll, runMain, sleep, start, waitUntil } from '../router/scenario-util.ts';
import { Rng } from '../sim/rng.ts';

const seed = Number(process.argv[2] ?? 1);
const rng = new Rng(seed);
const rand = (n: number): number => rng.int(n);

const HOST = '127.0.0.1';
const SECRET = 'scenario-cluster-secret-0123';
const BUCKETS = Array.from({ length: 16 }, (_, i) => `b${i}`);
const LOAD_MS = 9000;
const OP_DEADLINE_MS = 15_000;
const ROUTER = `${HOST}:7001`;
const ROUTER2 = `${HOST}:7002`;
const REAL = [0, 1, 2].map((i) => `${HOST}:${7110 + i}`);
const IMPOSTORS = [`${HOST}:7190`, `${HOST}:7191`];

runMain(async () => {
  assertIsolatedNamespace();
  const dir = mkdtempSync(join(tmpdir(), 'seqdb-impostor-'));
  process.on('exit', () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  REAL.forEach((address, i) => start(`node ${i}`, ['node', '--shard', '1', '--host', HOST, '--port', address.split(':')[1]!,
    '--data', join(dir, `n${i}`), '--bootstrap-expect', '3', '--cluster-secret', SECRET]));
  start('router', ['router', '--host', HOST, '--port', '7001', '--cluster-secret', SECRET]);
  await waitUntil('the router to see shard 1 owning every slot', async () => {
    const i = await info(ROUTER);
    return i.shards === '1' && i.catalog_epoch === '1' && /slots=16384/.test(i.shard_1 ?? '');
  }, 60_000);

  const acks: { bucket: string; value: string }[] = [];
  const errors: Record<string, number> = {};
  const loadEnd = Date.now() + LOAD_MS;
  const client = async (id: number): Promise<void> => {
    for (let op = 0; Date.now() < loadEnd && op < 2000; op++) {
      const bucket = BUCKETS[rand(BUCKETS.length)]!;
      const args = ['INC', bucket, 's', 'ID', `c${id}-o${op}-${seed}`];
      const opDeadline = Date.now() + OP_DEADLINE_MS;
      while (Date.now() < opDeadline) {
        const reply = await call(ROUTER, args, 7000);
        if (reply?.kind === 'integer') {
          acks.push({ bucket, value: String(reply.value) });
          break;
        }
        const kind = reply === null ? 'no reply' : reply.kind === 'error' ? reply.word : reply.kind;
        errors[kind] = (errors[kind] ?? 0) + 1;
        await sleep(50);
      }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, i) => client(i)));
  const router2Acks: { bucket: string; value: string }[] = [];
  await sleep(1500);
  // The impostors announce themselves mid-load.
  start('impostor (no secret)', ['node', '--shard', '1', '--host', HOST, '--port', '7190', '--data', join(dir, 'i0'), '--bootstrap-expect', '3']);
  start('impostor (wrong secret)', ['node', '--shard', '1', '--host', HOST, '--port', '7191', '--data', join(dir, 'i1'),
    '--bootstrap-expect', '1', '--cluster-secret', 'a-wrong-cluster-secret']);
  await sleep(3000); // the rival catalog initializes its slot table
  start('router 2', ['router', '--host', HOST, '--port', '7002', '--cluster-secret', SECRET]);
  await load;
  await waitUntil('router 2 to find a catalog', async () => (await info(ROUTER2)).catalog_epoch === '1', 30_000);
  for (const [i, bucket] of BUCKETS.entries()) {
    const reply = await call(ROUTER2, ['INC', bucket, 's', 'ID', `router2-${i}-${seed}`], 7000);
    if (reply?.kind === 'integer') router2Acks.push({ bucket, value: String(reply.value) });
  }

  const finals: Record<string, string | null> = {};
  for (const b of BUCKETS) {
    const reply = await call(ROUTER, ['GET', b, 's'], 6000);
    finals[b] = reply?.kind === 'integer' ? String(reply.value) : null;
  }
  const realInfos = await Promise.all(REAL.map((a) => info(a)));
  const impostorInfos = await Promise.all(IMPOSTORS.map((a) => info(a)));
  const routerInfo = await info(ROUTER);
  const router2Info = await info(ROUTER2);
  closePool();
  const text = dump();
  printResult({
    seed, acks: [...acks, ...router2Acks].map((a) => [a.bucket, a.value]), errors, finals, router2Acks: router2Acks.length, router2Info,
    members: realInfos.map((i) => i.members ?? ''),
    leaders: realInfos.map((i) => i.role ?? ''),
    routerInfo,
    impostorsUp: impostorInfos.map((i) => i.role ?? ''),
    impostorSequences: impostorInfos.map((i) => i.sequences ?? ''),
    refusedLogged: /refused peer/.test(text),
    routerRefusedLogged: /not using node/.test(text),
    secretLeaked: text.includes(SECRET),
    dumpTail: acks.length === 0 ? text.slice(-4000) : '',
  });
});
