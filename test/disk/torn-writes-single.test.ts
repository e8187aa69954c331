/**
 * A standalone `seqdb dev` (one process, LMDB with a sync commit) that loses power in the middle
 * of a commit: io-fault.c's 'tear' mode writes some sectors of one of its page writes and kills
 * the process inside it. LMDB never overwrites a page the last commit references and writes its
 * meta page last, so the restart must find the last commit whole: every acknowledged number
 * still there, and each INC that was in flight, retried with its ID token, gets one number, with
 * no gap and no repeat.
 */
import test from 'ava';
import { join } from 'node:path';
import { startDev } from '../helpers/dev-process.ts';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { checkIncHistory, command, sleep, type IncOp } from '../replication/helpers/cluster.ts';

const lib = ioFaultLibrary();
const CLIENTS = 8;

(lib === null ? test.skip : test.serial)('a standalone node that dies inside a torn commit write restarts with every acknowledged number; retried tokens fill in, no gap, no repeat', async (t) => {
  t.timeout(90_000);
  const dir = await tempDir(t);
  const dataDir = join(dir, 'data');
  const fault = ioFault(lib!, dir, `${dataDir}/lmdb/`, 'write', undefined, 'tear');
  let dev = await startDev(t, dataDir, [], 20_000, fault.env);
  const target = { port: dev.port };
  const stopAtMs = { value: Date.now() + 60_000 };
  const ops: IncOp[] = [];

  // Each client INCs one at a time with its own tokens and retries a token until it gets a
  // number, through whatever port the node listens on now (it changes at the restart).
  const load = Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
    for (let op = 0; op < 100_000 && Date.now() < stopAtMs.value; op++) {
      const token = `c${client}-${op}`;
      const o: IncOp = { client, token, invokeMs: Date.now(), ackMs: 0, value: null, attempts: 0 };
      while (o.value === null && Date.now() < stopAtMs.value + 20_000) {
        o.attempts++;
        const reply = (await command(target.port, ['INC', 'b', 's', 'ID', token], 2000).catch((err: Error) => err.message)).trim();
        if (/^:\d+$/.test(reply)) [o.value, o.ackMs] = [BigInt(reply.slice(1)), Date.now()];
        else await sleep(50);
      }
      ops.push(o);
    }
  }));

  await sleep(1000);
  fault.arm();
  const code = await dev.exited;
  fault.heal();
  const torn = fault.torn();
  t.log(`ended ${code}; torn write: ${JSON.stringify(torn)}; ${ops.length} INCs before`);
  t.is(code, 'SIGKILL', 'the node died inside its commit write');
  t.truthy(torn, 'a write was torn');
  t.true(torn!.written > 0 && torn!.written < torn!.asked, 'part of the write reached the file, not all of it');

  dev = await startDev(t, dataDir);
  target.port = dev.port;
  stopAtMs.value = Date.now() + 1500;
  await load;
  t.is(ops.filter((o) => o.value === null).length, 0, 'every INC got its number (retried with its token)');
  t.deepEqual(checkIncHistory(ops), []);
  t.is((await command(dev.port, ['GET', 'b', 's'])).trim(), `:${ops.length}`);
  dev.child.kill('SIGTERM');
  await dev.exited;
});
