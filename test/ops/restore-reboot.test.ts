/**
 * A restored data dir started as the first node of a new shard (README: "start the restored dir
 * as its first node (--bootstrap-expect 1; it forms the shard once the other --join addresses
 * answer)"), and the machine reboots while it waits for the others. The restored state (fsynced,
 * in no Raft snapshot yet) must survive: an earlier build took it for an unsynced replica view of
 * an earlier boot and deleted it, and the shard handed out every number of the backup again.
 */
import test from 'ava';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, inc, incRetry, seqdb, seqdbRun, sleep } from './helpers.ts';

test('a restored dir started once (waiting for its --join peers) keeps its state across an OS reboot', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-crash-restore-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A single node with some history, backed up and restored into a new data dir.
  const dev = seqdb(t, ['dev', '--port', '0', '--data', join(dir, 'a'), '--log-level', 'warn']);
  const addr = (await dev.waitFor(/listening on ([0-9.]+:[0-9]+)/))[1]!;
  for (let i = 1; i <= 5; i++) t.is(await inc(addr, 'b', 's'), BigInt(i));
  const file = join(dir, 'a.bak');
  const b = await seqdbRun(['backup', '--router', addr, '--out', file]);
  t.is(b.code, 0, b.output);
  dev.child.kill('SIGKILL');
  const r = await seqdbRun(['restore', '--in', file, '--data', join(dir, 'r0')]);
  t.is(r.code, 0, r.output);

  // The restored node starts as documented, and waits: its peers are not up yet.
  const ports = [await freePort(), await freePort(), await freePort()];
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const nodeArgs = (i: number, extra: string[] = []): string[] => ['node', '--shard', 'b', '--host', '127.0.0.1', '--port', String(ports[i]),
    '--data', join(dir, `r${i}`), '--join', addrs.join(','), '--log-level', 'warn', ...extra];
  const first = seqdb(t, nodeArgs(0, ['--bootstrap-expect', '1']));
  await first.waitFor(/listening on/);
  await sleep(500);
  first.child.kill('SIGKILL'); // the machine goes down (power loss, reboot) before the peers come up
  await first.exited;
  // What the next boot looks like to prepareStateDir: another boot id than the one it recorded.
  // (The restored data.mdb itself was fsynced by `seqdb restore` and is intact.)
  await writeFile(join(dir, 'r0', 'lmdb', 'written-by-boot'), 'an-earlier-boot');

  const again = seqdb(t, nodeArgs(0, ['--bootstrap-expect', '1']));
  for (let i = 1; i < 3; i++) {
    await mkdir(join(dir, `r${i}`));
    seqdb(t, nodeArgs(i));
  }
  await again.waitFor(/listening on/);
  const next = await incRetry(addrs, 'b', 's', 'after-restore', 30_000);
  t.is(next, 6n, `the restored shard handed out ${next} again (the backup stood at 5)\n${again.output().slice(-2000)}`);
});
