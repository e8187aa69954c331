/**
 * Peer frames changed on the wire past TCP's checksum (a NIC, a middlebox, bad memory): bits of
 * the leader's writes to one follower are flipped in the real processes (test/helpers/net-flip.c)
 * while clients INC. The follower must refuse every changed frame (its checksum, peer-codec.ts),
 * drop the connection and catch up from what the leader sends again, never write a changed entry:
 * once healed, all three replicas hold the same state, byte for byte, and every number was given
 * once, in order, with no gap. Without the checksums the changed entries are written and applied
 * (a follower whose state differs, or one that crashes on a changed term or index): this fails.
 */
import test from 'ava';
import { LmdbStore } from '../../node/state-machine/index.ts';
import { netFlip, netFlipLibrary } from '../helpers/net-flip.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from './helpers/cluster.ts';
import { join } from 'node:path';

const lib = netFlipLibrary();
const serialWithCc = lib === null ? test.skip : test.serial;
if (lib === null) console.log('frame-corruption: no C compiler (cc) here: skipped');

const SEED = Number(process.env.SEQDB_SEED ?? Date.now() % 2 ** 31);
const CLIENTS = 8;
const LOAD_MS = 8_000;
/** Writes of at least this many bytes: frames with entries (a heartbeat is ~50, a hello ~60). */
const FLIP_BYTES_MIN = 100;

async function load(c: Cluster, ops: IncOp[], side: Map<string, bigint>, stopAtMs: number): Promise<void> {
  const ports = c.nodes.map((n) => n.port);
  const hot = Array.from({ length: CLIENTS }, async (_, i) => {
    const cl = new RetryingIncClient(i, ports);
    for (let op = 0; op < 100_000 && Date.now() < stopAtMs; op++) ops.push(await cl.inc('b', 's', op, stopAtMs + 20_000));
    cl.close();
  });
  // Other buckets and sequences too, so that a changed name would show in the state.
  const spread = (async () => {
    const cl = new RetryingIncClient(CLIENTS, ports);
    for (let op = 0; op < 100_000 && Date.now() < stopAtMs; op++) {
      const name = `bucket-${op % 7}/seq-${op % 13}`;
      const [bucket, seq] = name.split('/') as [string, string];
      const r = await cl.inc(bucket, seq, op, stopAtMs + 20_000);
      if (r.value !== null) side.set(name, (side.get(name) ?? 0n) + 1n);
    }
    cl.close();
  })();
  await Promise.all([...hot, spread]);
}

serialWithCc('frames changed on the wire are refused by checksum: the follower catches up and every replica holds the same state', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  const flip = netFlip(lib!, dir, { every: 25, bytesMin: FLIP_BYTES_MIN, seed: SEED });
  const c = await Cluster.start(t, { size: 3, envOf: () => flip.env, extraArgs: ['--admin-port', '0'] });
  const leader = await c.waitForLeader(3);
  // Checksummed frames need the peers' features (each link asks once a member announced them).
  await c.waitFeatures();
  const victim = c.nodes.find((n) => n.index !== leader)!;
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's'], 3000)).trim(), ':1');

  flip.arm(victim.port);
  const ops: IncOp[] = [];
  const side = new Map<string, bigint>();
  await load(c, ops, side, Date.now() + LOAD_MS);
  flip.heal();
  const flips = flip.flips();
  t.log(`seed ${SEED}: ${flips.length} writes to node ${victim.index} changed; ${ops.length} INCs on the hot sequence`);
  t.true(flips.length >= 20, `only ${flips.length} flips: the fault did not bite`);

  t.is(ops.filter((o) => o.value === null).length, 0, 'every INC got its number (retried with its token)');
  t.deepEqual(checkIncHistory(ops, 1n), [], `seed ${SEED}`);
  const refused = victim.output.match(/does not match its checksum/g)?.length ?? 0;
  t.log(`node ${victim.index} refused ${refused} changed frame(s)`);
  t.true(refused >= 1, 'the follower refused changed frames by their checksum');
  const admin = /admin listening on http:\/\/([0-9.:]+)\//.exec(victim.output)?.[1];
  const metrics = await (await fetch(`http://${admin}/metrics`)).text();
  const counted = Number(/seqdb_peer_frames_refused_total\{reason="corrupt"[^}]*\} (\d+)/.exec(metrics)?.[1]);
  t.true(counted >= refused, `seqdb_peer_frames_refused_total{reason="corrupt"} ${counted}, ${refused} logged`);

  // Converged: every node applies the leader's last index, then all stop and their states compare.
  const now = await c.waitForLeader(3);
  const commit = Number((await c.infoSoon(now)).commit_index);
  for (const n of c.nodes) await c.waitApplied(n.index, commit);
  t.deepEqual(c.alive().map((n) => n.index), [0, 1, 2], 'no node crashed');
  await sleep(1000); // the state machines' last commits (no entries come meanwhile)
  for (const n of c.nodes) c.kill(n.index, 'SIGKILL');
  for (const n of c.nodes) while (n.child !== null) await sleep(20);
  const images = await Promise.all(c.nodes.map(async (n) => {
    const store = LmdbStore.open({ path: join(n.dataDir, 'lmdb') });
    try {
      return { applied: store.appliedIndex(), image: Buffer.concat([...store.exportSnapshot()]) };
    } finally {
      await store.close();
    }
  }));
  t.log(`applied ${images.map((i) => i.applied).join(' / ')}, images ${images.map((i) => i.image.length).join(' / ')} bytes`);
  for (const other of images.slice(1)) {
    t.is(other.applied, images[0]!.applied);
    t.true(other.image.equals(images[0]!.image), `seed ${SEED}: the replicas' states differ`);
  }
  t.true(side.size > 0);
});
