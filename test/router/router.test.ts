/**
 * A router in front of real node processes wired statically (router/dev-cluster.ts, as
 * `seqdb dev --shards 2 --nodes 1` runs it; no multicast, so no namespace needed): routing,
 * the storage-side fence, pipelining, a real Redis client, ID retries, and CLUSTERDOWN after a
 * bounded wait. Serial: one cluster, the last test takes a shard down.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { slotOf } from '../../shared/placement/slot.ts';
import { NAME_BYTES_MAX } from '../../node/state-machine/command.ts';
import { startDevCluster, type DevCluster } from '../../router/dev-cluster.ts';
import { RespClient, encodeRequest, intOf } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';

let cluster: DevCluster;
let dir: string;
let port: number;


async function info(): Promise<Record<string, string>> {
  const c = await RespClient.connect(port);
  const text = await c.call('INFO');
  c.close();
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}

const ownerOf = (bucket: string): string => cluster.router.map.ownerOf(slotOf(bucket))!.id;
/** The first bucket name `prefix<i>` that shard `shard` owns. */
function bucketOf(shard: string, prefix: string): string {
  for (let i = 0; ; i++) if (ownerOf(`${prefix}${i}`) === shard) return `${prefix}${i}`;
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'seqdb-router-test-'));
  port = await freePortRange(3);
  const lines: string[] = [];
  cluster = await startDevCluster({ host: '127.0.0.1', port, dataDir: dir, shards: 2, nodes: 1, log: (l) => lines.push(l) });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const i = await info();
    if (i.catalog_epoch === '1' && /slots=[1-9]/.test(i.shard_1 ?? '') && /slots=[1-9]/.test(i.shard_2 ?? '')) break;
    if (Date.now() > deadline) throw new Error(`cluster did not form:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

test.after.always(async () => {
  await cluster?.close();
  await rm(dir, { recursive: true, force: true });
});

test.serial('INFO lists both shards, slots spread over both, every bucket served', async (t) => {
  const i = await info();
  t.is(i.role, 'router');
  t.is(i.shards, '2');
  const slots = (s: string): number => Number(/slots=(\d+)/.exec(s)![1]);
  t.is(slots(i.shard_1!) + slots(i.shard_2!), 16384);
  t.regex(i.shard_1!, /leader=127\.0\.0\.1:\d+,members=127\.0\.0\.1:\d+,slots=\d+,share=[\d.]+%/);
  t.true('requests_per_sec' in i && 'errors_total' in i);
  const c = await RespClient.connect(port);
  const owners = new Set<string>();
  for (let b = 0; b < 64; b++) {
    t.is(intOf(await c.call('INC', `spread${b}`, 's')), 1n);
    owners.add(ownerOf(`spread${b}`));
  }
  c.close();
  t.deepEqual([...owners].sort(), ['1', '2']);
});

test.serial('a shard refuses a bucket it does not own (a stale view) and changes nothing', async (t) => {
  const bucket = bucketOf('2', 'fence');
  const wrong = cluster.nodes.find((n) => n.shard === '1')!.address;
  const direct = await RespClient.connect(Number(wrong.split(':')[1]));
  t.regex(await direct.call('INC', bucket, 's'), new RegExp(`^-MOVED ${slotOf(bucket)} `));
  t.regex(await direct.call('SET', bucket, 's', '100'), /^-MOVED /);
  t.regex(await direct.call('GET', bucket, 's'), /^-MOVED /);
  direct.close();
  const c = await RespClient.connect(port);
  t.is(await c.call('GET', bucket, 's'), '$-1\r\n', 'nothing was written anywhere');
  t.is(intOf(await c.call('INC', bucket, 's')), 1n);
  c.close();
});

test.serial('pipelined requests through the router are answered in request order', async (t) => {
  const c = await RespClient.connect(port);
  const buckets = Array.from({ length: 16 }, (_, i) => `pipe${i}`);
  const order = Array.from({ length: 400 }, (_, i) => buckets[(i * 7) % buckets.length]!);
  c.write(Buffer.concat([encodeRequest('PING'), ...order.map((b) => encodeRequest('INC', b, 's')), encodeRequest('PING')]));
  const replies = await c.take(order.length + 2);
  t.is(replies[0], '+PONG\r\n');
  t.is(replies.at(-1), '+PONG\r\n');
  const seen = new Map<string, bigint>();
  order.forEach((b, i) => {
    const expected = (seen.get(b) ?? 0n) + 1n;
    seen.set(b, expected);
    t.is(intOf(replies[i + 1]!), expected, `request ${i} (${b})`);
  });
  c.close();
});

test.serial('plain INCs through the router are checked as any command: bad names are refused, the case of INC is free', async (t) => {
  const c = await RespClient.connect(port);
  const long = 'x'.repeat(NAME_BYTES_MAX + 1);
  c.write(Buffer.concat([
    encodeRequest('iNc', 'case', 's'), encodeRequest('INC', long, 's'), encodeRequest('INC', 'case', long),
    encodeRequest('INC', '', 's'), encodeRequest('inc', 'case', 's'), encodeRequest('GET', 'case', 's'),
  ]));
  const replies = await c.take(6);
  t.is(intOf(replies[0]!), 1n);
  for (const refused of replies.slice(1, 4)) t.regex(refused!, /^-ERR (bucket|sequence) name must be 1 to \d+ bytes\r\n$/);
  t.is(intOf(replies[4]!), 2n, 'nothing taken by the refused ones');
  t.is(intOf(replies[5]!), 2n);
  c.close();
});

test.serial('concurrent plain INCs of one sequence are merged into blocks: each number once, no gap, each connection in order', async (t) => {
  const before = Number((await info()).inc_block_incs_total);
  const conns = await Promise.all(Array.from({ length: 24 }, () => RespClient.connect(port)));
  const rounds = 20;
  // Each connection pipelines INC, GET, INC of the hot sequence per round, all connections at once.
  const perConn = await Promise.all(conns.map(async (c) => {
    const out: bigint[][] = [];
    for (let r = 0; r < rounds; r++) {
      c.write(Buffer.concat([encodeRequest('INC', 'hot', 's'), encodeRequest('GET', 'hot', 's'), encodeRequest('INC', 'hot', 's')]));
      out.push((await c.take(3)).map(intOf));
    }
    return out;
  }));
  for (const c of conns) c.close();
  const numbers = perConn.flat().flatMap(([first, , second]) => [first!, second!]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => BigInt(i + 1)), 'every number handed out once, none skipped');
  for (const [first, read, second] of perConn.flat()) {
    // The GET was sent after the first INC and before the second: it must see one and not the other.
    t.true(first! <= read! && read! < second!, `INC ${first}, GET ${read}, INC ${second}`);
  }
  t.true(Number((await info()).inc_block_incs_total) > before, 'some INCs were merged into blocks');
});

test.serial('a PART through the router takes (or finds) its whole block and answers its own number', async (t) => {
  const c = await RespClient.connect(port);
  const token = `${Date.now()}-blocktest`;
  t.is(intOf(await c.call('INC', 'parts', 's', 'ID', token, 'PART', '1/4')), 2n, 'the block 1..4 was taken; part 1 is 2');
  t.is(intOf(await c.call('INC', 'parts', 's', 'ID', token, 'PART', '3/4')), 4n);
  t.is(intOf(await c.call('INC', 'parts', 's', 'ID', token, 'PART', '1/4')), 2n, 'a retry finds it');
  t.is(intOf(await c.call('INC', 'parts', 's', 'COUNT', '4', 'ID', token)), 4n, 'the block itself');
  t.is(intOf(await c.call('GET', 'parts', 's')), 4n, 'taken once');
  t.regex(await c.call('INC', 'parts', 's', 'ID', token, 'PART', '0/5'), /^-ERR ID token was used with a different COUNT/);
  c.close();
});

test.serial('a client ID retried through the router gets the same number, never a second one', async (t) => {
  const c = await RespClient.connect(port);
  const first = intOf(await c.call('INC', 'tok', 's', 'ID', 'abc-1'));
  t.is(intOf(await c.call('INC', 'tok', 's', 'ID', 'abc-1')), first);
  t.is(intOf(await c.call('INC', 'tok', 's')), first + 1n);
  t.regex(await c.call('CLUSTER', 'CATALOG'), /^-(ERR|NOPERM) /);
  c.close();
});

test.serial('ioredis with default options works through the router', async (t) => {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  t.is(await redis.call('INC', 'io', 's'), 1);
  t.is(await redis.call('SET', 'io', 'v', '41'), 'OK');
  t.is(await redis.call('INC', 'io', 'v', 'COUNT', '2'), 43);
  t.is(await redis.call('GET', 'io', 'v'), 43);
  await t.throwsAsync(redis.call('INC', 'io'), { message: /wrong number of arguments/ });
  redis.disconnect();
});

test.serial('a shard with no reachable leader answers CLUSTERDOWN after a bounded wait; others keep serving', async (t) => {
  const down = bucketOf('2', 'down');
  const up = bucketOf('1', 'up');
  for (const n of cluster.nodes.filter((x) => x.shard === '2')) n.child.kill('SIGKILL');
  const c = await RespClient.connect(port);
  const started = Date.now();
  const reply = await c.call('INC', down, 's');
  const tookMs = Date.now() - started;
  t.regex(reply, /^-CLUSTERDOWN /);
  t.true(tookMs < 8000, `took ${tookMs} ms`);
  t.is(intOf(await c.call('INC', up, 's')), 1n);
  c.close();
});
