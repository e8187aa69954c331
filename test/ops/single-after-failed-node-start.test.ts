/**
 * A dir whose `seqdb node` start failed before it formed or joined a shard (here a restored-style
 * dir whose first-node start met a taken port) is still a single node's: every node start creates
 * `raft/`, and refusing any dir that has one refused this one too, although no shard ever handed
 * out a number from it (a review). Only a dir holding a Raft log or snapshot is a member's
 * (node/replication/member-data.ts).
 */
import test from 'ava';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { startSingleNode } from '../../node/single/single-node.ts';
import { freePort, inc, seqdbRun } from './helpers.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('a dir whose seqdb node start failed before any shard formed still starts as a single node', async (t) => {
  t.timeout(60_000);
  const dir = join(await tempDir(t, 'seqdb-failed-node-'), 'restored');
  const first = await startSingleNode({ dataDir: dir, server: { host: '127.0.0.1', port: 0 } });
  for (let i = 1; i <= 3; i++) t.is(await inc(`127.0.0.1:${first.address.port}`, 'b', 's'), BigInt(i));
  await first.close();

  const port = await freePort();
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(port, '127.0.0.1', () => r()));
  const node = await seqdbRun(['node', '--shard', '1', '--host', '127.0.0.1', '--port', String(port), '--data', dir,
    '--join', `127.0.0.1:${port}`, '--bootstrap-expect', '1', '--log-level', 'warn'], 20_000);
  await new Promise((r) => busy.close(r));
  t.not(node.code, 0);
  t.regex(node.output, /EADDRINUSE/);
  t.true(existsSync(join(dir, 'raft')), 'the failed start left raft/');

  // Expected: the single node starts and goes on from 3 (no shard ever existed).
  const again = await startSingleNode({ dataDir: dir, server: { host: '127.0.0.1', port: 0 } });
  t.teardown(() => again.close());
  t.is(await inc(`127.0.0.1:${again.address.port}`, 'b', 's'), 4n);
});
