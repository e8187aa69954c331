/**
 * Merging concurrent plain INCs of one sequence into one block (router/inc-coalescer.ts), through
 * the real Forwarder and node connection against scripted fake nodes on real sockets: what the
 * node receives, in what order, and which number each caller gets. The node side of blocks and
 * part tokens runs against real nodes in test/node/part-token.test.ts and
 * test/router/inc-blocks.test.ts.
 */
import test from 'ava';
import type { Command, CommandResult } from '../../node/state-machine/command.ts';
import { fakeNode, forwarderFor } from './fake-node.ts';
import { Rng } from '../sim/rng.ts';

/**
 * A fake node that counts per sequence, answers INC COUNT n with the last number, INCS with each
 * listed sequence's next number (nothing if any would pass `max`), GET with the value.
 */
function countingScript(start = 100n, max = 1n << 62n): (args: string[]) => string {
  const values = new Map<string, bigint>();
  return (args) => {
    if (args[0] === 'INCS') return incsReply(values, args, start, max);
    const key = `${args[1]}/${args[2]}`;
    const value = values.get(key) ?? start;
    if (args[0] === 'GET') return `:${value}\r\n`;
    if (args[0] !== 'INC') return '+OK\r\n';
    const next = value + BigInt(args[args.indexOf('COUNT') + 1] ?? '1');
    if (next > max) return '-ERR increment would overflow\r\n';
    values.set(key, next);
    return `:${next}\r\n`;
  };
}

/** INCS bucket token seq..: all or nothing, as the real state machine (multi-inc.ts). */
function incsReply(values: Map<string, bigint>, args: string[], start: bigint, max: bigint): string {
  const next = new Map(values);
  const out: bigint[] = [];
  for (const sequence of args.slice(3)) {
    const key = `${args[1]}/${sequence}`;
    const value = (next.get(key) ?? start) + 1n;
    if (value > max) return '-ERR increment would overflow\r\n';
    next.set(key, value);
    out.push(value);
  }
  for (const [k, v] of next) values.set(k, v);
  return `*${out.length}\r\n${out.map((v) => `:${v}\r\n`).join('')}`;
}

const inc = (sequence = 's', bucket = 'b'): Command => ({ type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from(sequence), count: 1 });
const get = (sequence = 's', bucket = 'b'): Command => ({ type: 'get', bucket: Buffer.from(bucket), sequence: Buffer.from(sequence) });
const ints = (results: CommandResult[]): (bigint | string)[] => results.map((r) => (r.type === 'int' ? r.value : r.type === 'error' ? r.code : r.type));
const shape = (args: string[]): string =>
  args[0] === 'INCS' ? `INCS ${args[1]} ${args.slice(3).join(',')}` : [args[0], args[1], args[2], ...(args.includes('COUNT') ? [args[args.indexOf('COUNT') + 1]] : [])].join(' ');

test('INCs of one sequence in one turn leave as one block; numbers go out in arrival order', async (t) => {
  const node = await fakeNode(countingScript());
  const { forwarder } = await forwarderFor(t, [node]);
  const results = await Promise.all(Array.from({ length: 20 }, () => forwarder.execute(inc())));
  t.deepEqual(ints(results), Array.from({ length: 20 }, (_, i) => 101n + BigInt(i)));
  const incs = node.seen.filter((a) => a[0] === 'INC');
  t.deepEqual(incs.map(shape), ['INC b s 20']);
  t.regex(incs[0]![incs[0]!.indexOf('ID') + 1]!, /^\d{13}-[A-Za-z0-9_-]{16}~20$/, 'the block carries a block token (a router token ~k)');
  t.deepEqual([forwarder.stats.blocks, forwarder.stats.blockIncs, forwarder.stats.requests], [1, 20, 20]);
});

test('another command of the bucket sends the open block first: per-bucket order is kept', async (t) => {
  const node = await fakeNode(countingScript());
  const { forwarder } = await forwarderFor(t, [node], { incsMax: 60 });
  const results = await Promise.all([
    forwarder.execute(inc()),
    forwarder.execute(inc()),
    forwarder.execute(get()),
    forwarder.execute(inc()),
    forwarder.execute(inc('other')),
    forwarder.execute(inc()),
    forwarder.execute(inc('x', 'elsewhere')),
    forwarder.execute(inc('x', 'elsewhere')),
  ]);
  // The GET sees both INCs sent before it and none after; the INCs after it of two sequences
  // leave as one INCS, numbers in arrival order.
  t.deepEqual(ints(results), [101n, 102n, 102n, 103n, 101n, 104n, 101n, 102n]);
  const sent = node.seen.filter((a) => a[0] !== 'CLUSTER').map(shape);
  t.deepEqual(sent.filter((s) => !s.includes('elsewhere')), ['INC b s 2', 'GET b s', 'INCS b s,other,s']);
  t.deepEqual(sent.filter((s) => s.includes('elsewhere')), ['INC elsewhere x 2']);
});

test('INCs with an ID or a COUNT are never merged', async (t) => {
  const node = await fakeNode(countingScript());
  const { forwarder } = await forwarderFor(t, [node]);
  const withId: Command = { ...inc(), token: Buffer.from('mine') } as Command;
  const withCount: Command = { ...inc(), count: 3 } as Command;
  await Promise.all([forwarder.execute(withId), forwarder.execute(withCount), forwarder.execute(inc())]);
  t.deepEqual(node.seen.map(shape), ['INC b s 1', 'INC b s 3', 'INC b s 1']);
  t.is(forwarder.stats.blocks, 0);
});

test('blocks are bounded by incBlockMax; 0 turns merging off', async (t) => {
  const node = await fakeNode(countingScript());
  const { forwarder } = await forwarderFor(t, [node], { incBlockMax: 4 });
  const results = await Promise.all(Array.from({ length: 10 }, () => forwarder.execute(inc())));
  t.deepEqual(ints(results), Array.from({ length: 10 }, (_, i) => 101n + BigInt(i)));
  t.deepEqual(node.seen.map(shape), ['INC b s 4', 'INC b s 4', 'INC b s 2']);

  const plain = await fakeNode(countingScript());
  const off = await forwarderFor(t, [plain], { incBlockMax: 0 });
  await Promise.all(Array.from({ length: 3 }, () => off.forwarder.execute(inc())));
  t.deepEqual(plain.seen.map(shape), ['INC b s 1', 'INC b s 1', 'INC b s 1']);
});

test('a block refused with ERR (overflow) is sent again one INC at a time', async (t) => {
  const node = await fakeNode(countingScript(100n, 103n));
  const { forwarder } = await forwarderFor(t, [node]);
  const results = await Promise.all(Array.from({ length: 5 }, () => forwarder.execute(inc())));
  t.deepEqual(ints(results), [101n, 102n, 103n, 'INTERNAL', 'INTERNAL']);
  t.true(results[4]!.type === 'error' && results[4]!.message === 'increment would overflow');
  t.deepEqual(node.seen.map(shape), ['INC b s 5', 'INC b s 1', 'INC b s 1', 'INC b s 1', 'INC b s 1', 'INC b s 1']);
});

test('a block whose outcome is unknown at the deadline tells each caller to retry its own PART', async (t) => {
  const node = await fakeNode((args) => (args[0] === 'INC' ? 'ignore' : '+OK\r\n'));
  const { forwarder } = await forwarderFor(t, [node], { deadlineMs: 400, attemptTimeoutMs: 150 });
  const results = await Promise.all(Array.from({ length: 3 }, () => forwarder.execute(inc())));
  const sent = node.seen.filter((a) => a[0] === 'INC');
  t.true(sent.length >= 2, 'the block was retried');
  const tokens = new Set(sent.map((a) => a[a.indexOf('ID') + 1]));
  t.is(tokens.size, 1, 'every retry of the block carries the same token');
  t.true(sent.every((a) => shape(a) === 'INC b s 3'));
  const [token] = tokens;
  results.forEach((r, i) => {
    t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
    t.true(r.type === 'error' && r.message.endsWith(`the INC may have applied: retry with ID ${token} PART ${i}/3`), r.type === 'error' ? r.message : '');
  });
});

test('a cluster error of a block (no owner: CLUSTERDOWN, nothing sent) goes to every caller once', async (t) => {
  const node = await fakeNode(() => '-MOVED 0 ? not owned by shard 2 (epoch 1)\r\n');
  const { forwarder } = await forwarderFor(t, [node], { redirectsMax: 1 });
  const results = await Promise.all(Array.from({ length: 4 }, () => forwarder.execute(inc())));
  t.deepEqual(ints(results), ['CLUSTER_DOWN', 'CLUSTER_DOWN', 'CLUSTER_DOWN', 'CLUSTER_DOWN']);
  t.true(results.every((r) => r.type === 'error' && !r.message.includes('retry with ID')), 'refused: no token to retry');
  t.deepEqual(node.seen.map(shape), ['INC b s 4', 'INC b s 4'], 'not re-sent one by one');
});

test('a refused block is not re-sent one by one once another command of its bucket went out after it', async (t) => {
  const node = await fakeNode((args) => (args[0] === 'GET' ? ':9\r\n' : '-ERR increment would overflow\r\n'));
  const { forwarder } = await forwarderFor(t, [node]);
  const block = Promise.all([forwarder.execute(inc()), forwarder.execute(inc())]);
  // The block leaves at the end of this poll phase; the SET follows it in the same check phase,
  // before any reply can be read.
  await new Promise((resolve) => setImmediate(resolve));
  const set = forwarder.execute({ type: 'set', bucket: Buffer.from('b'), sequence: Buffer.from('s'), value: 0n });
  t.deepEqual(ints(await block), ['INTERNAL', 'INTERNAL']);
  await set;
  t.deepEqual(node.seen.map(shape), ['INC b s 2', 'SET b s'], 'no INC re-sent after the SET');
});

/**
 * A fake node that applies what it receives to a plain map (INC COUNT n adds n and answers the
 * last number; an ID answers its first reply again), as a real shard would in its log order.
 */
function modelNode(): (args: string[]) => string {
  const values = new Map<string, bigint>();
  const tokens = new Map<string, string>();
  return (args) => {
    if (args[0] === 'INCS') {
      const id = `${args[1]}//${args[2]}`;
      if (!tokens.has(id)) tokens.set(id, incsReply(values, args, 0n, 1n << 62n));
      return tokens.get(id)!;
    }
    const key = `${args[1]}/${args[2]}`;
    if (args[0] === 'GET') return values.has(key) ? `:${values.get(key)}\r\n` : '$-1\r\n';
    if (args[0] === 'SET') {
      values.set(key, BigInt(args[3]!));
      return '+OK\r\n';
    }
    const id = args.includes('ID') ? `${key}/${args[args.indexOf('ID') + 1]}` : undefined;
    if (id !== undefined && tokens.has(id)) return tokens.get(id)!;
    const next = (values.get(key) ?? 0n) + BigInt(args.includes('COUNT') ? args[args.indexOf('COUNT') + 1]! : '1');
    values.set(key, next);
    const reply = `:${next}\r\n`;
    if (id !== undefined) tokens.set(id, reply);
    return reply;
  };
}

test('seeded: whatever mix arrives, every caller gets what running its bucket\'s commands one by one in arrival order gives', async (t) => {
  const seed = Number(process.env.COALESCE_SEED ?? 1 + Math.floor(Math.random() * 1e6));
  t.log(`seed ${seed} (COALESCE_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const node = await fakeNode(modelNode());
  const { forwarder } = await forwarderFor(t, [node], { incBlockMax: 2 + rng.int(12), incsMax: rng.chance(0.2) ? 0 : 2 + rng.int(12) });
  const oracle = new Map<string, bigint>();
  const oracleTokens = new Map<string, bigint>();
  const expect = (c: Command): bigint | 'nil' | 'ok' => {
    if (c.type === 'cluster') throw new Error('unused');
    const key = `${c.bucket}/${(c as { sequence: Buffer }).sequence}`;
    if (c.type === 'get') return oracle.get(key) ?? 'nil';
    if (c.type === 'set') {
      oracle.set(key, c.value);
      return 'ok';
    }
    if (c.type !== 'inc') throw new Error('unused');
    const id = c.token === undefined ? undefined : `${key}/${c.token}`;
    if (id !== undefined && oracleTokens.has(id)) return oracleTokens.get(id)!;
    const next = (oracle.get(key) ?? 0n) + BigInt(c.count);
    oracle.set(key, next);
    if (id !== undefined) oracleTokens.set(id, next);
    return next;
  };
  let tokenNo = 0;
  const random = (): Command => {
    const bucket = Buffer.from(`b${rng.int(3)}`);
    const sequence = Buffer.from(`s${rng.int(3)}`);
    const roll = rng.int(100);
    if (roll < 70) return { type: 'inc', bucket, sequence, count: 1 };
    if (roll < 78) return { type: 'get', bucket, sequence };
    if (roll < 83) return { type: 'set', bucket, sequence, value: BigInt(rng.int(1000)) };
    if (roll < 91) return { type: 'inc', bucket, sequence, count: 1 + rng.int(3), token: Buffer.from(`t${rng.int(2) === 0 ? tokenNo++ : Math.max(0, tokenNo - 1)}`) };
    return { type: 'inc', bucket, sequence, count: 2 + rng.int(3) };
  };
  // Plain INCs go half the time the server's fast way (executeInc), as views of bytes that are
  // overwritten once the call returns: what the router keeps, it must have copied.
  const submit = (c: Command): Promise<CommandResult> => {
    if (c.type !== 'inc' || c.token !== undefined || c.count !== 1 || rng.chance(0.5)) return forwarder.execute(c);
    const scratch = Buffer.concat([c.bucket, c.sequence]);
    const view = { ...c, bucket: scratch.subarray(0, c.bucket.length), sequence: scratch.subarray(c.bucket.length) };
    const out = new Promise<CommandResult>((resolve) => forwarder.executeInc(view, resolve));
    scratch.fill('!');
    return out;
  };
  for (let round = 0; round < 100; round++) {
    const calls: Promise<CommandResult>[] = [];
    const expected: (bigint | 'nil' | 'ok')[] = [];
    for (let part = 1 + rng.int(3); part > 0; part--) {
      for (let i = rng.int(40); i > 0; i--) {
        const command = random();
        expected.push(expect(command));
        calls.push(submit(command));
      }
      // Sometimes let the open blocks go out while later commands of their buckets follow.
      if (rng.chance(0.5)) await new Promise((resolve) => setImmediate(resolve));
    }
    const got = (await Promise.all(calls)).map((r) => (r.type === 'int' ? r.value : r.type === 'error' ? `${r.code} ${r.message}` : r.type));
    t.deepEqual(got, expected, `round ${round} (seed ${seed})`);
    if (JSON.stringify(got, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) !== JSON.stringify(expected, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) return;
  }
  t.true(forwarder.stats.blocks > 0, 'blocks were formed');
});

test('only a first-try overflow is re-sent one by one: any other error, or one after a lost reply, goes to every caller', async (t) => {
  let incs = 0;
  const node = await fakeNode((args) => {
    if (args[0] !== 'INC') return '+OK\r\n';
    incs++;
    // The first attempt's reply is lost (it may have applied); the retry is refused.
    return incs === 1 ? 'drop' : '-ERR increment would overflow\r\n';
  });
  const { forwarder } = await forwarderFor(t, [node]);
  t.deepEqual(ints(await Promise.all(Array.from({ length: 3 }, () => forwarder.execute(inc())))), ['INTERNAL', 'INTERNAL', 'INTERNAL']);
  t.deepEqual(node.seen.filter((a) => a[0] === 'INC').map(shape), ['INC b s 3', 'INC b s 3'], 'not re-sent one by one');

  const expired = await fakeNode((args) => (args[0] === 'INC' ? '-ERR ID token expired: older than the retention window or already evicted\r\n' : '+OK\r\n'));
  const other = await forwarderFor(t, [expired]);
  const results = await Promise.all(Array.from({ length: 2 }, () => other.forwarder.execute(inc())));
  t.true(results.every((r) => r.type === 'error' && r.message.startsWith('ID token expired')));
  t.deepEqual(expired.seen.filter((a) => a[0] === 'INC').map(shape), ['INC b s 2']);
});

test('INCs of several sequences of one bucket in one turn leave as one INCS, bounded by incsMax', async (t) => {
  const node = await fakeNode(countingScript());
  const { forwarder } = await forwarderFor(t, [node], { incsMax: 4 });
  const order = ['a', 'b', 'a', 'c', 'd', 'e', 'a'];
  const results = await Promise.all(order.map((s) => forwarder.execute(inc(s))));
  t.deepEqual(ints(results), [101n, 101n, 102n, 101n, 101n, 101n, 103n]);
  const sent = node.seen.filter((a) => a[0] === 'INCS');
  t.deepEqual(sent.map(shape), ['INCS b a,b,a,c', 'INCS b d,e,a']);
  t.regex(sent[0]![2]!, /^\d{13}-[A-Za-z0-9_-]{16}\+4$/, 'an INCS carries a multi-sequence block token (a router token +k)');
  t.deepEqual([forwarder.stats.blocks, forwarder.stats.blockIncs, forwarder.stats.incsBlocks], [2, 7, 2]);

  const off = await fakeNode(countingScript());
  const plain = await forwarderFor(t, [off], { incsMax: 0 });
  await Promise.all(['a', 'a', 'b'].map((s) => plain.forwarder.execute(inc(s))));
  t.deepEqual(off.seen.map(shape), ['INC b a 2', 'INC b b 1'], 'incsMax 0: only INCs of one sequence merge');
});

test('an INCS whose outcome is unknown at the deadline tells each caller to retry its own PART of the INCS token', async (t) => {
  const node = await fakeNode((args) => (args[0] === 'INCS' ? 'ignore' : '+OK\r\n'));
  const { forwarder } = await forwarderFor(t, [node], { deadlineMs: 400, attemptTimeoutMs: 150, incsMax: 60 });
  const results = await Promise.all(['x', 'y', 'x'].map((s) => forwarder.execute(inc(s))));
  const tokens = new Set(node.seen.filter((a) => a[0] === 'INCS').map((a) => a[2]));
  t.is(tokens.size, 1, 'every retry carries the same token');
  const [token] = tokens;
  results.forEach((r, i) => {
    t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
    t.true(r.type === 'error' && r.message.endsWith(`the INC may have applied: retry with ID ${token} PART ${i}/3`), r.type === 'error' ? r.message : '');
  });
});

test('FEATUREOFF after an INCS attempt that may have applied: the same INCS is asked again, never sent one INC at a time', async (t) => {
  // Attempt 1 gets no answer (it may have applied); the next ones are refused unrun, as by a new
  // leader that has not heard from every member yet; then the shard answers with the INCS's numbers.
  let incsSeen = 0;
  const node = await fakeNode((args) => {
    if (args[0] !== 'INCS') return ':1\r\n';
    incsSeen++;
    if (incsSeen === 1) return 'ignore';
    return incsSeen < 4 ? '-FEATUREOFF INCS is off on this shard until every member is known to run a version that applies it\r\n' : '*2\r\n:7\r\n:9\r\n';
  });
  const { forwarder } = await forwarderFor(t, [node], { deadlineMs: 3000, attemptTimeoutMs: 150, backoffMs: 20 });
  t.deepEqual(ints(await Promise.all(['x', 'y'].map((s) => forwarder.execute(inc(s))))), [7n, 9n]);
  const sent = node.seen.map((a) => a[0]);
  t.true(sent.every((c) => c === 'INCS'), `only the INCS went out: ${sent.join(' ')}`);
  t.is(new Set(node.seen.map((a) => a[2])).size, 1, 'with its one token');

  // Refused until the deadline: the outcome stays unknown, each caller told to retry its own PART.
  let first = true;
  const stuck = await fakeNode((args) => (args[0] !== 'INCS' ? ':1\r\n' : first ? ((first = false), 'ignore') : '-FEATUREOFF INCS is off\r\n'));
  const other = await forwarderFor(t, [stuck], { deadlineMs: 600, attemptTimeoutMs: 150, backoffMs: 20 });
  const results = await Promise.all(['x', 'y'].map((s) => other.forwarder.execute(inc(s))));
  results.forEach((r, i) => {
    t.is(r.type === 'error' ? r.code : r.type, 'CLUSTER_DOWN');
    t.regex(r.type === 'error' ? r.message : '', new RegExp(`retry with ID \\S+\\+2 PART ${i}/2$`));
  });
  t.true(stuck.seen.every((a) => a[0] === 'INCS'), 'no INC one at a time');
});

test('an INCS refused for overflow goes again one INC at a time', async (t) => {
  const node = await fakeNode(countingScript(100n, 101n));
  const { forwarder } = await forwarderFor(t, [node], { incsMax: 60 });
  const results = await Promise.all(['x', 'y', 'x'].map((s) => forwarder.execute(inc(s))));
  t.deepEqual(ints(results), [101n, 101n, 'INTERNAL']);
  t.deepEqual(node.seen.map(shape), ['INCS b x,y,x', 'INC b x 1', 'INC b y 1', 'INC b x 1']);
});

test('a shard that does not know INCS (an older version) gets the INCs one at a time, then only blocks of one sequence', async (t) => {
  for (const refusal of ["-ERR unknown command 'INCS'\r\n", '-ERR too many arguments in request (max 16)\r\n']) {
    const counting = countingScript();
    const node = await fakeNode((args) => (args[0] === 'INCS' ? refusal : counting(args)));
    const { forwarder } = await forwarderFor(t, [node], { incsMax: 60 });
    t.deepEqual(ints(await Promise.all(['x', 'y', 'x'].map((s) => forwarder.execute(inc(s))))), [101n, 101n, 102n]);
    t.deepEqual(ints(await Promise.all(['x', 'x', 'y'].map((s) => forwarder.execute(inc(s))))), [103n, 104n, 102n]);
    t.deepEqual(node.seen.map(shape), ['INCS b x,y,x', 'INC b x 1', 'INC b y 1', 'INC b x 1', 'INC b x 2', 'INC b y 1'], refusal);
  }
});

test('an INCS refused by an older shard after a later command of its bucket went out: TRYAGAIN (nothing taken), and no more INCS', async (t) => {
  const counting = countingScript();
  const node = await fakeNode((args) => (args[0] === 'INCS' ? "-ERR unknown command 'INCS'\r\n" : counting(args)));
  const { forwarder } = await forwarderFor(t, [node], { incsMax: 60 });
  const block = Promise.all(['x', 'y'].map((s) => forwarder.execute(inc(s))));
  await new Promise((resolve) => setImmediate(resolve));
  const read = forwarder.execute(get('x'));
  t.deepEqual(ints(await block), ['TRY_AGAIN', 'TRY_AGAIN']);
  t.is((await read).type, 'int');
  t.deepEqual(ints(await Promise.all(['x', 'y'].map((s) => forwarder.execute(inc(s))))), [101n, 101n]);
  t.deepEqual(node.seen.map(shape), ['INCS b x,y', 'GET b x', 'INC b x 1', 'INC b y 1']);
});

test('INCS is on by default (at most 60 sequences)', async (t) => {
  const node = await fakeNode(countingScript());
  const { forwarder } = await forwarderFor(t, [node]);
  t.deepEqual(ints(await Promise.all(['x', 'y', 'x'].map((s) => forwarder.execute(inc(s))))), [101n, 101n, 102n]);
  t.deepEqual(node.seen.map(shape), ['INCS b x,y,x']);
  t.is(forwarder.stats.incsBlocks, 1);
});

test('a shard that will not run INCS yet (FEATUREOFF: a member may be older) gets the INCs one at a time, and INCS again 2 s later', async (t) => {
  let off = true;
  const counting = countingScript();
  const node = await fakeNode((args) => (args[0] === 'INCS' && off ? '-FEATUREOFF INCS is off on this shard until every member is known to run a version that applies it\r\n' : counting(args)));
  const { forwarder } = await forwarderFor(t, [node]);
  t.deepEqual(ints(await Promise.all(['x', 'y'].map((s) => forwarder.execute(inc(s))))), [101n, 101n]);
  t.deepEqual(ints(await Promise.all(['x', 'y'].map((s) => forwarder.execute(inc(s))))), [102n, 102n]);
  t.deepEqual(node.seen.map(shape), ['INCS b x,y', 'INC b x 1', 'INC b y 1', 'INC b x 1', 'INC b y 1'], 'refused unrun: alone, then no INCS for a while');
  off = false;
  await new Promise((resolve) => setTimeout(resolve, 2100));
  t.deepEqual(ints(await Promise.all(['x', 'y'].map((s) => forwarder.execute(inc(s))))), [103n, 103n]);
  t.is(shape(node.seen.at(-1)!), 'INCS b x,y', 'the pause after FEATUREOFF is short: the shard turns INCS on by itself');
});
