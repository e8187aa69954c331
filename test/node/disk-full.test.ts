/**
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
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { sleep } from '../replication/helpers/cluster.ts';
import { canMountTmpfs, devOnTmpfs, fillLeaving, removeFiller, type DevOnTmpfs } from '../helpers/tmpfs.ts';

const MiB = 1024 * 1024;

/**
 * INCs of distinct long sequence names, pipelined 64 deep, until the first refusal (bounded:
 * 45 s); returns the names that got 1 and the refusal.
 */
async function incUntilRefused(t: ExecutionContext, dev: DevOnTmpfs): Promise<{ acked: string[]; refusal: string }> {
  const c = await RespClient.connect(dev.port);
  t.teardown(() => c.socket.destroy());
  const acked: string[] = [];
  let refusal = '';
  const deadline = Date.now() + 45_000;
  for (let k = 0; refusal === '' && Date.now() < deadline;) {
    const names = Array.from({ length: 64 }, () => `s${k++}-${'x'.repeat(200)}`);
    c.write(Buffer.concat(names.map((n) => encodeRequest('INC', 'b', n))));
    for (const name of names) {
      const reply = await c.next(5000).catch((err: Error) => { throw new Error(`${err.message} after ${acked.length} INCs (exited: ${dev.exited()}):\n${dev.output().slice(-2000)}`); });
      if (reply === ':1\r\n') acked.push(name);
      else if (refusal === '') refusal = reply.trim();
    }
  }
  c.socket.destroy();
  return { acked, refusal };
}

async function call(port: number, ...args: string[]): Promise<string> {
  const c = await RespClient.connect(port);
  try {
    c.write(encodeRequest(...args));
    return await c.next(2000);
  } finally {
    c.socket.destroy();
  }
}

(canMountTmpfs() ? test : test.skip)('seqdb dev on a full disk (no reserve) answers STORAGE and stays up', async (t) => {
  t.timeout(90_000);
  const dev = await devOnTmpfs(t, '2m', 0);
  const { acked, refusal } = await incUntilRefused(t, dev);
  t.regex(refusal, /^-ERR storage/, `the disk filled after ${acked.length} INCs`);
  await sleep(1500);
  t.is(dev.exited(), null, dev.output().slice(-1500));
  // Up, and from now on every command gets STORAGE (node/single/executor.ts: after a failed
  // commit the node stops serving rather than answer from a state it could not write).
  t.is(await call(dev.port, 'PING'), '+PONG\r\n');
  t.regex(await call(dev.port, 'INC', 'b', 'one-more'), /^-ERR storage/, 'writes stay refused');
  t.true(acked.length > 100);
});

(canMountTmpfs() ? test : test.skip)('seqdb dev under its disk reserve answers NOSPACE, keeps reading, and resumes when space is freed', async (t) => {
  t.timeout(90_000);
  const dev = await devOnTmpfs(t, '24m', 4);
  // Most of the disk taken by a file we can delete later: about 2 MiB above the reserve left.
  const filler = fillLeaving(dev.pid, dev.mountDir, 6 * MiB);
  const { acked, refusal } = await incUntilRefused(t, dev);
  t.regex(refusal, /^-NOSPACE /, `refused after ${acked.length} INCs:\n${dev.output().slice(-1500)}`);
  t.true(acked.length > 100, `${acked.length} INCs before the reserve`);
  t.is(dev.exited(), null, dev.output().slice(-1500));
  // Refused with nothing taken: reads see every acknowledged number. (A batch is refused as soon
  // as it would not fit above the reserve, page per write, so the guard need not be low yet.)
  t.is(await call(dev.port, 'GET', 'b', acked[0]!), ':1\r\n');
  t.is(await call(dev.port, 'GET', 'b', acked.at(-1)!), ':1\r\n');
  // Space freed: writes resume within the guard's check interval, from where they stopped.
  removeFiller(filler);
  let reply = '';
  for (const until = Date.now() + 5000; Date.now() < until; await sleep(50)) {
    reply = await call(dev.port, 'INC', 'b', acked[0]!);
    if (!reply.startsWith('-NOSPACE')) break;
  }
  t.is(reply, ':2\r\n', 'the next number of a sequence, neither repeated nor skipped');
  t.is(await call(dev.port, 'INC', 'b', acked.at(-1)!), ':2\r\n');
  t.regex(await call(dev.port, 'INFO'), /disk_low:0/);
});
