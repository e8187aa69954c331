/**
 * Gapless series (issue 12) on the real state machine over real LMDB files: every transition,
 * expiry decided by the time carried in the log, plain-INC runs, retention, exactly-once
 * RESERVE, determinism (two stores fed the same log end byte-identical) and snapshot round trip.
 */
import test from 'ava';
import {
  LmdbStore,
  MemoryKv,
  StateMachine,
  decodeCommand,
  encodeCommand,
  parseCommand,
  type CommandResult,
  type KvTxn,
  type ResultItem,
} from '../../node/state-machine/index.ts';
import { T0, int, openStore } from './series-store.ts';

function code(result: CommandResult): string {
  return result.type === 'error' ? result.code : result.type;
}

interface Row {
  n: bigint;
  state: string;
  timeMs: bigint | null;
  ref: string | null;
  reason: string | null;
}

function rows(result: CommandResult): Row[] {
  if (result.type !== 'array') throw new Error(`expected array, got ${JSON.stringify(result)}`);
  return result.value.map((r) => {
    const [n, state, timeMs, ref, reason] = r as ResultItem[];
    return {
      n: n as bigint,
      state: (state as Buffer).toString(),
      timeMs: timeMs as bigint | null,
      ref: ref === null ? null : (ref as Buffer).toString(),
      reason: reason === null ? null : (reason as Buffer).toString(),
    };
  });
}

function infoMap(result: CommandResult): Record<string, ResultItem> {
  if (result.type !== 'array') throw new Error('expected array');
  const out: Record<string, ResultItem> = {};
  for (let i = 0; i < result.value.length; i += 2) out[(result.value[i] as Buffer).toString()] = result.value[i + 1]!;
  return out;
}

test('every transition, with its error codes', async (t) => {
  const { run } = await openStore(t);
  t.is(int(await run(T0, 'RESERVE', 'b', 'inv', 'TTL', '60', 'REF', 'cart-1')), 1n);
  t.is(int(await run(T0 + 1, 'INC', 'b', 'inv')), 2n);
  t.is(int(await run(T0 + 2, 'RESERVE', 'b', 'inv', 'TTL', '60')), 3n);
  t.is(code(await run(T0 + 3, 'CONFIRM', 'b', 'inv', '1', 'REF', 'INV-2026-1')), 'ok');
  t.is(code(await run(T0 + 4, 'CONFIRM', 'b', 'inv', '1')), 'ok', 'a retried CONFIRM is OK');
  t.is(code(await run(T0 + 4, 'CONFIRM', 'b', 'inv', '1', 'REF', 'INV-2026-1')), 'ok');
  t.is(code(await run(T0 + 5, 'CONFIRM', 'b', 'inv', '1', 'REF', 'other')), 'NUMBER_USED');
  t.is(code(await run(T0 + 5, 'VOID', 'b', 'inv', '1', 'REASON', 'oops')), 'NUMBER_USED', 'used numbers stay used');
  t.is(code(await run(T0 + 6, 'VOID', 'b', 'inv', '3', 'REASON', 'customer left')), 'ok');
  t.is(code(await run(T0 + 7, 'VOID', 'b', 'inv', '3', 'REASON', 'again')), 'ok', 'a retried VOID is OK');
  t.is(code(await run(T0 + 7, 'CONFIRM', 'b', 'inv', '3')), 'NUMBER_VOID');
  t.is(code(await run(T0 + 8, 'CONFIRM', 'b', 'inv', '2')), 'NOT_RESERVED');
  t.is(code(await run(T0 + 8, 'VOID', 'b', 'inv', '2', 'REASON', 'x')), 'NOT_RESERVED');
  t.is(code(await run(T0 + 8, 'CONFIRM', 'b', 'inv', '4')), 'NUMBER_UNKNOWN');
  t.is(code(await run(T0 + 8, 'CONFIRM', 'b', 'nothing', '1')), 'NUMBER_UNKNOWN');
  t.is(code(await run(T0 + 9, 'SET', 'b', 'inv', '0')), 'SERIES_SET');
  t.is(code(await run(T0 + 9, 'SET', 'b', 'plain', '7')), 'ok', 'SET on other sequences is untouched');

  t.deepEqual(rows(await run(T0 + 10, 'AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '100')), [
    { n: 1n, state: 'used', timeMs: BigInt(T0 + 3), ref: 'INV-2026-1', reason: null },
    { n: 2n, state: 'inc', timeMs: BigInt(T0 + 1), ref: null, reason: null },
    { n: 3n, state: 'void', timeMs: BigInt(T0 + 6), ref: null, reason: 'customer left' },
  ]);
  const info = infoMap(await run(T0 + 11, 'SEQ.INFO', 'b', 'inv'));
  t.like(info, { value: 3n, series: 1n, pre: 0n, reserved: 0n, used: 1n, void: 1n, inc: 1n, oldest_reserved: null });
});

test('parse errors are Redis-worded with stable codes', async (t) => {
  const bad = [
    ['RESERVE', 'b', 's'],
    ['RESERVE', 'b', 's', 'TTL', '0'],
    ['RESERVE', 'b', 's', 'TTL', '5', 'TTL', '5'],
    ['CONFIRM', 'b', 's', '0'],
    ['VOID', 'b', 's', '1'],
    ['AUDIT', 'b', 's', 'FROM', '1', 'TO', '10001'],
    ['AUDIT', 'b', 's', 'FROM', '5', 'TO', '4'],
    ['SEQ.LIST', 'b', 'zz'],
    ['SEQ.LIST', 'b', '0', 'COUNT', '5000'],
  ];
  const codes = bad.map((args) => {
    try {
      parseCommand(args.map((a) => Buffer.from(a)));
      return 'parsed';
    } catch (error) {
      return (error as { code: string }).code;
    }
  });
  t.deepEqual(codes, ['SYNTAX', 'NOT_INTEGER', 'SYNTAX', 'NOT_INTEGER', 'SYNTAX', 'SYNTAX', 'SYNTAX', 'SYNTAX', 'NOT_INTEGER']);
});

test('a reservation runs out by the time carried in the log, never by a local clock', async (t) => {
  const { run } = await openStore(t);
  t.is(int(await run(T0, 'RESERVE', 'b', 's', 'TTL', '10')), 1n);
  t.is(int(await run(T0, 'RESERVE', 'b', 's', 'TTL', '10')), 2n);
  // Just before the TTL: still reserved; a command whose log time is at the TTL sees it void.
  t.is(code(await run(T0 + 9_999, 'CONFIRM', 'b', 's', '1')), 'ok');
  t.is(code(await run(T0 + 10_000, 'CONFIRM', 'b', 's', '2')), 'NUMBER_VOID');
  t.deepEqual(rows(await run(T0 + 10_001, 'AUDIT', 'b', 's', 'FROM', '2', 'TO', '2')), [
    { n: 2n, state: 'void', timeMs: BigInt(T0 + 10_000), ref: null, reason: 'expired' },
  ]);
  // The sweep: a command on ANOTHER sequence voids what is due, in a committed step.
  t.is(int(await run(T0 + 20_000, 'RESERVE', 'b', 's', 'TTL', '1')), 3n);
  t.is(int(await run(T0 + 20_500, 'INC', 'other', 'x')), 1n);
  t.like(infoMap(await run(T0 + 20_600, 'SEQ.INFO', 'b', 's')), { reserved: 1n, oldest_reserved: 3n });
  t.is(int(await run(T0 + 21_000, 'INC', 'other', 'x')), 2n);
  t.like(infoMap(await run(T0 + 21_000, 'SEQ.INFO', 'b', 's')), { reserved: 0n, void: 2n, used: 1n });
  // A proposer whose clock stepped back cannot un-expire: the log clock never goes back.
  t.is(int(await run(T0 + 30_000, 'RESERVE', 'b', 's', 'TTL', '5')), 4n);
  t.is(code(await run(T0 + 36_000, 'INC', 'other', 'x')), 'int');
  t.is(code(await run(T0, 'CONFIRM', 'b', 's', '4')), 'NUMBER_VOID');
});

test('plain INC on a series is kept as runs; numbers before the series are pre', async (t) => {
  const { run } = await openStore(t);
  t.is(int(await run(T0, 'INC', 'b', 's', 'COUNT', '3')), 3n);
  t.is(int(await run(T0 + 1, 'RESERVE', 'b', 's', 'TTL', '60')), 4n);
  t.is(int(await run(T0 + 2, 'INC', 'b', 's', 'COUNT', '1000')), 1004n);
  t.is(int(await run(T0 + 3, 'INC', 'b', 's')), 1005n);
  t.is(int(await run(T0 + 5000, 'INC', 'b', 's')), 1006n);
  const audit = rows(await run(T0 + 5001, 'AUDIT', 'b', 's', 'FROM', '1', 'TO', '2000'));
  t.is(audit.length, 1006);
  t.deepEqual(audit.slice(0, 4).map((r) => r.state), ['pre', 'pre', 'pre', 'reserved']);
  t.true(audit.slice(4, 1005).every((r) => r.state === 'inc' && r.timeMs === BigInt(T0 + 2)), 'one run, one time');
  t.like(audit[1005], { state: 'inc', timeMs: BigInt(T0 + 5000) });
  t.like(infoMap(await run(T0 + 5002, 'SEQ.INFO', 'b', 's')), { value: 1006n, pre: 3n, inc: 1002n, reserved: 1n });
  // A page in the middle: binary search over the runs.
  const page = rows(await run(T0 + 5003, 'AUDIT', 'b', 's', 'FROM', '1004', 'TO', '1006'));
  t.deepEqual(page.map((r) => [r.n, r.state]), [[1004n, 'inc'], [1005n, 'inc'], [1006n, 'inc']]);
  // A sequence that never became a series audits as pre.
  await run(T0 + 5004, 'INC', 'b', 'plain');
  t.deepEqual(rows(await run(T0 + 5005, 'AUDIT', 'b', 'plain', 'FROM', '1', 'TO', '5')).map((r) => r.state), ['pre']);
});

test('an INCS over a series bucket keeps the series\' numbers as runs, the series begun in an earlier transaction of a store that carries its windows', async (t) => {
  const { store } = await openStore(t);
  const machine = new StateMachine();
  // writeNow: the path of a replica's apply, which carries the header space's window across
  // transactions (lmdb-store.ts); an INCS asks it whether any series exists at all.
  const runNow = (timeMs: number, ...args: string[]): CommandResult => {
    const logged = decodeCommand(encodeCommand(parseCommand(args.map((a) => Buffer.from(a, 'latin1'))), timeMs));
    return store.writeNow((txn) => machine.apply(txn, logged.command, logged.timeMs));
  };
  t.is(code(runNow(T0, 'INCS', 'b', `${T0}-aaaaaaaaaaaaaaaa+2`, 'plain', 's')), 'array');
  t.is(int(runNow(T0 + 1, 'RESERVE', 'b', 's', 'TTL', '60')), 2n);
  const incs = runNow(T0 + 2, 'INCS', 'b', `${T0 + 2}-bbbbbbbbbbbbbbbb+2`, 'plain', 's');
  t.deepEqual(incs.type === 'array' ? incs.value : incs, [2n, 3n]);
  const audit = rows(runNow(T0 + 3, 'AUDIT', 'b', 's', 'FROM', '1', 'TO', '5'));
  t.deepEqual(audit.map((r) => [r.n, r.state]), [[1n, 'pre'], [2n, 'reserved'], [3n, 'inc']]);
  t.like(infoMap(runNow(T0 + 4, 'SEQ.INFO', 'b', 's')), { value: 3n, inc: 1n, reserved: 1n });
});

test('RESERVE ... ID is exactly-once and its token cannot be reused by INC', async (t) => {
  const { run } = await openStore(t);
  const token = `${T0}-abc`;
  t.is(int(await run(T0, 'RESERVE', 'b', 's', 'TTL', '60', 'ID', token)), 1n);
  t.is(int(await run(T0 + 1, 'RESERVE', 'b', 's', 'TTL', '60', 'ID', token)), 1n);
  t.is(code(await run(T0 + 2, 'INC', 'b', 's', 'ID', token)), 'TOKEN_MISMATCH');
  t.is(int(await run(T0 + 3, 'INC', 'b', 's', 'ID', 'inc-token')), 2n);
  t.is(code(await run(T0 + 4, 'RESERVE', 'b', 's', 'TTL', '60', 'ID', 'inc-token')), 'TOKEN_MISMATCH');
  t.like(infoMap(await run(T0 + 5, 'SEQ.INFO', 'b', 's')), { value: 2n, reserved: 1n, inc: 1n });
});

test('SEQ.RETAIN bounds the trail; pruned numbers are reported as pruned', async (t) => {
  const { run } = await openStore(t);
  t.is(code(await run(T0, 'SEQ.RETAIN', 'b', 's', '10')), 'ok');
  for (let i = 1; i <= 60; i++) {
    const now = T0 + i * 2000; // 2 s apart: one run per INC, the worst case for runs
    if (i % 3 === 0) await run(now, 'INC', 'b', 's');
    else {
      const n = int(await run(now, 'RESERVE', 'b', 's', 'TTL', '1000'));
      await run(now, ...(i % 3 === 1 ? ['CONFIRM', 'b', 's', String(n)] : ['VOID', 'b', 's', String(n), 'REASON', 'r']));
    }
  }
  const audit = rows(await run(T0 + 200_000, 'AUDIT', 'b', 's', 'FROM', '1', 'TO', '60'));
  t.is(audit.length, 60);
  t.true(audit.slice(0, 50).every((r) => r.state === 'pruned'), JSON.stringify(audit.slice(0, 50).map((r) => r.state)));
  t.true(audit.slice(50).every((r) => r.state !== 'pruned'));
  t.like(infoMap(await run(T0 + 200_001, 'SEQ.INFO', 'b', 's')), { pruned_through: 50n, retain: 10n, value: 60n });
});

test('SEQ.LIST pages through the sequences of a bucket', async (t) => {
  const { run } = await openStore(t);
  const names = Array.from({ length: 25 }, (_, i) => `seq-${String(i).padStart(2, '0')}`);
  for (const name of names) await run(T0, 'INC', 'b', name);
  await run(T0, 'INC', 'other-bucket', 'x');
  const seen: string[] = [];
  let cursor = '0';
  for (let page = 0; page < 10; page++) {
    const result = await run(T0, 'SEQ.LIST', 'b', cursor, 'COUNT', '10');
    if (result.type !== 'array') throw new Error('expected array');
    seen.push(...(result.value[1] as Buffer[]).map((b) => b.toString()));
    cursor = (result.value[0] as Buffer).toString();
    if (cursor === '0') break;
  }
  t.deepEqual(seen, names);
});

/** A seeded pseudo-random series workload; returns the commands it ran. */
function workload(seed: number, count: number, retain = true): { timeMs: number; args: string[] }[] {
  let x = seed >>> 0 || 1;
  const rand = (m: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % m;
  };
  const out: { timeMs: number; args: string[] }[] = [];
  let now = T0;
  let issued = 0;
  for (let i = 0; i < count; i++) {
    now += rand(3000);
    const seq = `s${rand(3)}`;
    const op = rand(6);
    const n = String(1 + rand(Math.max(1, issued)));
    if (op === 0) out.push({ timeMs: now, args: ['INC', 'b', seq, 'COUNT', String(1 + rand(5))] });
    // Now and then a reservation that stays open all run long: retention must stop at it.
    else if (op <= 2) out.push({ timeMs: now, args: ['RESERVE', 'b', seq, 'TTL', String(rand(20) === 0 ? 3600 : 1 + rand(8)), 'REF', `r${i}`] });
    else if (op === 3) out.push({ timeMs: now, args: ['CONFIRM', 'b', seq, n, 'REF', `c${i}`] });
    else if (op === 4) out.push({ timeMs: now, args: ['VOID', 'b', seq, n, 'REASON', `v${i}`] });
    else if (retain && rand(4) === 0) out.push({ timeMs: now, args: ['SEQ.RETAIN', 'b', seq, String(rand(3) === 0 ? 0 : 5 + rand(40))] });
    else if (rand(2) === 0) out.push({ timeMs: now, args: ['AUDIT', 'b', seq, 'FROM', String(1 + rand(50)), 'TO', '200'] });
    else out.push({ timeMs: now, args: ['SEQ.INFO', 'b', seq] });
    issued += 2;
  }
  return out;
}

async function exportBytes(store: LmdbStore): Promise<Buffer> {
  return Buffer.concat([...store.exportSnapshot()]);
}

test('determinism: two stores fed the same log end byte-identical; a snapshot carries the trail', async (t) => {
  const seed = Number(process.env.SERIES_SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (SERIES_SEED=${seed} to replay)`);
  const a = await openStore(t, 'a');
  const b = await openStore(t, 'b');
  for (const { timeMs, args } of workload(seed, 400)) {
    const [ra, rb] = [await a.run(timeMs, ...args), await b.run(timeMs, ...args)];
    t.deepEqual(ra, rb, `seed ${seed}: ${args.join(' ')}`);
    // Every number stays accounted for: an AUDIT never finds one without a record (INTERNAL).
    if (ra.type === 'error' && ra.code === 'INTERNAL') t.fail(`seed ${seed}: ${args.join(' ')}: ${ra.message}`);
  }
  const image = await exportBytes(a.store);
  t.true(image.equals(await exportBytes(b.store)), `seed ${seed}: states differ`);

  const c = await openStore(t, 'c');
  await c.store.importSnapshot(a.store.exportSnapshot(4096));
  for (const seq of ['s0', 's1', 's2']) {
    const last = T0 + 10_000_000;
    const audit = await a.run(last, 'AUDIT', 'b', seq, 'FROM', '1', 'TO', '10000');
    t.deepEqual(await c.run(last, 'AUDIT', 'b', seq, 'FROM', '1', 'TO', '10000'), audit);
    // Every number 1..value is in exactly one state; after the TTLs, none is left reserved.
    const r = rows(audit);
    const value = infoMap(await a.run(last, 'SEQ.INFO', 'b', seq)).value as bigint;
    t.deepEqual(r.map((row) => row.n), Array.from({ length: Number(value) }, (_, i) => BigInt(i + 1)));
    const states = new Set(r.map((row) => row.state));
    t.true([...states].every((s) => ['used', 'void', 'inc', 'pre', 'pruned'].includes(s)), `seed ${seed}: ${[...states].join()}`);
  }
});

test('series log encoding: round trip of every command; corrupt bytes are INTERNAL, never a command', (t) => {
  const commands = [
    ['RESERVE', 'b', 's', 'TTL', '9', 'REF', 'r', 'ID', 'tok'],
    ['RESERVE', 'b', 's', 'TTL', '31536000'],
    ['CONFIRM', 'b', 's', '9223372036854775807', 'REF', 'x'],
    ['CONFIRM', 'b', 's', '1'],
    ['VOID', 'b', 's', '3', 'REASON', 'why'],
    ['AUDIT', 'b', 's', 'FROM', '5', 'TO', '10004'],
    ['SEQ.INFO', 'b', 's'],
    ['SEQ.RETAIN', 'b', 's', '0'],
    ['SEQ.LIST', 'b'],
    ['SEQ.LIST', 'b', '6162', 'COUNT', '1000'],
  ];
  for (const args of commands) {
    const command = parseCommand(args.map((a) => Buffer.from(a)));
    const bytes = encodeCommand(command, T0);
    t.deepEqual(decodeCommand(bytes), { command, timeMs: T0 }, args.join(' '));
    for (const cut of [1, 2, 10, bytes.length - 1]) {
      const error = t.throws(() => decodeCommand(bytes.subarray(0, cut)), undefined, `${args.join(' ')} cut at ${cut}`);
      t.is((error as { code?: string } | undefined)?.code, 'INTERNAL');
    }
    t.is((t.throws(() => decodeCommand(Buffer.concat([bytes, Buffer.of(0)]))) as { code?: string } | undefined)?.code, 'INTERNAL');
  }
});

test('counts by state always equal the audit trail (20 seeded in-memory runs)', (t) => {
  const base = Number(process.env.SERIES_SEED ?? Date.now() % 1_000_000);
  for (let k = 0; k < 20; k++) {
    const seed = base + k;
    const kv = new MemoryKv();
    const machine = new StateMachine();
    const run = (timeMs: number, ...args: string[]): CommandResult =>
      machine.apply(kv, parseCommand(args.map((a) => Buffer.from(a))), timeMs);
    let last = T0;
    for (const { timeMs, args } of workload(seed, 300, false)) {
      run(timeMs, ...args);
      last = timeMs;
    }
    let reserved = 0n;
    for (const seq of ['s0', 's1', 's2']) {
      const info = infoMap(run(last, 'SEQ.INFO', 'b', seq));
      if (info.series !== 1n) continue;
      const counts: Record<string, bigint> = { pre: 0n, reserved: 0n, used: 0n, void: 0n, inc: 0n };
      for (const row of rows(run(last, 'AUDIT', 'b', seq, 'FROM', '1', 'TO', '10000'))) counts[row.state]! += 1n;
      const expected = { pre: info.pre, reserved: info.reserved, used: info.used, void: info.void, inc: info.inc };
      t.deepEqual(counts, expected, `seed ${seed} ${seq}`);
      reserved += info.reserved as bigint;
    }
    // Both open-reservation indexes hold exactly the reserved numbers, no stale entries.
    t.is(BigInt([...kv.scan(Buffer.of(0x23))].length), reserved, `seed ${seed}: by-number index`);
    t.is(BigInt([...kv.scan(Buffer.of(0x24))].length), reserved, `seed ${seed}: by-expiry index`);
  }
});

test('a SEQ.LIST page seeks to its cursor: it reads about COUNT keys wherever the cursor is (it ran on every replica\'s apply and stepped over the whole bucket before it; a series review)', (t) => {
  const kv = new MemoryKv();
  const machine = new StateMachine();
  const name = (i: number): string => `s${String(i).padStart(5, '0')}`;
  for (let i = 0; i < 3000; i++) machine.apply(kv, parseCommand(['INC', 'b', name(i)].map((a) => Buffer.from(a))), T0);
  let read = 0;
  const counting: KvTxn = Object.assign(Object.create(kv) as KvTxn, {
    *scan(prefix: Buffer, after?: Buffer) {
      for (const entry of kv.scan(prefix, after)) {
        read++;
        yield entry;
      }
    },
  });
  const page = (cursor: string): string[] => {
    read = 0;
    const result = machine.apply(counting, parseCommand(['SEQ.LIST', 'b', cursor, 'COUNT', '10'].map((a) => Buffer.from(a))), T0);
    if (result.type !== 'array') throw new Error(JSON.stringify(result));
    return (result.value[1] as Buffer[]).map((b) => b.toString());
  };
  t.deepEqual(page(Buffer.from(name(2899)).toString('hex')), Array.from({ length: 10 }, (_, i) => name(2900 + i)));
  t.true(read <= 12, `keys read for a page of 10 near the end: ${read}`);
});
