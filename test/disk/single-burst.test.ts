/**
 * A review found: a burst of writes on a single `seqdb dev` node passes its reserve between two
 * reads of the guard (100 ms) and fills the disk: STORAGE errors until a restart.
 * (copied helpers from test/node/disk-full.test.ts)
 * A full disk under `seqdb dev` (a single node).
 * - Without a reserve (`--disk-reserve-mb 0`): clients get STORAGE errors and the process stays
 *   up. (It exited: a failed LMDB commit rejects promises that lmdb-js's putSync discards, each
 *   carrying a `commitError` promise, and nobody handled them; found by a review.)
 * - With one (the default): writes get NOSPACE before the disk is full, nothing is taken, reads
 *   go on, and writes resume by themselves once space is freed, with no number skipped or given
 *   twice.
 * The data dir is a tiny tmpfs mounted in a private mount namespace (`unshare -m`), so nothing
 * leaks to the host; needs root, as CI has, and skips without it.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { freePort, sleep } from '../replication/helpers/cluster.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { canMountTmpfs, fillLeaving } from '../helpers/tmpfs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MiB = 1024 * 1024;

interface DevOnTmpfs {
  readonly port: number;
  readonly pid: number;
  /** Where the data dir's file system is mounted (as the process sees it). */
  readonly mountDir: string;
  output(): string;
  exited(): string | null;
}

/** `seqdb dev` with its data dir on a fresh tmpfs of `size` (its own mount namespace: gone with it). */
async function devOnTmpfs(t: ExecutionContext, size: string, reserveMiB: number): Promise<DevOnTmpfs> {
  const mountDir = await tempDir(t);
  const port = await freePort();
  const cmd = `mount -t tmpfs -o size=${size} tmpfs '${mountDir}' && exec '${process.execPath}' bin/seqdb.js dev --port ${port} --data '${mountDir}/d' --log-level warn --disk-reserve-mb ${reserveMiB}`;
  // unshare and sh exec into the node: the child's pid is the server's.
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', cmd], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `code ${code} signal ${signal}`));
  t.teardown(() => {
    if (exited === null) child.kill('SIGKILL');
  });
  for (const until = Date.now() + 15_000; !/listening on/.test(output) && exited === null && Date.now() < until;) await sleep(50);
  return { port, pid: child.pid!, mountDir, output: () => output, exited: () => exited };
}


(canMountTmpfs() ? test : test.skip)('seqdb dev: a pipelined burst does not pass the reserve and fill the disk', async (t) => {
  t.timeout(120_000);
  const reserve = Number(process.env.D2_RESERVE ?? 1);
  const dev = await devOnTmpfs(t, process.env.D2_TMPFS ?? '48m', reserve);
  fillLeaving(dev.pid, dev.mountDir, (reserve + 2) * MiB);
  const replies = new Map<string, number>();
  await Promise.all(Array.from({ length: 8 }, async (_, conn) => {
    const c = await RespClient.connect(dev.port);
    t.teardown(() => c.socket.destroy());
    for (let round = 0; round < 10; round++) {
      const names = Array.from({ length: 2000 }, (_, i) => `${conn}-${round}-${i}`.padEnd(250, 'x'));
      c.write(Buffer.concat(names.map((n) => encodeRequest('INC', 'b'.padEnd(250, 'b'), n))));
      let stop = false;
      for (let i = 0; i < names.length; i++) {
        const r = (await c.next(20_000)).trim();
        const k = r.startsWith(':') ? ':n' : r.slice(0, 20);
        replies.set(k, (replies.get(k) ?? 0) + 1);
        if (!r.startsWith(':')) stop = true;
      }
      if (stop) break;
    }
  }));
  t.log(JSON.stringify([...replies]));
  t.is(dev.exited(), null);
  t.false([...replies.keys()].some((k) => k.startsWith('-ERR storage')), 'the disk filled: STORAGE errors (until restart)');
});
