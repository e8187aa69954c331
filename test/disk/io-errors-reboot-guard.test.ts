/**
 * The reboot guard's marker (lmdb/written-by-boot, node/replication/state-reboot-guard.ts) cannot
 * be written (EIO) when a node restarts after an "OS restart" (the marker names another boot):
 * the node must not serve from a discarded or unsynced state; healed, it rebuilds and holds the
 * right numbers.
 */
import test from 'ava';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { exitOf, getOnceLeading } from './fault-shard.ts';

const lib = ioFaultLibrary();

for (const ops of ['write,sync', 'sync']) {
  (lib === null ? test.skip : test.serial)(`a follower restarted after an OS restart whose reboot marker ${ops} fails (EIO) refuses to start; healed, it rebuilds`, async (t) => {
    t.timeout(120_000);
    const dir = await tempDir(t);
    const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
    const leader = await c.waitForLeader(3);
    const f = c.nodes.find((n) => n.index !== leader)!.index;
    let last = 0;
    for (let i = 0; i < 250; i++) last = Number((await command(c.nodes[leader]!.port, ['INC', 'b', 'g'], 3000)).trim().slice(1));
    await c.waitApplied(f, Number((await c.info(leader))!.commit_index));
    c.kill(f, 'SIGKILL');
    await sleep(300);
    const marker = join(c.nodes[f]!.dataDir, 'lmdb', 'written-by-boot');
    t.true(existsSync(marker));
    writeFileSync(marker, 'an-earlier-boot');
    const fault = ioFault(lib!, dir, `${c.nodes[f]!.dataDir}/lmdb/written-by-boot`, ops);
    fault.arm();
    c.spawn(f, [], fault.env);
    const code = await exitOf(c, f, 15_000);
    t.log(`start on the failing marker: ${code}; marker now ${JSON.stringify(readFileSync(marker, 'latin1'))}; ${c.nodes[f]!.output.trim().split('\n').slice(-1)[0]?.slice(0, 300)}`);
    t.not(code, 'running');
    // Started again in this boot with the disk still failing: the marker may already name this
    // boot (its write reached the page cache), but it was never synced, so the start must sync it
    // again, and fail, rather than write the state unsynced with no durable marker.
    c.spawn(f, [], fault.env);
    const again = await exitOf(c, f, 15_000);
    t.not(again, 'running', 'started on a marker it could not sync');
    fault.heal();
    c.spawn(f);
    await c.waitApplied(f, Number((await c.info(leader))!.commit_index));
    const reply = await getOnceLeading(c, leader, f, 'g');
    t.is(reply, `:${last}`);
    t.is((await command(c.nodes[f]!.port, ['INC', 'b', 'g'], 3000)).trim(), `:${last + 1}`);
  });
}
