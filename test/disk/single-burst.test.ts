/**
 * A review found: a burst of writes pipelined into a single `seqdb dev` node passed its reserve
 * between two reads of the guard (100 ms) and filled the disk: STORAGE errors until a restart.
 * Each transaction's writes are now checked against a fresh reading, a page per write.
 */
import test from 'ava';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { canMountTmpfs, devOnTmpfs, fillLeaving } from '../helpers/tmpfs.ts';
const MiB = 1024 * 1024;

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
