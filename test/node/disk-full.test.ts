/**
 * A full disk under `seqdb dev` (a single node): clients get STORAGE errors and the process stays
 * up. (It exited: a failed LMDB commit rejects promises that lmdb-js's putSync discards, each
 * carrying a `commitError` promise, and nobody handled them; found by a review. That every
 * acknowledged number survives a full disk the review checked by hand: restarted with space.)
 * The data dir is a tiny tmpfs mounted in a private mount namespace
 * (`unshare -m`), so nothing leaks to the host; needs root, as CI has, and skips without it.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { freePort, sleep } from '../replication/helpers/cluster.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function canMount(): boolean {
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d && rmdir $d'], { timeout: 5000 });
  return r.status === 0;
}

/** `seqdb dev` with its data dir on a fresh tmpfs of `size` (its own mount namespace: gone with it). */
function devOnTmpfs(mountDir: string, size: string, port: number): ChildProcess {
  const cmd = `mount -t tmpfs -o size=${size} tmpfs '${mountDir}' && exec '${process.execPath}' bin/seqdb.js dev --port ${port} --data '${mountDir}/d' --log-level warn`;
  return spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', cmd], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

(canMount() ? test : test.skip)('seqdb dev on a full disk answers STORAGE and stays up', async (t) => {
  t.timeout(90_000);
  const dir = await tempDir(t);
  const port = await freePort();
  const child = devOnTmpfs(dir, '2m', port);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `code ${code} signal ${signal}`));
  t.teardown(() => {
    if (exited === null) child.kill('SIGKILL');
  });
  for (const until = Date.now() + 15_000; !/listening on/.test(output) && exited === null && Date.now() < until;) await sleep(50);
  // Distinct long sequence names, pipelined 64 deep, until the first refusal (bounded: 45 s).
  const c = await RespClient.connect(port);
  t.teardown(() => c.socket.destroy());
  const acked: string[] = [];
  let refusal = '';
  const deadline = Date.now() + 45_000;
  for (let k = 0; refusal === '' && Date.now() < deadline;) {
    const names = Array.from({ length: 64 }, () => `s${k++}-${'x'.repeat(200)}`);
    c.write(Buffer.concat(names.map((n) => encodeRequest('INC', 'b', n))));
    for (const name of names) {
      const reply = await c.next(5000).catch((err: Error) => { throw new Error(`${err.message} after ${acked.length} INCs (exited: ${exited}):\n${output.slice(-2000)}`); });
      if (reply === ':1\r\n') acked.push(name);
      else if (refusal === '') refusal = reply.trim();
    }
  }
  t.regex(refusal, /^-ERR storage/, `the disk filled after ${acked.length} INCs`);
  await sleep(1500);
  t.is(exited, null, output.slice(-1500));
  // Up, and from now on every command gets STORAGE (node/single/executor.ts: after a failed
  // commit the node stops serving rather than answer from a state it could not write).
  const again = await RespClient.connect(port);
  t.teardown(() => again.socket.destroy());
  again.write(encodeRequest('PING'));
  t.is(await again.next(2000), '+PONG\r\n');
  again.write(encodeRequest('INC', 'b', 'one-more'));
  t.regex(await again.next(2000), /^-ERR storage/, 'writes stay refused');
  t.true(acked.length > 100);
});
