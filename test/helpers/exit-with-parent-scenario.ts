// Started by exit-with-parent.test.ts: starts long-lived seqdb processes through the test
// helpers, prints their pids, then dies of an uncaught exception, as an ava worker can (no
// teardown runs).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../replication/helpers/cluster.ts';
import { startDev } from './dev-process.ts';
import { seqdb } from '../ops/helpers.ts';
import { freePort } from './port-range.ts';

const t = { teardown(): void {}, log(): void {} };
const c = await Cluster.start(t, { size: 1 });
const devDir = mkdtempSync(join(tmpdir(), 'seqdb-ewp-'));
const dev = await startDev(t, devDir);
const router = seqdb(t, ['router', '--host', '127.0.0.1', '--port', String(await freePort()), '--join', c.nodes[0]!.addr]);
await router.waitFor(/ listening on /, 20_000);
console.log(`dirs ${join(c.nodes[0]!.dataDir, '..')} ${devDir}`); // for the test to remove: no teardown runs here
console.log(`pids ${[c.nodes[0]!.child!.pid, dev.pid, router.child.pid].join(' ')}`);
setTimeout(() => {
  throw new Error('worker dies');
}, 50);
