/**
 * Runs inside a private network namespace (unshare -n, lo only). Two shards of three nodes and
 * two routers form by mDNS; ID clients (retrying the same token until acknowledged) and plain
 * clients drive INC load over 64+ buckets through both routers. Under that load:
 *   phase 1: a third shard joins (registered, owns nothing); `seqdb rebalance` runs to the end.
 *   phase 2: a fourth shard joins; `seqdb rebalance` dies right after its first FREEZE of a
 *            move out of shard 2 (test hook), shard 2's leader is killed -9, and a second
 *            `seqdb rebalance` finishes that move and the rest.
 *   phase 3: `seqdb shard remove --shard 3` drains it while the leader of shard 1 (catalog
 *            and a target) is killed -9 under the running coordinator.
 * Before phase 1, a few "heavy" buckets that move in phase 1 get HEAVY_INCS ID-tokened INCs
 * each: their token records alone exceed one 40 KiB import, so their slots move in several
 * staged parts (IMPORTPART / IMPORTDONE), the case that used to stop a rebalance.
 * Prints what the test asserts. Arguments: the seed, and optionally a cluster secret.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult, REPO_ROOT } from '../helpers/netns.ts';
import { NodePool } from '../../router/node-connection.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { call, closePool, dump, info, killAll, respawn, runMain, sleep, start, stopProc, waitUntil, type Proc } from '../router/scenario-util.ts';
import { Rng } from '../sim/rng.ts';
import { planSlots } from '../../shared/placement/ring.ts';
import { slotOf } from '../../shared/placement/slot.ts';

const seed = Number(process.argv[2] ?? 1);
/**
 * Optional cluster secret (issue 11): every process started here inherits it through the
 * environment (nodes, routers, the rebalance CLI); this script's own CLUSTER calls prove it.
 */
const SECRET = process.argv[3];
if (SECRET !== undefined && SECRET !== '') process.env.SEQDB_CLUSTER_SECRET = SECRET;
const internalPool = new NodePool(SECRET ? { clusterSecret: new ClusterSecret(SECRET) } : {});
const rng = new Rng(seed);
const rand = (n: number): number => rng.int(n);

const HOST = '127.0.0.1';
const BUCKETS = Array.from({ length: 64 }, (_, i) => `b${i}`);
const PLAIN_BUCKETS = Array.from({ length: 8 }, (_, i) => `p${i}`);
const OP_DEADLINE_MS = 30_000;
// A backstop only: the load stops once every ID bucket was served after the last move.
const LOAD_MAX_MS = 200_000;
/** After the last move the load runs until every ID bucket was served again, at most this long. */
const AFTER_MOVES_MS_MAX = 30_000;
const ROUTERS = ['127.0.0.1:7001', '127.0.0.1:7002'];
/** ID-tokened INCs per heavy bucket: ~80 bytes of token record each, so ~2 pages per bucket. */
const HEAVY_INCS = 1000;

/** Buckets whose slot moves from shard 1 or 2 to shard 3 in phase 1. */
function heavyBuckets(n: number): string[] {
  const before = planSlots(['1', '2']);
  const after = planSlots(['1', '2', '3']);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (after[slotOf(`h${i}`)] === '3' && before[slotOf(`h${i}`)] !== '3') out.push(`h${i}`);
  return out;
}

/** HEAVY_INCS INCs with ID tokens on `bucket`, 20 in flight, retried with the same token; their numbers by token index. */
async function loadHeavy(bucket: string): Promise<string[]> {
  const got: string[] = [];
  for (let k = 0; k < HEAVY_INCS; k += 20) {
    await Promise.all(Array.from({ length: Math.min(20, HEAVY_INCS - k) }, async (_, j) => {
      const args = ['INC', bucket, 's', 'ID', `heavy-${bucket}-${k + j}`];
      for (let attempt = 0; attempt < 50; attempt++) {
        const reply = await call(ROUTERS[attempt % 2]!, args, 8000);
        if (reply?.kind === 'integer') {
          got[k + j] = String(reply.value);
          return;
        }
        await sleep(50);
      }
      throw new Error(`heavy INC ${args.join(' ')} got no answer`);
    }));
  }
  return got;
}

interface Ack { bucket: string; value: string; token: string | null; startMs: number; atMs: number; router: number }
interface Node { proc: Proc; shard: string; address: string }

function runRebalance(env: Record<string, string>, extra: readonly string[] = ['rebalance'], onLine?: (line: string) => void): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/seqdb.js', ...extra, '--router', ROUTERS[0]!, '--batch-slots', '512'], {
      cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
    });
    let output = '';
    const onData = (d: Buffer): void => {
      const text = d.toString();
      output += text;
      if (onLine) for (const line of text.split('\n')) if (line !== '') onLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function leaderOf(nodes: Node[], shard: string): Promise<Node | null> {
  for (const n of nodes.filter((x) => x.shard === shard && x.proc.child !== null)) {
    if ((await info(n.address)).role === 'leader') return n;
  }
  return null;
}

async function catalogOf(nodes: Node[], command: 'CATALOG' | 'MOVE'): Promise<unknown> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const leader = await leaderOf(nodes, '1');
    if (leader !== null) {
      const out = await internalPool.send(leader.address, ['CLUSTER', command], 3000);
      if (out.ok && out.reply.kind === 'string') return JSON.parse(out.reply.value.toString());
    }
    await sleep(200);
  }
  throw new Error(`no CLUSTER ${command} answer\n${dump()}`);
}

/** Slots per shard in the committed table. */
async function shares(nodes: Node[]): Promise<Record<string, number>> {
  const cat = (await catalogOf(nodes, 'CATALOG')) as { shards: { id: string; slots: string }[] };
  const out: Record<string, number> = {};
  for (const s of cat.shards) {
    let n = 0;
    for (const byte of Buffer.from(s.slots, 'base64')) for (let b = byte; b !== 0; b &= b - 1) n++;
    out[s.id] = n;
  }
  return out;
}

runMain(async () => {
  assertIsolatedNamespace();
  const dir = mkdtempSync(join(tmpdir(), 'seqdb-rebalance-'));
  process.on('exit', () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const nodes: Node[] = [];
  const startShard = (shard: string, count: number): void => {
    for (let i = 0; i < count; i++) {
      const port = 7100 + Number(shard) * 10 + i;
      const address = `${HOST}:${port}`;
      nodes.push({
        shard, address,
        proc: start(`node s${shard}n${i}`, ['node', '--shard', shard, '--host', HOST, '--port', String(port), '--data', join(dir, `s${shard}n${i}`), '--bootstrap-expect', String(count)]),
      });
    }
  };
  startShard('1', 3);
  startShard('2', 3);
  for (const port of [7001, 7002]) start(`router ${port}`, ['router', '--host', HOST, '--port', String(port)]);
  const t0 = Date.now();
  const ready = async (a: string, shardCount: number): Promise<boolean> => {
    const i = await info(a);
    return i.shards === String(shardCount) && Number(i.shard_1?.match(/slots=(\d+)/)?.[1]) > 0 && Number(i.shard_2?.match(/slots=(\d+)/)?.[1]) > 0;
  };
  await waitUntil('both routers to see two shards owning slots', async () => (await ready(ROUTERS[0]!, 2)) && (await ready(ROUTERS[1]!, 2)), 60_000);
  const formedMs = Date.now() - t0;

  // Load: ID clients retry the same token until acknowledged; plain clients never retry.
  const acks: Ack[] = [];
  const errors: Record<string, number> = {};
  const loadStartMs = Date.now();
  let stopLoad = false;
  const client = async (id: number, withId: boolean): Promise<void> => {
    for (let op = 0; !stopLoad && Date.now() - loadStartMs < LOAD_MAX_MS && op < 5000; op++) {
      let router = (id + op) % 2;
      const bucket = withId ? BUCKETS[rand(BUCKETS.length)]! : PLAIN_BUCKETS[rand(PLAIN_BUCKETS.length)]!;
      const token = withId ? `c${id}-o${op}-${seed}` : null;
      const args = ['INC', bucket, 's', ...(token ? ['ID', token] : [])];
      const startMs = Date.now();
      while (Date.now() - startMs < OP_DEADLINE_MS) {
        const reply = await call(ROUTERS[router]!, args, 8000);
        if (reply?.kind === 'integer') {
          acks.push({ bucket, value: String(reply.value), token, startMs: startMs - loadStartMs, atMs: Date.now() - loadStartMs, router });
          break;
        }
        const kind = reply === null ? 'no reply' : reply.kind === 'error' ? reply.word : reply.kind;
        errors[kind] = (errors[kind] ?? 0) + 1;
        if (!withId) break;
        router = 1 - router;
        await sleep(50);
      }
    }
  };
  const load = Promise.all([
    ...Array.from({ length: 10 }, (_, i) => client(i, true)),
    ...Array.from({ length: 2 }, (_, i) => client(100 + i, false)),
  ]);
  const heavy = heavyBuckets(2);
  const heavyGot = await Promise.all(heavy.map((b) => loadHeavy(b)));
  await sleep(500);

  // Phase 1: a third shard, then a full rebalance.
  startShard('3', 1);
  await waitUntil('shard 3 to register', async () => '3' in (await shares(nodes)), 60_000);
  const dryRun = await runRebalance({}, ['rebalance', '--dry-run']);
  const sharesBefore1 = await shares(nodes);
  const phase1StartMs = Date.now() - loadStartMs;
  const run1 = await runRebalance({});
  const phase1EndMs = Date.now() - loadStartMs;
  const shares1 = await shares(nodes);
  await sleep(1500);

  // Phase 2: a fourth shard; the coordinator dies after its first FREEZE, the source leader too.
  startShard('4', 1);
  await waitUntil('shard 4 to register', async () => '4' in (await shares(nodes)), 60_000);
  const phase2StartMs = Date.now() - loadStartMs;
  const run2a = await runRebalance({ SEQDB_TEST_REBALANCE_EXIT_AFTER: 'freeze@2' });
  const pending = (await catalogOf(nodes, 'MOVE')) as { move: { epoch: number; from: string; to: string; state: string } | null };
  let killed = '';
  const from = pending.move?.from;
  if (from !== undefined) {
    const leader = await leaderOf(nodes, from);
    if (leader !== null) {
      killed = `${leader.address} (leader of shard ${from})`;
      await stopProc(leader.proc, 'SIGKILL');
      // A one-node shard has no one to take over: bring the node back (it restarts frozen).
      if (nodes.filter((n) => n.shard === from).length === 1) {
        await sleep(500);
        respawn(leader.proc);
      }
    }
  }
  const run2b = await runRebalance({});
  const phase2EndMs = Date.now() - loadStartMs;
  const shares2 = await shares(nodes);
  await sleep(1500);

  // Phase 3: `seqdb shard remove --shard 3`; the leader of shard 1 (the catalog, and a target)
  // is killed -9 as soon as the first move is done, with the coordinator running on.
  const phase3StartMs = Date.now() - loadStartMs;
  let killed3 = '';
  let killing: Promise<void> | null = null;
  const run3 = await runRebalance({}, ['shard', 'remove', '--shard', '3'], (line) => {
    if (killing !== null || !line.startsWith('moved ')) return;
    killing = (async () => {
      const leader = await leaderOf(nodes, '1');
      if (leader === null) return;
      killed3 = `${leader.address} (leader of shard 1) after: ${line.slice(0, 60)}`;
      await stopProc(leader.proc, 'SIGKILL');
    })();
  });
  await killing;
  const phase3EndMs = Date.now() - loadStartMs;
  const shares3 = await shares(nodes);
  // Random load over 64 buckets on a slow box can miss one for seconds: wait for each to be served.
  const servedAfter = (): boolean => {
    const served = new Set(acks.filter((a) => a.atMs > phase3EndMs).map((a) => a.bucket));
    return BUCKETS.every((b) => served.has(b));
  };
  const afterStartMs = Date.now();
  while (Date.now() - afterStartMs < 2000 || (!servedAfter() && Date.now() - afterStartMs < AFTER_MOVES_MS_MAX)) await sleep(100);
  stopLoad = true;
  await load;

  // Final state agrees with what was acknowledged.
  const finals: Record<string, string | null> = {};
  for (const b of BUCKETS) {
    const reply = await call(ROUTERS[1]!, ['GET', b, 's'], 8000);
    finals[b] = reply?.kind === 'integer' ? String(reply.value) : null;
  }
  // Heavy buckets: the value, and retries of their oldest and newest tokens, with the numbers
  // those tokens first got (a retry must get the same number after the moves).
  const heavyFinals: Record<string, string[]> = {};
  for (const [i, b] of heavy.entries()) {
    const replies = [await call(ROUTERS[0]!, ['GET', b, 's'], 8000)];
    for (const k of [0, HEAVY_INCS - 1]) replies.push(await call(ROUTERS[1]!, ['INC', b, 's', 'ID', `heavy-${b}-${k}`], 8000));
    const expected = [heavyGot[i]![0]!, heavyGot[i]![HEAVY_INCS - 1]!];
    heavyFinals[b] = [...replies.map((r) => (r?.kind === 'integer' ? String(r.value) : JSON.stringify(r))), ...expected];
  }
  const finalMove = (await catalogOf(nodes, 'MOVE')) as { move: unknown };
  closePool();
  internalPool.closeAll();
  printResult({
    seed, formedMs, errors,
    acks: acks.map((a) => [a.bucket, a.value, a.token ?? '', a.startMs, a.atMs]),
    finals, heavyFinals, heavyIncs: HEAVY_INCS, sharesBefore1, shares1, shares2, shares3, killed, killed3, finalMove: finalMove.move,
    pendingAfterKill: pending.move === null ? null : { ...pending.move, slots: undefined },
    phases: { phase1StartMs, phase1EndMs, phase2StartMs, phase2EndMs, phase3StartMs, phase3EndMs },
    dryRun: { code: dryRun.code, output: dryRun.output.slice(-4000) },
    run1: { code: run1.code, output: run1.output.slice(-4000) },
    run2a: { code: run2a.code, output: run2a.output.slice(-2000) },
    run2b: { code: run2b.code, output: run2b.output.slice(-4000) },
    run3: { code: run3.code, output: run3.output.slice(-4000) },
    dumpTail: run1.code !== 0 || run2b.code !== 0 || run3.code !== 0 ? dump() : '',
  });
});
