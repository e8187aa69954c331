import test from 'ava';
import {
  LmdbStore,
  MemoryKv,
  StateMachine,
  decodeCommand,
  encodeCommand,
  parseCommand,
  getAppliedIndex,
  setAppliedIndex,
  type Command,
  type CommandResult,
  type StateMachineOptions,
  type DecodedCommand,
  type KvEntry,
  decodeSnapshot,
  tokenTimeMs,
} from '../../node/state-machine/index.ts';
import { Rng } from '../sim/rng.ts';
import { SeqError } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { multiToken } from '../../shared/protocol/part-token.ts';

const cmd = (...args: (string | Buffer)[]): Command =>
  parseCommand(args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a)));

const parseCode = (...args: (string | Buffer)[]): string => {
  try {
    cmd(...args);
    return 'parsed';
  } catch (error) {
    return (error as SeqError).code;
  }
};

async function openStore(t: { teardown(fn: () => unknown): void }): Promise<{ store: LmdbStore; path: string }> {
  const path = await tempDir(t);
  const store = LmdbStore.open({ path });
  t.teardown(() => store.close());
  return { store, path };
}

/** Applies commands one per call (each in its own durable transaction) at the given time. */
function runner(store: LmdbStore, options?: StateMachineOptions) {
  const machine = new StateMachine(options);
  return (timeMs: number, ...args: string[]): Promise<CommandResult> =>
    store.write((txn) => machine.apply(txn, cmd(...args), timeMs));
}

const int = (value: bigint | number): CommandResult => ({ type: 'int', value: BigInt(value) });
const codeOf = (result: CommandResult): string => (result.type === 'error' ? result.code : result.type);

test('parse: names and options are case-insensitive; INC options in any order', (t) => {
  t.deepEqual(cmd('iNc', 'b', 's', 'id', 'tok', 'CoUnT', '3'), {
    type: 'inc',
    bucket: Buffer.from('b'),
    sequence: Buffer.from('s'),
    count: 3,
    token: Buffer.from('tok'),
  });
  t.deepEqual(cmd('set', 'b', 's', '9223372036854775807'), {
    type: 'set',
    bucket: Buffer.from('b'),
    sequence: Buffer.from('s'),
    value: 9223372036854775807n,
  });
  t.is(cmd('GET', 'b', 's').type, 'get');
});

test('parse: every validation has its code', (t) => {
  t.is(parseCode('inc', 'b'), 'WRONG_ARITY');
  t.is(parseCode('get', 'b', 's', 'x'), 'WRONG_ARITY');
  t.is(parseCode('set', 'b', 's'), 'WRONG_ARITY');
  t.is(parseCode('set', 'b', 's', '9223372036854775808'), 'NOT_INTEGER');
  t.is(parseCode('set', 'b', 's', '-1'), 'NOT_INTEGER');
  t.is(parseCode('set', 'b', 's', '01'), 'NOT_INTEGER');
  t.is(parseCode('set', 'b', 's', '1.5'), 'NOT_INTEGER');
  t.is(parseCode('set', 'b', 's', ''), 'NOT_INTEGER');
  t.is(parseCode('inc', 'b', 's', 'COUNT', '0'), 'NOT_INTEGER');
  t.is(parseCode('inc', 'b', 's', 'COUNT', '1000001'), 'NOT_INTEGER');
  t.is(parseCode('inc', 'b', 's', 'COUNT', '1000000'), 'parsed');
  t.is(parseCode('inc', 'b', 's', 'COUNT'), 'SYNTAX');
  t.is(parseCode('inc', 'b', 's', 'COUNT', '1', 'COUNT', '2'), 'SYNTAX');
  t.is(parseCode('inc', 'b', 's', 'FROB', '1'), 'SYNTAX');
  t.is(parseCode('inc', 'b', 's', 'ID', 'x'.repeat(65)), 'SYNTAX');
  t.is(parseCode('inc', 'b', 's', 'ID', 'x'.repeat(64)), 'parsed');
  t.is(parseCode('inc', '', 's'), 'NAME_TOO_LONG');
  t.is(parseCode('inc', 'b'.repeat(257), 's'), 'NAME_TOO_LONG');
  t.is(parseCode('inc', 'b'.repeat(256), 's'.repeat(256)), 'parsed');
  t.is(parseCode('frob'), 'UNKNOWN_COMMAND');
  const error = t.throws(() => cmd('INC', 'b'));
  t.is(error?.message, "wrong number of arguments for 'inc'");
  t.is(t.throws(() => cmd('frob'))?.message, "unknown command 'frob'");
});

test('codec: round-trips every command shape with its time, binary-safe', (t) => {
  const commands = [
    cmd('SET', Buffer.from([0, 255, 13, 10]), 's', '9223372036854775807'),
    cmd('INC', 'b', 's'),
    cmd('INC', 'b'.repeat(256), 's', 'COUNT', '1000000', 'ID', Buffer.alloc(64, 7) as unknown as string),
    cmd('GET', 'b', Buffer.from([0])),
  ];
  for (const command of commands) {
    const bytes = encodeCommand(command, 1_700_000_000_123);
    t.deepEqual(decodeCommand(bytes), { command, timeMs: 1_700_000_000_123 });
    t.is(t.throws(() => decodeCommand(bytes.subarray(0, bytes.length - 1)))?.name, 'SeqError');
    t.is(t.throws(() => decodeCommand(Buffer.concat([bytes, Buffer.of(0)])))?.name, 'SeqError');
  }
});

test('LMDB: SET, GET, INC, COUNT; a new sequence starts at 0', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store);
  t.deepEqual(await run(1, 'GET', 'b', 's'), { type: 'nil' });
  t.deepEqual(await run(1, 'INC', 'b', 's'), int(1));
  t.deepEqual(await run(1, 'INC', 'b', 's', 'COUNT', '10'), int(11));
  t.deepEqual(await run(1, 'SET', 'b', 's', '100'), { type: 'ok' });
  t.deepEqual(await run(1, 'GET', 'b', 's'), int(100));
  t.deepEqual(await run(1, 'INC', 'b', 'other'), int(1));
  t.is(store.summary().sequences, 2);
});

test('LMDB: INC never wraps; the value stays at its maximum', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store);
  await run(1, 'SET', 'b', 's', '9223372036854775806');
  t.deepEqual(await run(1, 'INC', 'b', 's', 'COUNT', '2'), {
    type: 'error',
    code: 'OVERFLOW',
    message: 'increment would overflow',
  });
  t.deepEqual(await run(1, 'INC', 'b', 's'), int(9223372036854775807n));
  t.is(codeOf(await run(1, 'INC', 'b', 's')), 'OVERFLOW');
  t.deepEqual(await run(1, 'GET', 'b', 's'), int(9223372036854775807n));
});

test('LMDB: keys never collide across (bucket, sequence) pairs', async (t) => {
  const { store } = await openStore(t);
  const machine = new StateMachine();
  const pairs: [string, string][] = [
    ['a\x00b', 'c'],
    ['a', '\x00bc'],
    ['a\x00', 'bc'],
    ['a', 'b\x00c'],
    ['ab', 'c'],
    ['a', 'bc'],
    ['\x00\x01', 'a'],
    ['\x00', '\x01a'],
  ];
  const results = await store.write((txn) =>
    pairs.map(([bucket, sequence], i) => machine.apply(txn, cmd('INC', bucket, sequence, 'COUNT', String(i + 1)), 1)),
  );
  t.deepEqual(results, pairs.map((_, i) => int(i + 1)));
  t.is(store.summary().sequences, pairs.length);
  for (const [i, [bucket, sequence]] of pairs.entries()) {
    t.deepEqual(store.read((kv) => machine.apply(kv as never, cmd('GET', bucket, sequence), 1)), int(i + 1));
  }
});

test('tokens: a repeat returns the same reply and takes nothing; another COUNT is a mismatch', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store);
  const now = 1_700_000_000_000;
  t.deepEqual(await run(now, 'INC', 'b', 's', 'ID', 'opaque-1', 'COUNT', '5'), int(5));
  t.deepEqual(await run(now, 'INC', 'b', 's', 'ID', 'opaque-1', 'COUNT', '5'), int(5));
  t.is(codeOf(await run(now, 'INC', 'b', 's', 'ID', 'opaque-1')), 'TOKEN_MISMATCH');
  // Tokens are scoped per sequence: the same token elsewhere is a new request.
  t.deepEqual(await run(now, 'INC', 'b', 'other', 'ID', 'opaque-1', 'COUNT', '5'), int(5));
  t.deepEqual(await run(now, 'GET', 'b', 's'), int(5));
  t.is(store.summary().tokens, 2);
});

test('tokens: an overflowing INC remembers nothing, so its retry is refused the same way', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store);
  await run(1, 'SET', 'b', 's', '9223372036854775807');
  t.is(codeOf(await run(1, 'INC', 'b', 's', 'ID', 't')), 'OVERFLOW');
  t.is(codeOf(await run(1, 'INC', 'b', 's', 'ID', 't')), 'OVERFLOW');
  t.is(store.summary().tokens, 0);
});

test('tokens: survive closing and reopening the LMDB environment', async (t) => {
  const path = await tempDir(t);
  let store = LmdbStore.open({ path });
  t.deepEqual(await runner(store)(1000, 'INC', 'b', 's', 'ID', 'keep', 'COUNT', '3'), int(3));
  await store.close();
  store = LmdbStore.open({ path });
  t.teardown(() => store.close());
  t.deepEqual(await runner(store)(2000, 'INC', 'b', 's', 'ID', 'keep', 'COUNT', '3'), int(3));
  t.deepEqual(await runner(store)(2000, 'INC', 'b', 's'), int(4));
});

test('tokens: evicted after the window; a timed token then gets TOKEN_EXPIRED, never a number', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store, { tokenRetentionMs: 1000 });
  const t0 = 1_700_000_000_000;
  const timed = `${t0}-abc`;
  t.deepEqual(await run(t0, 'INC', 'b', 's', 'ID', timed), int(1));
  t.deepEqual(await run(t0 + 999, 'INC', 'b', 's', 'ID', timed), int(1));
  t.deepEqual(await run(t0 + 1001, 'INC', 'b', 'x'), int(1)); // any write evicts expired tokens
  t.is(store.summary().tokens, 0);
  t.is(codeOf(await run(t0 + 1002, 'INC', 'b', 's', 'ID', timed)), 'TOKEN_EXPIRED');
  // A timed token never seen but older than the window is refused too.
  t.is(codeOf(await run(t0 + 5000, 'INC', 'b', 's', 'ID', `${t0 + 3000}-new`)), 'TOKEN_EXPIRED');
  t.deepEqual(await run(t0 + 5000, 'INC', 'b', 's', 'ID', `${t0 + 4500}-new`), int(2));
  // Opaque tokens cannot be recognized once forgotten (documented): they take a fresh number.
  t.deepEqual(await run(t0 + 5000, 'INC', 'b', 'o', 'ID', 'opaque'), int(1));
  t.deepEqual(await run(t0 + 9000, 'INC', 'b', 'o', 'ID', 'opaque'), int(2));
});

test('tokens: the count bound evicts oldest first and fences older timed tokens', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store, { tokensMax: 3 });
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < 5; i++) t.deepEqual(await run(t0 + i, 'INC', 'b', 's', 'ID', `${t0 + i}-x`), int(i + 1));
  t.is(store.summary().tokens, 3);
  // The two oldest were evicted early: their retries are refused, not renumbered.
  t.is(codeOf(await run(t0 + 10, 'INC', 'b', 's', 'ID', `${t0}-x`)), 'TOKEN_EXPIRED');
  t.is(codeOf(await run(t0 + 10, 'INC', 'b', 's', 'ID', `${t0 + 1}-x`)), 'TOKEN_EXPIRED');
  // A new timed token not newer than the newest evicted one is refused too (the documented fence).
  t.is(codeOf(await run(t0 + 10, 'INC', 'b', 's', 'ID', `${t0 + 1}-other`)), 'TOKEN_EXPIRED');
  // The three newest are still remembered.
  for (let i = 2; i < 5; i++) t.deepEqual(await run(t0 + 10, 'INC', 'b', 's', 'ID', `${t0 + i}-x`), int(i + 1));
  t.deepEqual(await run(t0 + 10, 'GET', 'b', 's'), int(5));
});

test('tokens: a far-future timed token is refused (nothing taken) and cannot move the fence', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store, { tokensMax: 1 });
  const t0 = 1_700_000_000_000;
  const evil = await run(t0, 'INC', 'b', 's', 'ID', '9999999999999-evil');
  t.is(evil.type === 'error' ? evil.code : evil.type, 'TOKEN_AHEAD');
  t.deepEqual(await run(t0, 'INC', 'b', 's', 'ID', `${t0}-a`), int(1));
  t.deepEqual(await run(t0 + 1, 'INC', 'b', 's', 'ID', `${t0 + 1}-b`), int(2)); // evicts the first
});

test('tokens: expiry uses only command time, so replicas applying the same log agree', (t) => {
  const t0 = 1_700_000_000_000;
  const log = [] as Uint8Array[];
  for (let i = 0; i < 40; i++) {
    const token = i % 3 === 0 ? `opaque${i % 7}` : `${t0 + (i % 10) * 100}-k`;
    log.push(encodeCommand(cmd('INC', 'b', `s${i % 2}`, 'ID', token), t0 + i * 137 - (i % 4) * 300));
  }
  const replay = () => {
    const kv = new MemoryKv();
    const machine = new StateMachine({ tokenRetentionMs: 1500, tokensMax: 5 });
    const results = log.map((bytes) => {
      const { command, timeMs } = decodeCommand(bytes);
      return machine.apply(kv, command, timeMs);
    });
    return { results, state: [...kv.entries()].map((e) => [e.key.toString('hex'), e.value.toString('hex')]) };
  };
  const a = replay();
  t.deepEqual(replay(), a);
  t.true(a.results.some((r) => r.type === 'error' && r.code === 'TOKEN_EXPIRED'));
});

test('applied index is written in the same transaction as the data', async (t) => {
  const { store, path } = await openStore(t);
  const machine = new StateMachine();
  t.is(store.appliedIndex(), 0);
  await store.write((txn) => {
    machine.apply(txn, cmd('INC', 'b', 's'), 1);
    setAppliedIndex(txn, 7);
  });
  t.is(store.appliedIndex(), 7);
  await t.throwsAsync(store.write((txn) => setAppliedIndex(txn, 3)));
  await store.close();
  const reopened = LmdbStore.open({ path });
  t.teardown(() => reopened.close());
  t.is(reopened.read(getAppliedIndex), 7);
});

test('snapshot: export from one read transaction, import replaces the whole state', async (t) => {
  const { store: source } = await openStore(t);
  const run = runner(source);
  for (let i = 0; i < 300; i++) await run(1000 + i, 'INC', `bucket${i % 7}`, `seq${i % 13}`, 'ID', `tok${i}`);
  await source.write((txn) => setAppliedIndex(txn, 300));
  const chunks = [...source.exportSnapshot(1024)];
  t.true(chunks.length > 3);
  const { store: target } = await openStore(t);
  await runner(target)(1, 'INC', 'stale', 'stale');
  // Re-split the stream at odd places to prove chunk boundaries do not matter.
  const whole = Buffer.concat(chunks);
  const pieces = [whole.subarray(0, 5), whole.subarray(5, 777), whole.subarray(777)];
  await target.importSnapshot(pieces);
  t.deepEqual(target.summary(), source.summary());
  t.deepEqual(Buffer.concat([...target.exportSnapshot()]), whole);
  t.deepEqual(await runner(target)(5000, 'INC', 'bucket0', 'seq0', 'ID', 'tok0'), await run(5000, 'INC', 'bucket0', 'seq0', 'ID', 'tok0'));
  t.deepEqual(await runner(target)(5000, 'GET', 'stale', 'stale'), { type: 'nil' });
});

for (const sync of [true, false]) {
  test(`snapshot: import over a state larger than one removal batch; a damaged or unreadable image rolls back and keeps the old state (sync: ${sync})`, async (t) => {
    const { store: source } = await openStore(t);
    const run = runner(source);
    for (let i = 0; i < 50; i++) await run(1, 'SET', 'b', `s${i}`, String(i));
    const image = Buffer.concat([...source.exportSnapshot(256)]);
    const target = LmdbStore.open({ path: await tempDir(t), sync });
    t.teardown(() => target.close());
    // 25,000 sequences: more than the 10,000 keys removed per batch, so every batch must run.
    await target.write((txn) => {
      for (let i = 0; i < 25_000; i++) txn.put(Buffer.from(`stale-key-${i}`), Buffer.from('v'));
    });
    await runner(target)(1, 'INC', 'old', 'seq');
    const before = Buffer.concat([...target.exportSnapshot()]);
    // Cut inside the last record: decoding fails only after most of the image was written.
    await t.throwsAsync(target.importSnapshot([image.subarray(0, 300), image.subarray(300, image.length - 3)]));
    t.deepEqual(Buffer.concat([...target.exportSnapshot()]), before, 'a damaged image left the state as it was');
    // A source that fails halfway (a chunk that cannot be read), after the image's meta keys.
    const failing = (function* () {
      yield image.subarray(0, 400);
      throw new Error('chunk missing');
    })();
    await t.throwsAsync(target.importSnapshot(failing));
    t.deepEqual(Buffer.concat([...target.exportSnapshot()]), before, 'an unreadable image left the state as it was');
    await target.importSnapshot([image]);
    t.deepEqual(Buffer.concat([...target.exportSnapshot()]), image);
    t.deepEqual(await runner(target)(2, 'GET', 'old', 'seq'), { type: 'nil' });
  });
}

test('snapshot: writes made while an export is being read do not leak into it', async (t) => {
  const { store } = await openStore(t);
  const run = runner(store);
  for (let i = 0; i < 200; i++) await run(1, 'SET', `b${i}`, 's', String(i));
  const expected = Buffer.concat([...store.exportSnapshot(512)]);
  const chunks = store.exportSnapshot(512);
  const first = chunks.next();
  t.false(first.done);
  for (let i = 0; i < 200; i++) await run(2, 'SET', `b${i}`, 's', '999');
  await run(2, 'INC', 'zzz', 'new');
  t.deepEqual(store.read((kv) => new StateMachine().apply(kv as never, cmd('GET', 'b0', 's'), 2)), int(999));
  const rest = [...chunks];
  t.deepEqual(Buffer.concat([first.value as Buffer, ...rest]), expected);
});

test('tokens: the embedded time of a timed token (1-15 digits, then a dash)', (t) => {
  const time = (s: string) => tokenTimeMs(Buffer.from(s, 'latin1'));
  t.is(time('1700000000000-abc'), 1_700_000_000_000);
  t.is(time('0-x'), 0);
  t.is(time('123456789012345-x'), 123_456_789_012_345);
  t.is(time('1234567890123456-x'), undefined); // 16 digits
  t.is(time('-x'), undefined);
  t.is(time('123'), undefined);
  t.is(time('12a-x'), undefined);
  t.is(time(' 12-x'), undefined);
  t.is(time(''), undefined);
});

test('an LMDB transaction (read cache, deferred meta, uncached tokens and sequences) applies batches exactly like a plain store, INCS included (seeded)', async (t) => {
  const seed = Number(process.env.APPLY_SEED ?? 1 + Math.floor(Math.random() * 1e6));
  t.log(`seed ${seed} (APPLY_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const options: StateMachineOptions = { tokenRetentionMs: 2000, tokensMax: 40, evictionsPerCommandMax: 3 };
  const t0 = 1_700_000_000_000;
  const batches: DecodedCommand[][] = [];
  let nowMs = t0;
  // INCS sent so far: retries (the same or other sequences) and part retries reuse them, as a
  // router does after a lost reply; a part named with another sequence is a TOKEN_MISMATCH.
  const sent: { multi: string; seqs: string[] }[] = [];
  const earlier = () => sent[sent.length - 1 - rng.int(Math.min(sent.length, 8))];
  for (let b = 0; b < 120; b++) {
    const batch: DecodedCommand[] = [];
    for (let i = 1 + rng.int(12); i > 0; i--) {
      nowMs += rng.int(4) === 0 ? rng.int(900) - 200 : 0; // the proposer's clock may step back
      const sequence = `s${rng.int(4)}`;
      const token = [undefined, `${nowMs - rng.int(3000)}-r${rng.int(60)}`, `opaque${rng.int(20)}`][rng.int(3)];
      // INCS of 2-5 sequences, repeats included.
      const k = 2 + rng.int(4);
      const fresh = { multi: multiToken(`${nowMs - rng.int(3000)}-${String(rng.int(8)).padStart(16, 'm')}`, k), seqs: Array.from({ length: k }, () => `s${rng.int(4)}`) };
      const incs = sent.length > 0 && rng.int(3) === 0 ? earlier()! : fresh;
      const part = sent.length > 0 ? earlier()! : fresh;
      const p = rng.int(part.seqs.length);
      const args = rng.int(10) === 0 ? ['SET', 'b', sequence, String(rng.int(50))]
        : rng.int(10) === 0 ? ['GET', 'b', sequence]
        : rng.int(6) === 0 ? ['INCS', 'b', incs.multi, ...incs.seqs]
        : rng.int(12) === 0 ? ['INC', 'b', rng.int(2) === 0 ? part.seqs[p]! : sequence, 'ID', part.multi, 'PART', `${p}/${part.seqs.length}`]
        : ['INC', 'b', sequence, 'COUNT', String(1 + rng.int(2)), ...(token === undefined ? [] : ['ID', token])];
      if (args[0] === 'INCS' && incs === fresh) sent.push(fresh);
      batch.push({ command: cmd(...args), timeMs: nowMs });
    }
    batches.push(batch);
  }
  const plain = new MemoryKv();
  const reference = new StateMachine(options);
  const expected = batches.map((batch) => batch.map(({ command, timeMs }) => reference.apply(plain, command, timeMs)));
  const { store } = await openStore(t);
  const machine = new StateMachine(options);
  const actual = batches.map((batch) => store.writeNow((txn) => batch.map(({ command, timeMs }) => machine.apply(txn, command, timeMs))));
  t.deepEqual(actual, expected, `seed ${seed}`);
  t.true(expected.flat().some((r) => r.type === 'error' && r.code === 'TOKEN_EXPIRED'), 'the run reaches token expiry');
  t.true(expected.flat().some((r) => r.type === 'array'), 'the run applies INCS');
  t.true(expected.flat().some((r) => r.type === 'error' && r.code === 'TOKEN_MISMATCH'), 'the run reaches a part named with another sequence');
  const show = (e: KvEntry) => `${e.key.toString('hex')}=${e.value.toString('hex')}`;
  const stored = [...decodeSnapshot(store.exportSnapshot())].map(show);
  t.deepEqual(stored, [...plain.entries()].map(show), `seed ${seed}`);
});
