/**
 * The time a leader stamps on writes moves the shard's replicated clock, which never goes back and
 * decides token retention, TOKEN_EXPIRED and TOKEN_AHEAD (state-machine/tokens.ts). A leader
 * stamps the voters' median clock (node/replication/peer-clocks.ts), so one wrong clock among
 * three voters does not move the shard (found by a clock review: one write of a leader stepped 2
 * days ahead refused every correct token for 2 days; a leader 5 minutes behind froze the clock).
 * Real `seqdb node` processes, each with its Date.now offset through test/helpers/clock-offset.mjs.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { timedToken } from '../../client/token.ts';

const HOOK = fileURLToPath(new URL('../helpers/clock-offset.mjs', import.meta.url));
const DAY_MS = 24 * 60 * 60 * 1000;

async function skewableCluster(t: Parameters<typeof Cluster.start>[0] & Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const file = (i: number): string => join(dir, `offset-${i}`);
  for (let i = 0; i < 3; i++) writeFileSync(file(i), '0');
  const c = await Cluster.start(t, { size: 3, envOf: (i) => ({ NODE_OPTIONS: `--import=${HOOK}`, SEQDB_CLOCK_OFFSET_FILE: file(i) }) });
  /** Steps node i's clock to `ms` off, and waits until its INFO says its clock is that far off the voters' median. */
  const setOffset = async (i: number, ms: number): Promise<void> => {
    writeFileSync(file(i), String(ms));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const offset = Number((await c.info(i))?.clock_offset_ms);
      if (Math.abs(offset - ms) < 5_000) return;
      if (Date.now() > deadline) throw new Error(`node ${i}: clock_offset_ms ${offset}, expected about ${ms}`);
      await sleep(200);
    }
  };
  return { c, setOffset };
}

test('a leader stepped 2 days ahead for a moment: its writes do not move the shard\'s clock (tokens kept, correct tokens served)', async (t) => {
  t.timeout(90_000);
  const { c, setOffset } = await skewableCluster(t);
  const leader = await c.waitForLeader(3);
  const port = c.nodes[leader]!.port;
  const token = timedToken();
  t.is((await command(port, ['INC', 'b', 's', 'ID', token])).trim(), ':1');

  await setOffset(leader, 2 * DAY_MS);
  t.is((await command(port, ['INC', 'b', 'other'])).trim(), ':1');
  await setOffset(leader, 0);

  const retry = (await command(port, ['INC', 'b', 's', 'ID', token])).trim();
  const fresh = (await command(port, ['INC', 'b', 's', 'ID', timedToken()])).trim();
  const other = c.nodes.find((n) => n.index !== leader)!;
  t.is((await command(port, ['SEQDB.TRANSFER', (await c.info(other.index))!.node_id!], 5000)).trim(), '+OK');
  const newLeader = await c.waitForLeader(3, 10_000);
  const afterTransfer = (await command(c.nodes[newLeader]!.port, ['INC', 'b', 's', 'ID', timedToken()])).trim();
  t.deepEqual({ retry, fresh, afterTransfer }, { retry: ':1', fresh: ':2', afterTransfer: ':3' });
});

test('a leader stepped 5 minutes back: the shard\'s clock goes on with the voters\' (a token 59 s ahead of real time is still served)', async (t) => {
  t.timeout(90_000);
  const { c, setOffset } = await skewableCluster(t);
  const leader = await c.waitForLeader(3);
  const port = c.nodes[leader]!.port;
  t.is((await command(port, ['INC', 'b', 's', 'ID', timedToken()])).trim(), ':1');
  await setOffset(leader, -5 * 60_000);
  // Stamped by the leader's own clock, the shard's clock would stay where it was before the step,
  // and this token would be more than 60 s (tokenFutureMsMax) ahead of it by now.
  await sleep(2500);
  t.is((await command(port, ['INC', 'b', 's', 'ID', timedToken(Date.now() + 59_000)])).trim(), ':2');
});
