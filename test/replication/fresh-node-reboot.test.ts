/**
 * A review: a brand-new node (empty data dir) waiting for its --join peers opens its
 * state LMDB WITHOUT fsync (prepareStateDir: no data.mdb yet -> sync false, state-reboot-guard.ts:117-126).
 * An OS crash while it waits can leave that data.mdb torn (here: zeros, the pages never reached the
 * disk). At the next boot the node is still not in a shard, data.mdb exists, so the guard takes it
 * for a fsynced `seqdb restore` output and keeps it (line 117): LMDB then dies opening it.
 * The node can never start again until someone deletes <data>/lmdb by hand.
 */
import test from 'ava';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, seqdb, sleep } from '../ops/helpers.ts';

test('a never-joined node whose unsynced empty state was torn by an OS crash starts again', async (t) => {
  t.timeout(60_000);
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-fresh-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ports = [await freePort(), await freePort(), await freePort()];
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const args = ['node', '--shard', 'b', '--host', '127.0.0.1', '--port', String(ports[0]), '--data', join(dir, 'n0'),
    '--join', addrs.join(','), '--bootstrap-expect', '3', '--log-level', 'warn'];
  const first = seqdb(t, args);
  await first.waitFor(/listening on/);
  await sleep(500);
  first.child.kill('SIGKILL'); // power loss while it waits for its two peers
  await first.exited;
  const stateDir = join(dir, 'n0', 'lmdb');
  t.is((await readFile(join(stateDir, 'written-by-boot'), 'latin1')).length > 0, true, 'it recorded its boot: it wrote the state unsynced');
  // The next boot: another boot id, and the unsynced data.mdb's pages never reached the disk.
  const size = (await readFile(join(stateDir, 'data.mdb'))).length;
  await writeFile(join(stateDir, 'data.mdb'), Buffer.alloc(size));
  await writeFile(join(stateDir, 'written-by-boot'), 'an-earlier-boot');
  const again = seqdb(t, args);
  let started = true;
  try {
    await again.waitFor(/listening on/, 20_000);
  } catch {
    started = false;
  }
  const ex = again.child.signalCode ?? again.child.exitCode;
  t.true(started, `the node did not start again (exit ${ex}):\n${again.output().slice(-800)}`);
});
