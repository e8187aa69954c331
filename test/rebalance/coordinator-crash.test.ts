/**
 * a real `seqdb dev --shards 2 --nodes 1` cluster under ID-tokened INC load
 * through its router and a second router; `seqdb shard remove --shard 2` is killed right after
 * each step of a move in turn (test hook SEQDB_TEST_REBALANCE_EXIT_AFTER) and run again, until
 * a last run finishes. Every INC is retried with its token until it gets a number: afterwards each
 * bucket's numbers must be exactly 1..N, each once.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RespClient, callOnce } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { exitWithParent } from '../helpers/exit-with-parent.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function run(args: string[], env: Record<string, string>, timeoutMs = 90_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/seqdb.js', ...args], exitWithParent(args[0], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const call = callOnce;

async function scenario(t: ExecutionContext, drive: (port: number, env: Record<string, string>) => Promise<{ ok: boolean; runs: string[] }>, nodes = 1): Promise<void> {
  t.timeout(300_000);
  const dir = await mkdtemp(join(tmpdir(), 'review-moves-'));
  const port = await freePortRange(2 * nodes + 2, true);
  const port2 = port + 2 * nodes + 1;
  const dev = spawn(process.execPath, ['bin/seqdb.js', 'dev', '--shards', '2', '--nodes', String(nodes), '--port', String(port), '--data', dir],
    exitWithParent('dev', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  let devOut = '';
  dev.stdout!.on('data', (d: Buffer) => (devOut += d.toString()));
  dev.stderr!.on('data', (d: Buffer) => (devOut += d.toString()));
  let router2: ReturnType<typeof spawn> | null = null;
  t.teardown(async () => {
    router2?.kill('SIGKILL');
    dev.kill('SIGKILL');
    await sleep(300);
    await rm(dir, { recursive: true, force: true });
  });

  const deadline = Date.now() + 60_000;
  let info = '';
  while (Date.now() < deadline) {
    info = (await call(port, ['INFO'], 2000)) ?? '';
    if (/shards:2/.test(info) && /catalog_epoch:1/.test(info)) break;
    await sleep(300);
  }
  t.regex(info, /catalog_epoch:1/, devOut);
  // Both shards serve (a bucket on each).
  for (const b of ['k0', 'k1', 'k2', 'k3', 'k4', 'k5']) {
    let r = '';
    for (let i = 0; i < 100 && !/^:/.test(r); i++) {
      r = (await call(port, ['GET', b, 's'], 3000)) ?? '';
      if (!/^[:$]/.test(r)) await sleep(200);
      else break;
    }
  }
  const secret = (await readFile(join(dir, 'cluster-secret'), 'utf8')).trim();
  const env = { SEQDB_CLUSTER_SECRET: secret };
  // A second router (a separate process, its own map).
  router2 = spawn(process.execPath, ['bin/seqdb.js', 'router', '--port', String(port2), '--join', `127.0.0.1:${port + 1}`],
    exitWithParent('router', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, SEQDB_PASSWORD: '' } }));
  let r2Out = '';
  router2.stdout!.on('data', (d: Buffer) => (r2Out += d.toString()));
  router2.stderr!.on('data', (d: Buffer) => (r2Out += d.toString()));
  const routers = [port, port2];
  for (let i = 0; i < 100 && !/^:/.test((await call(port2, ['INC', 'warm', 's'], 2000)) ?? ''); i++) await sleep(200);

  // Load: ID-tokened INCs over 24 buckets, each retried with its token until it gets a number.
  const BUCKETS = Array.from({ length: 24 }, (_, i) => `k${i}`);
  const acks = new Map<string, bigint[]>(BUCKETS.map((b) => [b, []]));
  const problems: string[] = [];
  let stop = false;
  let n = 0;
  const worker = async (w: number): Promise<void> => {
    const conns: (RespClient | null)[] = [null, null];
    while (!stop) {
      const bucket = BUCKETS[(n++ * 7 + w) % BUCKETS.length]!;
      const token = `${Date.now()}-w${w}-${n}`;
      const opDeadline = Date.now() + 60_000;
      for (let attempt = 0; ; attempt++) {
        if (Date.now() > opDeadline) {
          problems.push(`INC ${bucket} ID ${token}: no number within 60 s`);
          break;
        }
        const r = attempt % 2;
        try {
          conns[r] ??= await RespClient.connect(routers[r]!);
          const reply = await conns[r]!.call('INC', bucket, 's', 'ID', token);
          const m = /^:(\d+)\r\n$/.exec(reply);
          if (m) {
            acks.get(bucket)!.push(BigInt(m[1]!));
            break;
          }
          if (!/^-(CLUSTERDOWN|TRYAGAIN|MOVED|NOTLEADER|BUSY)/.test(reply)) problems.push(`INC ${bucket} ID ${token}: ${reply.trim()}`);
        } catch {
          conns[r]?.close();
          conns[r] = null;
        }
        await sleep(20);
      }
    }
    for (const c of conns) c?.close();
  };
  const workers = Array.from({ length: 6 }, (_, w) => worker(w));
  await sleep(1500);

  const { ok, runs } = await drive(port, env);
  await sleep(1000);
  stop = true;
  await Promise.all(workers);

  t.true(ok, runs.join('\n---\n'));
  t.deepEqual(problems, []);
  const bad: string[] = [];
  for (const [bucket, values] of acks) {
    const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const dups = sorted.filter((v, i) => i > 0 && sorted[i - 1] === v);
    const expected = sorted.map((_, i) => BigInt(i + 1));
    if (dups.length > 0) bad.push(`${bucket}: repeated ${dups.join(',')}`);
    else if (sorted.join(',') !== expected.join(',')) bad.push(`${bucket}: ${sorted.length} acks, not 1..${sorted.length} (max ${sorted.at(-1)})`);
    const got = await call(port, ['GET', bucket, 's']);
    if (got !== `:${sorted.length}\r\n`) bad.push(`${bucket}: GET ${JSON.stringify(got)} after ${sorted.length} acks`);
  }
  t.deepEqual(bad, [], `${runs.join('\n---\n')}\nrouter2: ${r2Out.slice(-500)}`);
  t.log(runs.join("\n---\n"));
  t.log(`acks: ${[...acks.values()].reduce((s, v) => s + v.length, 0)}`);
}

test('shard remove killed after each move step and run again, under ID-tokened load: every bucket 1..N once', async (t) => {
  await scenario(t, async (port, env) => {
    const runs: string[] = [];
    for (const step of ['freeze', 'part', 'import', 'commit', 'release', 'end', 'begin']) {
      const r = await run(['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '1024'], { ...env, SEQDB_TEST_REBALANCE_EXIT_AFTER: step });
      runs.push(`exit after ${step}: code ${r.code}\n${r.out.split('\n').slice(-6).join('\n')}`);
      await sleep(300);
    }
    const last = await run(['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '1024'], env);
    runs.push(`final: code ${last.code}\n${last.out.split('\n').slice(-6).join('\n')}`);
    return { ok: last.code === 0, runs };
  });
});

test('three coordinators race (two shard removes and a rebalance at once), then one more run: every bucket 1..N once', async (t) => {
  await scenario(t, async (port, env) => {
    const args = (extra: string[]): string[] => [...extra, '--router', `127.0.0.1:${port}`, '--batch-slots', '700'];
    const raced = await Promise.all([
      run(args(['shard', 'remove', '--shard', '2']), env),
      run(args(['shard', 'remove', '--shard', '2']), env),
      (async () => { await sleep(400); return run(args(['rebalance']), env); })(),
    ]);
    const runs = raced.map((r, i) => `racer ${i}: code ${r.code}\n${r.out.split('\n').slice(-8).join('\n')}`);
    // Whoever won, one more plain rebalance finishes any move left and finds nothing to do.
    const last = await run(args(['rebalance']), env);
    runs.push(`final: code ${last.code}\n${last.out.split('\n').slice(-6).join('\n')}`);
    return { ok: last.code === 0, runs };
  });
});

/** The pid of shard `shard`'s leader (dev ports: port + 1 + (shard-1)*3 + i), or null. */
async function leaderPid(port: number, shard: number): Promise<number | null> {
  for (let i = 0; i < 3; i++) {
    const r = await call(port + 1 + (shard - 1) * 3 + i, ['INFO'], 1000);
    if (r !== null && /role:leader/.test(r)) return Number(/process_id:(\d+)/.exec(r)![1]);
  }
  return null;
}

test('target and source leaders killed -9 between coordinator runs (3 nodes per shard): every bucket 1..N once', async (t) => {
  await scenario(t, async (port, env) => {
    const runs: string[] = [];
    const cmd = ['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '2048'];
    // Shard 2 drains into shard 1 (the target, also the catalog).
    // One leader kill per shard (3 nodes each: a majority stays).
    for (const [step, victim] of [['part', 1], ['import', 2], ['commit', 0], ['release', 0]] as const) {
      const r = await run(cmd, { ...env, SEQDB_TEST_REBALANCE_EXIT_AFTER: step });
      const pid = victim === 0 ? null : await leaderPid(port, victim);
      if (pid !== null) process.kill(pid, 'SIGKILL');
      runs.push(`exit after ${step} (code ${r.code}), killed shard ${victim} leader pid ${pid}\n${r.out.split('\n').slice(-4).join('\n')}`);
      await sleep(1500);
    }
    const last = await run(cmd, env);
    runs.push(`final: code ${last.code}\n${last.out.split('\n').slice(-6).join('\n')}`);
    return { ok: last.code === 0, runs };
  }, 3);
});
