/**
 * Node memory and restart time with many sequences: `seqdb dev --nodes 3`, then `--sequences`
 * distinct sequences created by pipelined INCs through the router (each also stores the router's
 * ID token, as in production). Reports every node's RSS, then kill -9 of one follower and the
 * time until the restarted process answers INFO with its applied index back at the shard's
 * commit index (restart = open LMDB, replay nothing already applied, rejoin). Then the same
 * after a simulated OS crash: the state LMDB is discarded and rebuilt from the snapshot and log;
 * then a follower down across one snapshot of the leader (it catches up from the log) and across
 * two (InstallSnapshot).
 * Before those, `seqdb backup` of the loaded cluster, with the leader's memory while it exports.
 *
 *   node --import=tsx bench/memory-restart.ts [--sequences 1000000] [--connections 16] [--pipeline 64]
 *     [--port 17700] [--max-load-s 600] [--timeline]
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { toolArgs } from './tool-args.ts';
import { RespClient, rssMb, sleep, startDev } from './dev-cluster.ts';

const USAGE = 'Usage: node --import=tsx bench/memory-restart.ts [--sequences 1000000] [--connections 16] [--pipeline 64]\n    [--port 17700] [--max-load-s 600] [--timeline]';

/** What INFO says the heap and Buffers hold. */
function heapOf(i: string | null): string {
  const mb = (field: string) => (Number(infoField(i, field) ?? NaN) / 2 ** 20).toFixed(0);
  return `heap used ${mb('used_memory_heap')} of ${mb('used_memory_heap_total')} MB, external ${mb('used_memory_external')} MB (Buffers ${mb('used_memory_array_buffers')} MB)`;
}

function infoField(info: unknown, field: string): string | undefined {
  return typeof info === 'string' ? new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim() : undefined;
}

async function info(port: number): Promise<string | null> {
  const c = await RespClient.connect(port).catch(() => null);
  if (!c) return null;
  const r = await c.call(['INFO']);
  c.close();
  return typeof r === 'string' ? r : null;
}

/** Creates sequences <prefix>0..<prefix>(n-1) with `connections` x `pipeline` INCs in flight; returns how many. */
async function load(port: number, n: number, connections: number, pipeline: number, maxS: number, prefix = 'm'): Promise<number> {
  const conns = await Promise.all(Array.from({ length: connections }, () => RespClient.connect(port)));
  let next = 0; let done = 0; let errors = 0;
  const deadline = Date.now() + maxS * 1000;
  const started = Date.now();
  const progress = setInterval(() => console.log(`  ${done.toLocaleString('en')} sequences, ${Math.round(done / ((Date.now() - started) / 1000))}/s`), 10_000);
  const worker = async (c: RespClient): Promise<void> => {
    while (next < n && Date.now() < deadline && errors < 1000) {
      const i = next++;
      const r = await c.call(['INC', 'mem', `${prefix}${i}`]);
      if (typeof r === 'number') done++;
      else if (errors++ < 3) console.log(`  error reply: ${r instanceof Error ? r.message : String(r)}`);
    }
  };
  await Promise.all(conns.flatMap((c) => Array.from({ length: pipeline }, () => worker(c))));
  clearInterval(progress);
  for (const c of conns) c.close();
  if (errors > 0) console.log(`  ${errors} error replies while loading`);
  return done;
}

interface Restart {
  readonly pid: number;
  readonly commit: number;
  readonly answeredMs: number;
  readonly appliedAtAnswer: number;
  readonly caughtUpMs: number;
  readonly rssMb: { total: number; anon: number };
  /** Anonymous RSS peaks (MB) from kill to caught up: the restarted node and the leader. */
  readonly peakAnonMb: { node: number; leader: number; nodeInfo: string; leaderInfo: string };
  /** The size of the snapshot image its log says it installed from the leader (false: none). */
  readonly installedSnapshot: number | false;
  /** The restarted node's anonymous RSS every 200 ms from its start: "seconds:MB" (--timeline). */
  readonly timeline: string[];
  /** When it was started (ISO time) and its log lines about snapshots, to read beside the timeline. */
  readonly startedAt: string;
  readonly snapshotLog: string[];
}

/**
 * kill -9 of a follower and the same command line again; times until it answers INFO and until
 * its applied index is back at the leader's commit index. `prepare` runs while it is down (given
 * its data dir): e.g. changing the state dir's boot marker, as if the OS had restarted, so the
 * node must discard its unsynced state LMDB and rebuild it (state-reboot-guard.ts); or more
 * writes and snapshots on the leader, so it catches up from the log (one snapshot) or by
 * InstallSnapshot (two).
 */
async function restartFollower(
  follower: { pid: number; port: number },
  leader: { pid: number; port: number },
  extra: number[],
  prepare: (dataDir: string, env: Record<string, string>, shard: string) => Promise<void> = async () => {},
): Promise<Restart> {
  const argv = readFileSync(`/proc/${follower.pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  // Same environment too: dev passes the cluster secret to its nodes there.
  const env = Object.fromEntries(readFileSync(`/proc/${follower.pid}/environ`, 'utf8').split('\0')
    .filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const dataDir = argv[argv.indexOf('--data') + 1];
  if (argv.indexOf('--data') < 0 || dataDir === undefined) throw new Error('no --data on the node command line');
  process.kill(follower.pid, 'SIGKILL');
  await sleep(500);
  await prepare(dataDir, env, argv[argv.indexOf('--shard') + 1] ?? '1');
  const commit = Number(infoField(await info(leader.port), 'commit_index') ?? NaN);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  // stdin a pipe, as dev does: a node exits when its stdin ends.
  const logPath = join(dataDir, `bench-restart-${Date.now()}.log`);
  const logFd = openSync(logPath, 'w');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', logFd, logFd], env });
  closeSync(logFd);
  extra.push(child.pid!);
  const peak = { node: 0, leader: 0, nodeInfo: '-', leaderInfo: '-' };
  const timeline: string[] = [];
  let samples = 0;
  const sampler = setInterval(() => {
    try {
      const n = rssMb(child.pid!).anon;
      if (samples++ % 4 === 0) timeline.push(`${((performance.now() - started) / 1000).toFixed(1)}:${n.toFixed(0)}`);
      const l = rssMb(leader.pid).anon;
      if (n > peak.node) void info(follower.port).then((i) => { peak.nodeInfo = heapOf(i); });
      if (l > peak.leader) void info(leader.port).then((i) => { peak.leaderInfo = heapOf(i); });
      peak.node = Math.max(peak.node, n);
      peak.leader = Math.max(peak.leader, l);
    } catch { /* starting or gone */ }
  }, 50);
  let answeredMs = NaN;
  let appliedAtAnswer = 0;
  const deadline = Date.now() + 120_000;
  try {
    for (;;) {
      const i = await info(follower.port);
      if (i !== null && Number.isNaN(answeredMs)) {
        answeredMs = performance.now() - started;
        appliedAtAnswer = Number(infoField(i, 'applied_index') ?? 0);
      }
      if (i !== null && Number(infoField(i, 'applied_index') ?? 0) >= commit) break;
      if (Date.now() > deadline) throw new Error('restarted node did not catch up in 120 s');
      await sleep(20);
    }
  } finally {
    clearInterval(sampler);
  }
  const caughtUpMs = performance.now() - started;
  await sleep(500);
  const log = readFileSync(logPath, 'utf8');
  const installed = /installed snapshot at index \d+ term \d+ \((\d+) bytes\)/.exec(log);
  const snapshotLog = log.split('\n').filter((l) => /snapshot/i.test(l)).map((l) => l.slice(0, 160));
  const installedSnapshot = installed === null ? false : Number(installed[1]);
  return { pid: child.pid!, commit, answeredMs, appliedAtAnswer, caughtUpMs, rssMb: rssMb(child.pid!), peakAnonMb: peak, installedSnapshot, timeline, startedAt, snapshotLog };
}

/** `seqdb backup` through the router while the leader's anonymous memory is sampled every 100 ms. */
async function backupPeak(routerPort: number, leader: { pid: number }): Promise<{ ms: number; bytes: number; before: number; peak: number; cliPeak: number }> {
  const out = join(mkdtempSync(join(tmpdir(), 'seqdb-bench-backup-')), 'b.bak');
  const before = rssMb(leader.pid).anon;
  let peak = before;
  let cliPeak = 0;
  let cliPid = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(leader.pid).anon);
      if (cliPid !== 0) cliPeak = Math.max(cliPeak, rssMb(cliPid).anon);
    } catch { /* exited */ }
  }, 100);
  const t0 = Date.now();
  try {
    const child = spawn(process.execPath, ['bin/seqdb.js', 'backup', '--router', `127.0.0.1:${routerPort}`, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    cliPid = child.pid ?? 0;
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    if (code !== 0) throw new Error(`seqdb backup: exit ${code}: ${text}`);
    const ms = Date.now() - t0;
    peak = Math.max(peak, rssMb(leader.pid).anon);
    return { ms, bytes: statSync(out).size, before, peak, cliPeak };
  } finally {
    clearInterval(sampler);
    rmSync(dirname(out), { recursive: true, force: true });
  }
}

function printTimeline(r: Restart): void {
  console.log(`  started ${r.startedAt}; its anonymous MB over time (s:MB): ${r.timeline.join(' ')}`);
  for (const line of r.snapshotLog) console.log(`  | ${line}`);
}

async function main(): Promise<void> {
  const { values } = toolArgs('bench/memory-restart.ts', USAGE, { options: {
    sequences: { type: 'string', default: '1000000' }, connections: { type: 'string', default: '16' },
    pipeline: { type: 'string', default: '64' }, port: { type: 'string', default: '17700' }, 'max-load-s': { type: 'string', default: '600' },
    timeline: { type: 'boolean', default: false },
  } });
  const port = Number(values.port);
  const cluster = await startDev(port, ['--nodes', '3']);
  const extra: number[] = [];
  try {
    // Anonymous RSS peaks while a snapshot image is built: sample it through the load, with what
    // the process says it holds (INFO used_memory_*) at the sample of its peak.
    const peakAnonMb = new Map<number, number>();
    const atPeak = new Map<number, string>();
    let sampling = false;
    const sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      void Promise.all(cluster.nodes().map(async (n) => {
        try {
          const i = await info(n.port);
          const anon = rssMb(n.pid).anon;
          if (anon <= (peakAnonMb.get(n.pid) ?? 0)) return;
          peakAnonMb.set(n.pid, anon);
          const mb = (field: string) => (Number(infoField(i, field) ?? NaN) / 2 ** 20).toFixed(0);
          atPeak.set(n.pid, `heap used ${mb('used_memory_heap')} of ${mb('used_memory_heap_total')} MB, external ${mb('used_memory_external')} MB (Buffers ${mb('used_memory_array_buffers')} MB)`);
        } catch { /* exited */ }
      })).finally(() => { sampling = false; });
    }, 200);
    const t0 = Date.now();
    const created = await load(port, Number(values.sequences), Number(values.connections), Number(values.pipeline), Number(values['max-load-s']));
    const loadS = (Date.now() - t0) / 1000;
    console.log(`created ${created.toLocaleString('en')} sequences in ${loadS.toFixed(0)} s (${Math.round(created / loadS)}/s, pipelined, fsync on)`);
    await sleep(2000);
    clearInterval(sampler);
    const nodes = cluster.nodes();
    let follower: { pid: number; port: number } | null = null;
    let leader: { pid: number; port: number } | null = null;
    for (const n of nodes) {
      const i = await info(n.port);
      const role = infoField(i, 'role');
      const m = rssMb(n.pid);
      console.log(`node :${n.port} ${role} RSS ${m.total.toFixed(0)} MB = ${m.anon.toFixed(0)} MB anonymous (heap) + ${m.file.toFixed(0)} MB file-backed (LMDB map); anonymous peak during the load ${(peakAnonMb.get(n.pid) ?? 0).toFixed(0)} MB (goal < 150 MB): ${atPeak.get(n.pid) ?? '-'}`);
      if (role === 'follower' && !follower) follower = n;
      if (role === 'leader') leader = n;
    }
    if (!follower || !leader) throw new Error('no follower or no leader found');
    const b = await backupPeak(port, leader);
    console.log(`seqdb backup of ${created.toLocaleString('en')} sequences: ${(b.bytes / 2 ** 20).toFixed(1)} MiB in ${b.ms} ms; the leader's anonymous memory ${b.before.toFixed(0)} MB before, peak ${b.peak.toFixed(0)} MB while it exported (goal < 150 MB); the seqdb backup process peaked at ${b.cliPeak.toFixed(0)} MB anonymous`);
    const peaks = (r: Restart): string => `anonymous peak ${r.peakAnonMb.node.toFixed(0)} MB on it (near it: ${r.peakAnonMb.nodeInfo}), ${r.peakAnonMb.leader.toFixed(0)} MB on the leader (${r.peakAnonMb.leaderInfo})`;
    const restart = await restartFollower(follower, leader, extra);
    console.log(`restart of a follower with ${created.toLocaleString('en')} sequences: answers INFO after ${restart.answeredMs.toFixed(0)} ms, applied index back at the commit index after ${restart.caughtUpMs.toFixed(0)} ms (goal < 2000 ms); RSS after restart ${restart.rssMb.total.toFixed(0)} MB (${restart.rssMb.anon.toFixed(0)} MB anonymous)`);
    const rebuild = await restartFollower({ pid: restart.pid, port: follower.port }, leader, extra, async (dataDir) => {
      writeFileSync(join(dataDir, 'lmdb', 'written-by-boot'), 'an-earlier-boot');
    });
    console.log(`restart after an OS crash (state LMDB discarded, rebuilt from the Raft snapshot and log): answers INFO after ${rebuild.answeredMs.toFixed(0)} ms (applied index ${rebuild.appliedAtAnswer} of ${rebuild.commit}), applied index back at the commit index after ${rebuild.caughtUpMs.toFixed(0)} ms; RSS after ${rebuild.rssMb.total.toFixed(0)} MB (${rebuild.rssMb.anon.toFixed(0)} MB anonymous); ${peaks(rebuild)}`);
    if (values.timeline) printTimeline(rebuild);
    const leaderPort = leader.port;
    // Through the admin command, which proves the cluster secret dev gave its nodes.
    const snapshotLeader = (env: Record<string, string>, shard: string): void => {
      const { SEQDB_EXIT_WITH_PARENT: _, ...adminEnv } = env;
      const r = spawnSync(process.execPath, ['bin/seqdb.js', 'node', 'admin', 'snapshot', '--addr', `127.0.0.1:${leaderPort}`, '--shard', shard], { env: adminEnv, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`seqdb node admin snapshot: status ${r.status} ${r.signal ?? ""} ${r.error?.message ?? ""} ${r.stdout}${r.stderr}`);
    };
    const caughtUp = (r: Restart): string => `answers INFO after ${r.answeredMs.toFixed(0)} ms, caught up after ${r.caughtUpMs.toFixed(0)} ms${r.installedSnapshot === false ? ' (from the log: no InstallSnapshot in its log)' : ` (by InstallSnapshot, image of ${(r.installedSnapshot / 2 ** 20).toFixed(1)} MiB)`}; ${peaks(r)} (goal < 150 MB)`;
    // Down across one snapshot of the leader: the leader keeps the log since its previous
    // snapshot (node/replication/snapshot-image.ts), so the follower catches up from the log.
    const acrossOne = await restartFollower({ pid: rebuild.pid, port: follower.port }, leader, extra, async (_dataDir, env, shard) => {
      await load(port, 10_000, 4, 16, 60, 'late');
      snapshotLeader(env, shard);
    });
    console.log(`a follower down while 10,000 more sequences were written and the leader took a snapshot: ${caughtUp(acrossOne)}`);
    if (values.timeline) printTimeline(acrossOne);
    // Down across two: the log it needs is compacted away, so it is sent the whole image.
    const behind = await restartFollower({ pid: acrossOne.pid, port: follower.port }, leader, extra, async (_dataDir, env, shard) => {
      await load(port, 10_000, 4, 16, 60, 'later');
      snapshotLeader(env, shard);
      await load(port, 10_000, 4, 16, 60, 'latest');
      snapshotLeader(env, shard);
    });
    console.log(`a follower down while 20,000 more sequences were written and the leader took two snapshots: ${caughtUp(behind)}`);
    if (values.timeline) printTimeline(behind);
  } finally {
    for (const pid of extra) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await cluster.stop();
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
