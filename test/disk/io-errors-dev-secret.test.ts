/**
 * `seqdb dev --nodes 3` keeps its generated secret in `<data>/cluster-secret` (router/dev-cluster.ts).
 * A failed write of it (EIO; or an OS crash before it reached the disk) left it empty, and every
 * later start refused the empty secret (a review): now an empty file means none yet, and the file
 * is written aside, synced and renamed.
 */
import test from 'ava';
import { join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { startDev } from '../helpers/dev-process.ts';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { command } from '../replication/helpers/cluster.ts';
import { freePortRange } from '../helpers/port-range.ts';

const lib = ioFaultLibrary();

(lib === null ? test.skip : test.serial)('seqdb dev --nodes 3 whose cluster-secret write failed (EIO) starts again once the disk healed', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const dataDir = join(dir, 'data');
  const fault = ioFault(lib!, dir, `${dataDir}/cluster-secret`, 'write');
  fault.arm();
  const port = await freePortRange(4, true);
  const first = await startDev(t, dataDir, ['--port', String(port), '--nodes', '3'], 30_000, fault.env).then(
    async (d) => { d.child.kill('SIGTERM'); await d.exited; return `started (${d.output().slice(-300)})`; },
    (err: Error) => `refused: ${err.message.split('\n').filter((l) => /secret|EIO|i\/o/i.test(l)).slice(0, 3).join(' | ')}`,
  );
  t.log(`first start on the failing disk: ${first}`);
  const secretFile = join(dataDir, 'cluster-secret');
  t.log(`cluster-secret now ${existsSync(secretFile) ? `holds ${JSON.stringify(readFileSync(secretFile, 'utf8'))}` : 'absent'}`);
  fault.heal();
  // Healed: a restart must work (a new secret, or a refusal that says what to do; never a cluster without one).
  const port2 = await freePortRange(4, true);
  let again;
  try {
    again = await startDev(t, dataDir, ['--port', String(port2), '--nodes', '3'], 60_000);
  } catch (err) {
    t.fail(`healed, seqdb dev --nodes 3 no longer starts: ${(err as Error).message.split('\n').filter((l) => /secret|Error/i.test(l)).slice(0, 4).join(' | ')}`);
    return;
  }
  t.is(await incOnceServing(again.port, 'first'), ':1');
  again.child.kill('SIGTERM');
  await again.exited;
  // An empty secret file (an OS crash before its write reached the disk) is no secret yet.
  writeFileSync(secretFile, '');
  // The same ports: the nodes keep their peers' addresses.
  const third = await startDev(t, dataDir, ['--port', String(port2), '--nodes', '3'], 60_000);
  t.is(await incOnceServing(third.port, 'second'), ':2', third.output().slice(-2000));
  t.true(readFileSync(secretFile, 'utf8').trim().length >= 8, 'a new secret was kept');
  third.child.kill('SIGTERM');
  await third.exited;
});

/** INC with an ID token, retried (a fresh cluster answers CLUSTERDOWN until its slots are set) for up to 30 s. */
async function incOnceServing(port: number, token: string): Promise<string> {
  let reply = '';
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    reply = (await command(port, ['INC', 'b', 's', 'ID', token], 10_000).catch((err: Error) => err.message)).trim();
    if (reply.startsWith(':')) break;
  }
  return reply;
}
