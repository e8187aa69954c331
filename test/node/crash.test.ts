/**
 * kill -9 of a real `seqdb dev` under concurrent INC load, then a restart on the same data:
 * nothing acknowledged is lost or repeated, and with ID tokens, retrying what was not
 * acknowledged closes every gap.
 */
import test, { type ExecutionContext } from 'ava';
import { RespClient, encodeRequest, intOf } from '../helpers/resp-client.ts';
import { startDev } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const CLIENTS = 8;
const WINDOW = 4;
const OPS_MAX = 5000;

interface Load {
  acked: bigint[];
  /** Tokens sent whose reply never came. */
  unacked: string[];
}

/** One client INCing b/s with up to WINDOW requests in flight until the server dies. */
async function load(port: number, id: number, tokens: boolean, until: number): Promise<Load> {
  const client = await RespClient.connect(port);
  const inflight: string[] = [];
  const acked: bigint[] = [];
  try {
    for (let n = 0; n < OPS_MAX && Date.now() < until; ) {
      while (inflight.length < WINDOW) {
        const token = `${Date.now()}-c${id}-${n++}`;
        inflight.push(token);
        client.write(tokens ? encodeRequest('INC', 'b', 's', 'ID', token) : encodeRequest('INC', 'b', 's'));
      }
      acked.push(intOf(await client.next(5000)));
      inflight.shift();
    }
  } catch {
    // The server was killed; what is in flight is unacknowledged.
  } finally {
    client.close();
  }
  return { acked, unacked: inflight };
}

async function crashUnderLoad(t: ExecutionContext, tokens: boolean) {
  const dataDir = await tempDir(t);
  const first = await startDev(t, dataDir);
  const until = Date.now() + 20_000;
  const loads = Promise.all(Array.from({ length: CLIENTS }, (_, id) => load(first.port, id, tokens, until)));
  await new Promise((resolve) => setTimeout(resolve, 700));
  first.child.kill('SIGKILL');
  t.is(await first.exited, 'SIGKILL');
  const results = await loads;
  const second = await startDev(t, dataDir);
  const check = await RespClient.connect(second.port);
  t.teardown(() => check.close());
  return { results, check };
}

test('kill -9 under INC load: every acknowledged value survives, none repeats', async (t) => {
  const { results, check } = await crashUnderLoad(t, false);
  const acked = results.flatMap((r) => r.acked);
  t.true(acked.length > 50, `only ${acked.length} INCs acknowledged before the kill`);
  t.is(new Set(acked).size, acked.length, 'an acknowledged value was handed out twice');
  const after = intOf(await check.call('GET', 'b', 's'));
  const maxAcked = acked.reduce((a, b) => (a > b ? a : b), 0n);
  t.true(maxAcked <= after, `acknowledged ${maxAcked} but the restarted server has ${after}`);
  t.is(intOf(await check.call('INC', 'b', 's')), after + 1n);
});

test('kill -9 under INC ID load: retrying unacknowledged tokens leaves no gap and no repeat', async (t) => {
  const { results, check } = await crashUnderLoad(t, true);
  const values = results.flatMap((r) => r.acked);
  t.true(values.length > 50, `only ${values.length} INCs acknowledged before the kill`);
  const maxAcked = values.reduce((a, b) => (a > b ? a : b), 0n);
  t.true(maxAcked <= intOf(await check.call('GET', 'b', 's')));
  // Retry each unacknowledged request with its own token: each either had been applied (same
  // reply as it would have got) or is applied now. Retrying twice must not take more.
  for (const token of results.flatMap((r) => r.unacked)) {
    const reply = intOf(await check.call('INC', 'b', 's', 'ID', token));
    t.is(intOf(await check.call('INC', 'b', 's', 'ID', token)), reply);
    values.push(reply);
  }
  const final = intOf(await check.call('GET', 'b', 's'));
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.deepEqual(sorted, Array.from({ length: Number(final) }, (_, i) => BigInt(i + 1)));
});
