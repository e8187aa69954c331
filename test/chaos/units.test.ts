/**
 * The pure parts of the chaos harness: the seeded schedule, attempt classification, shard
 * placement, and the SVG plot.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import type { Op } from './checker/history.ts';
import { classify, shardOf } from './clients.ts';
import { leaderSpans } from './monitor.ts';
import { throughputSvg } from './plot.ts';
import { describeEvent, FAULT_KINDS, makeSchedule, NFT_KINDS, type ScheduleOptions } from './schedule.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const BASE: ScheduleOptions = { seed: 7, durationMs: 120_000, nodesPerShard: 5, shards: 2 };

test('the same seed gives the same schedule; another seed another', (t) => {
  t.deepEqual(makeSchedule(BASE), makeSchedule({ ...BASE }));
  t.notDeepEqual(makeSchedule(BASE).events, makeSchedule({ ...BASE, seed: 8 }).events);
});

test('a schedule stays inside warm-up and cool-down, one fault at a time, targets in range', (t) => {
  for (let seed = 0; seed < 50; seed++) {
    const s = makeSchedule({ ...BASE, seed, warmupMs: 4_000, cooldownMs: 5_000 });
    t.true(s.events.length > 5, `seed ${seed}`);
    let lastEnd = 0;
    for (const e of s.events) {
      t.true(e.startMs >= 4_000 && e.endMs <= 115_000 && e.endMs >= e.startMs, `seed ${seed} #${e.id}`);
      t.true(e.startMs >= lastEnd, `seed ${seed}: #${e.id} overlaps the previous fault`);
      lastEnd = e.endMs;
      t.true(e.shard >= 0 && e.shard < 2);
      t.true(e.nodes.length > 0 && e.nodes.every((n) => Number.isInteger(n) && n >= 0 && n < 5));
      t.is(new Set(e.nodes).size, e.nodes.length);
    }
  }
});

test('a schedule uses only the kinds allowed, and over many seeds all of them', (t) => {
  const allowed = FAULT_KINDS.filter((k) => !NFT_KINDS.has(k));
  const seen = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    for (const e of makeSchedule({ ...BASE, seed, routers: 2, kinds: allowed }).events) seen.add(e.kind);
  }
  t.deepEqual([...seen].sort(), [...allowed].sort());
  const partitions = makeSchedule({ ...BASE, kinds: ['partition-half'] }).events;
  for (const e of partitions) t.is(e.nodes.length, 2, 'a minority of 5 is 2');
});

test('router faults only when there are routers, aimed at a router position', (t) => {
  const without = makeSchedule({ ...BASE, durationMs: 600_000 }).events;
  t.false(without.some((e) => e.kind === 'kill-router' || e.kind === 'pause-router' || e.kind === 'partition-router'));
  const withRouters = makeSchedule({ ...BASE, routers: 2, kinds: ['kill-router', 'pause-router', 'partition-router'] }).events;
  t.true(withRouters.some((e) => e.kind === 'partition-router'));
  t.true(withRouters.length > 5);
  for (const e of withRouters) t.true(e.nodes.length === 1 && e.nodes[0]! >= 0 && e.nodes[0]! < 2);
});

test('a one-node shard gets no partitions, transfers or member changes', (t) => {
  const kinds = new Set(makeSchedule({ ...BASE, nodesPerShard: 1, durationMs: 600_000 }).events.map((e) => e.kind));
  for (const k of ['partition-half', 'isolate-leader', 'bridge', 'transfer-leader', 'member-cycle', 'kill-majority']) t.false(kinds.has(k as never), k);
});

test('classify: replies ok, refusals fail, lost writes unknown, lost reads fail', (t) => {
  const reply = (r: object) => ({ kind: 'reply', reply: r }) as never;
  t.deepEqual(classify(reply({ kind: 'integer', value: 5n }), 'inc'), { status: 'ok', value: 5n, hint: null });
  t.deepEqual(classify(reply({ kind: 'null' }), 'get'), { status: 'ok', value: null, hint: null });
  t.deepEqual(classify(reply({ kind: 'string', value: Buffer.from('OK') }), 'set'), { status: 'ok', hint: null });
  t.deepEqual(classify(reply({ kind: 'error', word: 'NOTLEADER', message: 's0 10.77.0.2:7379' }), 'incId'), { status: 'fail', hint: '10.77.0.2:7379' });
  t.deepEqual(classify(reply({ kind: 'error', word: 'NOTLEADER', message: 's0 ?' }), 'inc'), { status: 'fail', hint: null });
  t.deepEqual(classify(reply({ kind: 'error', word: 'ERR', message: 'timed out; the write may or may not have applied' }), 'inc').status, 'unknown');
  t.deepEqual(classify(reply({ kind: 'error', word: 'AMBIGUOUS', message: 'timed out; the write may or may not have applied' }), 'inc').status, 'unknown');
  t.is(classify({ kind: 'lost', error: 'timeout' }, 'set').status, 'unknown');
  t.is(classify({ kind: 'lost', error: 'timeout' }, 'get').status, 'fail');
  t.is(classify({ kind: 'unsent', error: 'refused' }, 'incId').status, 'fail');
});

test('shardOf spreads names and is stable', (t) => {
  const counts = [0, 0];
  for (let i = 0; i < 1000; i++) counts[shardOf(`cold-${i}`, 2)]!++;
  t.true(counts[0]! > 400 && counts[1]! > 400, String(counts));
  t.is(shardOf('hot-0', 3), shardOf('hot-0', 3));
});

test('the plot is one SVG with a line per series and a bar per fault', (t) => {
  const history: Op[] = Array.from({ length: 200 }, (_, i) => ({
    process: 0, type: 'inc', bucket: 'b', sequence: 's', invokeMs: i * 50, completeMs: i * 50 + 5,
    status: i % 10 === 0 ? 'unknown' : 'ok', ...(i % 10 === 0 ? {} : { value: BigInt(i) }),
  }));
  const svg = throughputSvg({
    title: 'seed <1> & more', history, durationMs: 9_000,
    faults: [{ kind: 'kill', startMs: 2_000, endMs: 4_000, label: 'kill [1]' }, { kind: 'transfer-leader', startMs: 5_000, endMs: 5_000, label: 't' }],
    leaders: [{ label: 'leader 0', spans: [{ startMs: 0, endMs: 2_000, leader: 1 }, { startMs: 2_000, endMs: 2_500, leader: null }, { startMs: 2_500, endMs: 9_000, leader: 0 }] }],
  });
  t.regex(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.true(svg.trimEnd().endsWith('</svg>'));
  t.is(svg.match(/<path /g)?.length, 2);
  t.is(svg.match(/<title>/g)?.length, 5, 'two faults and three leader spans');
  t.true(svg.includes('<title>leader: node 1</title>') && svg.includes('<title>no leader</title>'));
  t.true(svg.includes('seed &lt;1&gt; &amp; more'));
  t.false(/NaN|Infinity|undefined/.test(svg));
});

test('leaderSpans: the highest term among self-declared leaders, merged into spans', (t) => {
  const node = (role: string, term: number) => ({ role, term, commit: 0 });
  const samples = [
    { atMs: 0, nodes: [node('leader', 1), node('follower', 1), null] },
    { atMs: 100, nodes: [node('leader', 1), node('follower', 1), node('follower', 1)] },
    // A deposed leader still saying so, next to the new one with a higher term.
    { atMs: 200, nodes: [node('leader', 1), node('leader', 2), node('follower', 2)] },
    { atMs: 300, nodes: [null, node('candidate', 3), node('follower', 2)] },
    { atMs: 400, nodes: [null, node('follower', 3), node('leader', 3)] },
  ];
  t.deepEqual(leaderSpans(samples, [0, 1, 2]), [
    { startMs: 0, endMs: 200, leader: 0 },
    { startMs: 200, endMs: 300, leader: 1 },
    { startMs: 300, endMs: 400, leader: null },
    { startMs: 400, endMs: 400, leader: 2 },
  ]);
  t.deepEqual(leaderSpans(samples, [2]).map((s) => s.leader), [null, 2]);
});

test('the chaos CLI refuses a bad number for a node flag with exit 2, before it prints or starts anything', (t) => {
  for (const args of [['--snapshot-entries', '0'], ['--tick-ms', 'x'], ['--election-ticks', '1']]) {
    const r = spawnSync(process.execPath, [TS_LOADER_ARG, 'test/chaos/cli.ts', ...args], { encoding: 'utf8', timeout: 20_000 });
    t.is(r.status, 2, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
    t.regex(r.stderr, new RegExp(`${args[0]} must be an integer`), args.join(' '));
  }
});

test('a clock fault steps one node of its shard by a seeded amount, and every offset is undone at its end', (t) => {
  const s = makeSchedule({ ...BASE, kinds: ['clock'] });
  t.true(s.events.length > 3);
  for (const e of s.events) {
    t.is(e.nodes.length, 1);
    t.true([2 * 86_400_000, -300_000, 3_600_000, -86_400_000, 90_000].includes(e.clockOffsetMs!), String(e.clockOffsetMs));
    t.true(e.endMs > e.startMs, 'a step lasts, then the clock is set right');
  }
});

test('a full disk fills one node, leaving nothing or less than its reserve, freed at its end', (t) => {
  const s = makeSchedule({ ...BASE, kinds: ['disk-full'] });
  t.true(s.events.length > 3);
  for (const e of s.events) {
    t.is(e.nodes.length, 1);
    t.true([0, 1 << 20, 16 << 20, 48 << 20].includes(e.leaveBytes!), String(e.leaveBytes));
    t.true(e.endMs > e.startMs, 'the disk is freed at the end');
  }
  t.regex(describeEvent(s.events[0]!), /disk-full \d+MiB left/);
});

test('partition-clients aims at a router where the clients talk to routers, else at a node', (t) => {
  const direct = makeSchedule({ ...BASE, kinds: ['partition-clients'] });
  const routed = makeSchedule({ ...BASE, routers: 2, kinds: ['partition-clients'] });
  t.true(direct.events.length > 3 && routed.events.length > 3);
  for (const e of direct.events) t.true(e.nodes.length >= 1 && e.nodes.every((i) => i < BASE.nodesPerShard));
  for (const e of routed.events) t.true(e.nodes.length === 1 && e.nodes[0]! < 2, JSON.stringify(e.nodes));
});

test('stalls: a bucket asked and not answered is listed, idle ones are not, and one outlasting its faults is warned of', async (t) => {
  const { describeStalls, longestStalls } = await import('./stalls.ts');
  const op = (bucket: string, invokeMs: number, completeMs: number, status: 'ok' | 'fail'): Op => ({ process: 0, type: 'inc', bucket, sequence: 's', invokeMs, completeMs, status, ...(status === 'ok' ? { value: 1n } : {}) });
  const history: Op[] = [
    op('frozen', 0, 10, 'ok'), ...Array.from({ length: 30 }, (_, i) => op('frozen', 1000 + i * 1000, 1500 + i * 1000, 'fail')), op('frozen', 40_000, 40_010, 'ok'),
    op('idle', 0, 10, 'ok'), op('idle', 50_000, 50_010, 'ok'),
    op('brief', 0, 10, 'ok'), op('brief', 100, 2900, 'fail'), op('brief', 3000, 3010, 'ok'),
  ];
  const stalls = longestStalls(history, [{ startMs: 500, endMs: 5000 }]);
  t.deepEqual(stalls.map((s) => s.bucket), ['frozen', 'brief']);
  t.is(stalls[0]!.failedAttempts, 30);
  t.is(stalls[0]!.toMs, 30_500, 'it lasts while asked: up to the end of the last failed attempt');
  t.is(stalls[0]!.afterFaultsMs, 25_500);
  t.is(stalls[1]!.afterFaultsMs, 0);
  const lines = describeStalls(stalls);
  t.regex(lines[1]!, /^ {2}frozen 0\.0s-30\.5s .* WARNING/);
  t.notRegex(lines[2]!, /WARNING/);
  // Faults back to back overlap a stall to its end: past 45 s it is warned of all the same.
  const long = [op('hot', 0, 10, 'ok'), ...Array.from({ length: 25 }, (_, i) => op('hot', 1000 + i * 2000, 2000 + i * 2000, 'fail')), op('hot', 50_000, 50_010, 'ok')];
  const covered = longestStalls(long, [{ startMs: 0, endMs: 30_000 }, { startMs: 29_000, endMs: 60_000 }]);
  t.is(covered[0]!.afterFaultsMs, 0);
  t.regex(describeStalls(covered)[1]!, /WARNING: longer than/);
  t.notRegex(describeStalls(longestStalls(long.filter((o) => o.invokeMs < 30_000 || o.status === 'ok'), [{ startMs: 0, endMs: 60_000 }]))[1]!, /WARNING/, 'asked for 30 s only');
  t.deepEqual(longestStalls([op('gone', 0, 10, 'ok'), op('gone', 500, 1500, 'fail'), op('gone', 90_000, 90_010, 'ok')], []), [], 'a client that gave up at once, then a read-back much later: no stall');
});
