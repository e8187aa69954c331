/**
 * `seqdb dev` whose commit failed (EIO) is stopped (SIGTERM) while its disk still fails: it exits
 * promptly and releases its lock; restarted healed, its numbers go on without a gap, and the
 * token of the refused INC takes the next one.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startDev } from '../helpers/dev-process.ts';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { command } from '../replication/helpers/cluster.ts';

const lib = ioFaultLibrary();

for (const ops of ['write,sync', 'sync']) {
  (lib === null ? test.skip : test.serial)(`seqdb dev whose ${ops} fails once: SIGTERM while still failing exits promptly, lock released; healed, numbers gapless`, async (t) => {
    t.timeout(60_000);
    const dir = await tempDir(t);
    const dataDir = join(dir, 'data');
    const fault = ioFault(lib!, dir, `${dataDir}/lmdb/`, ops);
    const dev = await startDev(t, dataDir, [], 20_000, fault.env);
    for (let i = 1; i <= 50; i++) t.is((await command(dev.port, ['INC', 'b', 's', 'ID', `t${i}`])).trim(), `:${i}`);
    fault.arm();
    const refused = (await command(dev.port, ['INC', 'b', 's', 'ID', 'x1'])).trim();
    t.regex(refused, /storage failed/);
    const started = Date.now();
    dev.child.kill('SIGTERM');
    const timer = setTimeout(() => dev.child.kill('SIGKILL'), 15_000);
    const code = await dev.exited;
    clearTimeout(timer);
    t.log(`SIGTERM on the failing disk: exit ${code} after ${Date.now() - started} ms; LOCK left: ${existsSync(join(dataDir, 'LOCK'))}; ${dev.output().trim().split('\n').slice(-2).join(' | ')}`);
    t.not(code, 'SIGKILL', 'hung on SIGTERM');
    fault.heal();
    const again = await startDev(t, dataDir);
    t.is((await command(again.port, ['GET', 'b', 's'])).trim(), ':50');
    t.is((await command(again.port, ['INC', 'b', 's', 'ID', 't50'])).trim(), ':50');
    t.is((await command(again.port, ['INC', 'b', 's', 'ID', 'x1'])).trim(), ':51');
    t.is((await command(again.port, ['INC', 'b', 's'])).trim(), ':52');
    again.child.kill('SIGTERM');
    await again.exited;
  });
}
