/**
 * INCs of many sequences of one bucket merged by a router into INCS (router/inc-coalescer.ts,
 * node/state-machine/multi-inc.ts), end to end: `seqdb dev --nodes 3` as real processes (a
 * router in front of a 3-node shard, real LMDB and log files), pipelined load from many
 * connections, and kill -9 of the shard's leader in the middle. Every acknowledged number is
 * unique per sequence, and once the callers told to retry a part have retried it, each
 * sequence's numbers are exactly 1..its value: no repeat, no gap.
 */
import test from 'ava';
import { startDev } from '../helpers/dev-process.ts';
import { RespClient, encodeRequest, intOf } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { Rng } from '../sim/rng.ts';

const SEQUENCES = 6;
const CONNECTIONS = 16;
const ROUNDS = 120;
const PIPELINE = 4;
const LOAD_MS_MAX = 60_000;

const infoField = (info: string, key: string): string | undefined => new RegExp(`^${key}:(.*)\\r?$`, 'm').exec(info)?.[1]?.trim();

async function waitForLeader(port: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const c = await RespClient.connect(port).catch(() => null);
    if (c !== null) {
      const leader = /shard_1:leader=([^,?]+),/.exec(await c.call('INFO'))?.[1];
      const probe = await c.call('INC', 'warm', 'up');
      c.close();
      if (leader !== undefined && probe.startsWith(':')) return leader;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('no shard leader within 30 s');
}

test('INCs of many sequences through a router: merged as INCS, no repeat, no gap across kill -9 of the leader', async (t) => {
  const seed = Number(process.env.SEQDB_SEED ?? 1 + Math.floor(Math.random() * 1e6));
  t.log(`seed ${seed} (SEQDB_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  // The nodes take the ports after the router's (a fixed range; the later --port wins).
  const dev = await startDev(t, await tempDir(t), ['--nodes', '3', '--port', String(await freePortRange(4, true))], 40_000);
  const leader = await waitForLeader(dev.port);
  const leaderClient = await RespClient.connect(Number(leader.split(':')[1]));
  const leaderPid = Number(infoField(await leaderClient.call('INFO'), 'process_id'));
  leaderClient.close();
  t.true(leaderPid > 0 && leaderPid !== dev.pid);

  const acked = new Map<string, bigint[]>();
  const retries: { sequence: string; retryWith: string }[] = [];
  const failures: string[] = [];
  const started = Date.now();
  let roundsDone = 0;
  let killedAt = -1;
  const worker = async (): Promise<void> => {
    const c = await RespClient.connect(dev.port);
    try {
      for (let round = 0; round < ROUNDS && Date.now() - started < LOAD_MS_MAX; round++) {
        const sequences = Array.from({ length: PIPELINE }, () => `s${rng.int(SEQUENCES)}`);
        c.write(Buffer.concat(sequences.map((s) => encodeRequest('INC', 'b', s))));
        const replies = await c.take(PIPELINE, 15_000);
        replies.forEach((reply, i) => record(sequences[i]!, reply));
        if (++roundsDone === Math.floor((CONNECTIONS * ROUNDS) / 3)) {
          killedAt = roundsDone;
          process.kill(leaderPid, 'SIGKILL');
        }
      }
    } finally {
      c.close();
    }
  };
  const record = (sequence: string, reply: string): void => {
    if (reply.startsWith(':')) {
      if (!acked.has(sequence)) acked.set(sequence, []);
      acked.get(sequence)!.push(intOf(reply));
      return;
    }
    const retryWith = /retry with (ID \S+(?: PART \d+\/\d+)?)/.exec(reply)?.[1];
    if (retryWith !== undefined) retries.push({ sequence, retryWith });
    else failures.push(reply.trim());
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  t.true(killedAt > 0, 'the leader was killed under load');

  // Callers whose outcome was unknown retry their part, as the router told them to.
  const c = await RespClient.connect(dev.port);
  t.teardown(() => c.close());
  for (const { sequence, retryWith } of retries) record(sequence, await c.call('INC', 'b', sequence, ...retryWith.split(' ')));
  const info = await c.call('INFO');
  t.log(`${roundsDone} rounds; ${retries.length} part retries; failures ${JSON.stringify(failures.slice(0, 3))}; ${infoField(info, 'incs_blocks_total')} INCS of ${infoField(info, 'inc_blocks_total')} blocks`);
  t.true(Number(infoField(info, 'incs_blocks_total')) > 0, 'INCs of different sequences went out as INCS');
  t.true(failures.every((f) => !/may have applied/.test(f)), 'only refusals that took nothing lack a retry');

  for (let s = 0; s < SEQUENCES; s++) {
    const sequence = `s${s}`;
    const values = [...(acked.get(sequence) ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const value = await c.call('GET', 'b', sequence);
    const last = value === '$-1\r\n' ? 0n : intOf(value);
    t.is(new Set(values).size, values.length, `${sequence}: a number was handed out twice (seed ${seed})`);
    t.deepEqual(values, Array.from({ length: Number(last) }, (_, i) => BigInt(i + 1)), `${sequence}: numbers are exactly 1..${last} (seed ${seed})`);
  }
});
