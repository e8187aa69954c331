import test from 'ava';
import fc from 'fast-check';
import { encodeControl, encodeMessage, PeerDecoder, snapshotImageFrames, type PeerFrame } from '../../node/replication/peer-codec.ts';
import { isChunked, type ChunkedSnapshot } from '../../node/replication/snapshot-images.ts';
import { releaseSnapshot, spoolSinks } from '../../node/replication/snapshot-spool.ts';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeqError, ErrorCode } from '../../shared/errors.ts';
import type { Entry, Message, MessageType } from '../../node/raft/types.ts';

const SEED = Number(process.env.SEQDB_SEED ?? Date.now() % 2 ** 31);

function msg(over: Partial<Message> = {}): Message {
  return {
    type: 'app', from: 'aaaa', to: 'bbbb', term: 7, index: 41, logTerm: 6, commit: 40,
    entries: [], reject: false, rejectHint: 0, ...over,
  };
}

function norm(m: Message): unknown {
  return {
    ...m,
    entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })),
    snapshot: m.snapshot ? { meta: m.snapshot.meta, data: Buffer.from(m.snapshot.data).toString('hex') } : undefined,
  };
}

function feedWhole(frames: Buffer[], opts = {}): PeerFrame[] {
  return new PeerDecoder(opts).push(Buffer.concat(frames));
}

function feedBytes(frames: Buffer[], opts = {}): PeerFrame[] {
  const d = new PeerDecoder(opts);
  const out: PeerFrame[] = [];
  const all = Buffer.concat(frames);
  for (let i = 0; i < all.length; i++) out.push(...d.push(all.subarray(i, i + 1)));
  return out;
}

const entries: Entry[] = [
  { index: 42, term: 7, type: 0, data: Buffer.from('hello') },
  { index: 43, term: 7, type: 1, data: new Uint8Array(0) },
  { index: 2 ** 53 - 1, term: 2 ** 40, type: 0, data: Buffer.alloc(300, 7) },
];

const samples: Message[] = [
  msg(),
  msg({ entries }),
  msg({ type: 'appResp', reject: true, rejectHint: 12, logTerm: 3 }),
  msg({ type: 'heartbeat', context: 'read-17' }),
  msg({ type: 'heartbeatResp', context: '' }),
  msg({ stamp: 123_456 }),
  msg({ type: 'heartbeat', context: 'r17', stamp: 0 }),
  msg({ type: 'heartbeatResp', context: '', stamp: Number.MAX_SAFE_INTEGER }),
  msg({ type: 'vote', from: 'ünïcode-id' }),
  msg({ type: 'timeoutNow' }),
  msg({
    type: 'snap',
    snapshot: { meta: { index: 100, term: 5, conf: { voters: ['a', 'b'], learners: ['c'] } }, data: Buffer.alloc(1000, 3) },
  }),
  msg({ type: 'snap', snapshot: { meta: { index: 1, term: 1, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) } }),
];

for (const [name, feed] of [['whole', feedWhole], ['byte by byte', feedBytes]] as const) {
  test(`messages round-trip (${name})`, (t) => {
    const frames = samples.flatMap((m) => encodeMessage(m, { maxFrameBytes: 600 }));
    const got = feed(frames, { maxFrameBytes: 600 });
    t.deepEqual(got.map((f) => (f.kind === 'message' ? norm(f.message) : f)), samples.map(norm));
  });

  test(`control frames round-trip (${name})`, (t) => {
    const frames = [encodeControl({ op: 'join', nodeId: 'x', addr: '127.0.0.1:9' }), encodeControl({ ok: true })];
    t.deepEqual(feed(frames), [
      { kind: 'control', control: { op: 'join', nodeId: 'x', addr: '127.0.0.1:9' } },
      { kind: 'control', control: { ok: true } },
    ]);
  });
}

test('a large snapshot is split into bounded chunks and reassembled', (t) => {
  const data = Buffer.alloc(10_000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const m = msg({ type: 'snap', snapshot: { meta: { index: 9, term: 2, conf: { voters: ['a'], learners: [] } }, data } });
  const frames = encodeMessage(m, { maxFrameBytes: 1024 });
  t.true(frames.length > 10);
  for (const f of frames) t.true(f.length <= 1024 + 5);
  const got = feedWhole(frames, { maxFrameBytes: 1024 });
  t.is(got.length, 1);
  t.deepEqual(norm((got[0] as { message: Message }).message), norm(m));
});

test('a chunked snapshot: the message frame announces its size, image frames are made as they are pulled', (t) => {
  const parts = [Buffer.alloc(3000, 1), Buffer.alloc(0), Buffer.alloc(2500, 2), Buffer.alloc(10, 3)];
  let pulled = 0;
  const snapshot: ChunkedSnapshot = {
    meta: { index: 9, term: 2, conf: { voters: ['a'], learners: [] } },
    bytes: 5510,
    *chunks() {
      for (const p of parts) {
        pulled++;
        yield p;
      }
    },
    get data(): Uint8Array {
      throw new Error('the sender must not read the image whole');
    },
  };
  const m = msg({ type: 'snap', snapshot });
  const head = encodeMessage(m, { maxFrameBytes: 1024 });
  t.is(head.length, 1);
  const image = snapshotImageFrames(snapshot, { maxFrameBytes: 1024 });
  t.is(pulled, 0, 'nothing read before the first frame is taken');
  const frames = [...head, ...image];
  for (const f of frames) t.true(f.length <= 1024 + 5);
  t.is(pulled, 4);
  // Fed in uneven pieces, as a socket would: one message with the whole image.
  const all = Buffer.concat(frames);
  const d = new PeerDecoder({ maxFrameBytes: 1024 });
  const got: PeerFrame[] = [];
  for (let at = 0; at < all.length; at += 700) got.push(...d.push(all.subarray(at, at + 700)));
  t.is(got.length, 1);
  const message = (got[0] as { message: Message }).message;
  t.deepEqual(message.snapshot!.meta, snapshot.meta);
  t.true(Buffer.from(message.snapshot!.data).equals(Buffer.concat(parts)));
  t.is(d.bufferedBytes(), 0);
});

test('oversized frames are rejected from the header alone', (t) => {
  const d = new PeerDecoder({ maxFrameBytes: 100 });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1000);
  const err = t.throws(() => d.push(header));
  t.is((err as SeqError).code, ErrorCode.PROTOCOL);
  t.is(d.bufferedBytes(), 0);
  // A dead decoder keeps refusing.
  t.is((t.throws(() => d.push(Buffer.alloc(1))) as SeqError).code, ErrorCode.PROTOCOL);
});

test('encoding a message larger than the frame limit fails loudly', (t) => {
  const big = msg({ entries: [{ index: 1, term: 1, type: 0, data: Buffer.alloc(2000) }] });
  t.is((t.throws(() => encodeMessage(big, { maxFrameBytes: 1000 })) as SeqError).code, ErrorCode.INTERNAL);
});

test('specific malformed frames give PROTOCOL errors', (t) => {
  const cases: Buffer[] = [
    Buffer.from([0, 0, 0, 1, 9]), // unknown kind
    Buffer.from([0, 0, 0, 0]), // zero length
    Buffer.from([0, 0, 0, 2, 1, 99]), // unknown message type
    Buffer.from([0, 0, 0, 3, 2, 1, 2]), // chunk without snapshot
    Buffer.concat([encodeMessage(msg())[0]!.subarray(0, 4), Buffer.from([1]), Buffer.alloc(200, 0xff)]).subarray(0, 40),
  ];
  const trailing = Buffer.concat([encodeMessage(msg())[0]!, Buffer.from([0])]);
  trailing.writeUInt32BE(trailing.length - 4, 0);
  cases.push(trailing);
  const ctl = encodeControl({ a: 1 });
  ctl[ctl.length - 1] = 0x7b; // '{' : broken JSON
  cases.push(ctl);
  for (const c of cases) {
    const d = new PeerDecoder();
    const err = t.throws(() => d.push(c).length === 0 && d.push(Buffer.alloc(64)));
    t.is((err as SeqError).code, ErrorCode.PROTOCOL, `case ${c.toString('hex')}`);
  }
});

// leader-clock.ts: the stamp rides in the context field, so an older build decodes the frame
// (no byte beyond the fields it knows) and echoes a heartbeat's context, stamp included, whole.
test('a stamp travels inside the context field: the frame is what an older build sends with that context', (t) => {
  const stamped = encodeMessage(msg({ type: 'heartbeat', context: 'r1', stamp: 5 }))[0]!;
  const asOld = encodeMessage(msg({ type: 'heartbeat', context: 'xxxxx' }))[0]!;
  t.is(stamped.length, asOld.length);
  t.true(stamped.includes(Buffer.from('\x015\x01r1')));
  // An older leader's plain context decodes without a stamp.
  const [plain] = feedWhole(encodeMessage(msg({ type: 'heartbeatResp', context: 'r9' })));
  t.deepEqual(plain?.kind === 'message' ? [plain.message.context, plain.message.stamp] : [], ['r9', undefined]);
});

test('a bad stamp is a PROTOCOL error; a context that would read as a stamp is refused when sent', (t) => {
  const frame = encodeMessage(msg({ type: 'heartbeat', context: 'r1', stamp: 12 }))[0]!;
  const at = frame.indexOf(Buffer.from('\x0112'));
  const withContext = (field: string): Buffer => {
    const rebuilt = Buffer.concat([frame.subarray(0, at - 4), u32(field.length), Buffer.from(field), frame.subarray(at + 6)]);
    rebuilt.writeUInt32BE(rebuilt.length - 4, 0);
    return rebuilt;
  };
  const [good] = feedWhole([withContext('\x0177\x01r2')]);
  t.deepEqual(good?.kind === 'message' ? [good.message.stamp, good.message.context] : [], [77, 'r2']);
  for (const bad of ['\x01x', '\x01', '\x01-', '\x0199999999999999999']) {
    const err = t.throws(() => feedWhole([withContext(bad)]), { instanceOf: SeqError });
    t.is(err?.code, ErrorCode.PROTOCOL, JSON.stringify(bad));
  }
  const err = t.throws(() => encodeMessage(msg({ type: 'heartbeat', context: '\x017' })), { instanceOf: SeqError });
  t.is(err?.code, ErrorCode.INTERNAL);
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

const messageTypes: MessageType[] = ['app', 'appResp', 'heartbeat', 'heartbeatResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'timeoutNow'];
const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const arbEntry = fc.record({ index: u53, term: u53, type: fc.constantFrom(0 as const, 1 as const), data: fc.uint8Array({ maxLength: 64 }) });
const arbMessage: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...messageTypes), from: fc.string({ unit: 'binary', maxLength: 20 }), to: fc.string({ maxLength: 20 }),
    term: u53, index: u53, logTerm: u53, commit: u53, entries: fc.array(arbEntry, { maxLength: 5 }),
    reject: fc.boolean(), rejectHint: u53, context: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    stamp: fc.option(u53, { nil: undefined }),
    snap: fc.option(fc.record({
      meta: fc.record({ index: u53, term: u53, conf: fc.record({ voters: fc.array(fc.string(), { maxLength: 4 }), learners: fc.array(fc.string(), { maxLength: 4 }) }) }),
      data: fc.uint8Array({ maxLength: 600 }),
    }), { nil: undefined }),
  })
  .map(({ snap, context, stamp, ...rest }) => {
    const stamped: Message = stamp === undefined ? rest : { ...rest, stamp };
    const base: Message = context === undefined ? stamped : { ...stamped, context };
    return snap ? { ...base, snapshot: snap } : base;
  });

test('an image chunk streamed in pieces that runs past the declared size is a PROTOCOL error', (t) => {
  const m = msg({ type: 'snap', snapshot: { meta: { index: 9, term: 2, conf: { voters: ['a'], learners: [] } }, data: Buffer.alloc(10, 1) } });
  const [head] = encodeMessage(m, { maxFrameBytes: 1024 });
  const long = Buffer.concat([Buffer.from([0, 0, 0, 21, 2]), Buffer.alloc(20, 7)]); // a SNAP_CHUNK of 20 bytes
  const all = Buffer.concat([head!, long]);
  const d = new PeerDecoder({ maxFrameBytes: 1024 });
  let err: unknown = null;
  for (let at = 0; at < all.length && err === null; at += 3) {
    try {
      d.push(all.subarray(at, at + 3));
    } catch (e) {
      err = e;
    }
  }
  t.is((err as SeqError | null)?.code, ErrorCode.PROTOCOL);
});

test('fuzz: arbitrary messages round-trip under arbitrary splits', (t) => {
  fc.assert(
    fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (ms, cuts) => {
      const all = Buffer.concat(ms.flatMap((m) => encodeMessage(m, { maxFrameBytes: 4096 })));
      const d = new PeerDecoder({ maxFrameBytes: 4096 });
      const got: PeerFrame[] = [];
      let pos = 0;
      for (let i = 0; pos < all.length; i++) {
        const n = cuts[i % cuts.length]!;
        got.push(...d.push(all.subarray(pos, pos + n)));
        pos += n;
      }
      return JSON.stringify(got.map((f) => (f.kind === 'message' ? norm(f.message) : f))) === JSON.stringify(ms.map(norm));
    }),
    { seed: SEED, numRuns: 200 },
  );
  t.pass(`seed ${SEED}`);
});

test('fuzz: garbage and mutated frames never throw anything but PROTOCOL (or CORRUPT: a kind byte turned checksummed), memory stays bounded', (t) => {
  const maxFrameBytes = 1024;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 3000 }),
        fc.tuple(arbMessage, fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 255 })).map(([m, at, v]) => {
          const b = Buffer.concat(encodeMessage(m, { maxFrameBytes }));
          if (b.length > 0) b[at % b.length] = v;
          return new Uint8Array(b);
        }),
      ),
      (bytes) => {
        const d = new PeerDecoder({ maxFrameBytes, maxSnapshotBytes: 4096 });
        try {
          for (let i = 0; i < bytes.length; i += 7) {
            d.push(bytes.subarray(i, i + 7));
            if (d.bufferedBytes() > maxFrameBytes + 16) return false;
          }
        } catch (err) {
          return err instanceof SeqError && (err.code === ErrorCode.PROTOCOL || err.code === ErrorCode.CORRUPT);
        }
        return true;
      },
    ),
    { seed: SEED, numRuns: 500 },
  );
  t.pass(`seed ${SEED}`);
});

test('with a snapshot sink, a received image goes to a spool file, read back in chunks; nothing stays on disk or open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'seqdb-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'incoming-snapshot-1-0'), 'left by a crash');
  // This test's own spool files, by where their descriptors point: counting every fd of the
  // process also counted what other code closed meanwhile (a flaky CI run).
  const openFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed while listed
    }
  }).length;
  const before = openFds();
  const data = Buffer.alloc(2_500_000);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
  const m = msg({ type: 'snap', snapshot: { meta: { index: 9, term: 2, conf: { voters: ['a'], learners: [] } }, data } });
  const all = Buffer.concat(encodeMessage(m, { maxFrameBytes: 100_000 }));
  const d = new PeerDecoder({ maxFrameBytes: 100_000, snapshotSink: spoolSinks(dir) });
  t.deepEqual(readdirSync(dir), [], 'leftover spool files are removed');
  const got: PeerFrame[] = [];
  for (let at = 0; at < all.length; at += 65_536) got.push(...d.push(all.subarray(at, at + 65_536)));
  t.is(got.length, 1);
  const snap = (got[0] as { message: Message }).message.snapshot!;
  t.true(isChunked(snap));
  if (!isChunked(snap)) return;
  t.is(snap.bytes, data.length);
  t.deepEqual(readdirSync(dir), [], 'the spool file is unlinked while open');
  t.true(Buffer.concat([...snap.chunks()]).equals(data));
  t.true(Buffer.concat([...snap.chunks()]).equals(data), 'read twice, same bytes');
  const reused = [...(function* () { for (const c of snap.chunks({ reuse: true })) yield { copy: Buffer.from(c), buffer: c.buffer }; })()];
  t.true(Buffer.concat(reused.map((r) => r.copy)).equals(data), 'read into one reused buffer, same bytes');
  t.is(new Set(reused.map((r) => r.buffer)).size, 1);
  t.is(openFds(), before + 1);
  const reader = snap.chunks();
  releaseSnapshot(snap);
  t.is(openFds(), before);
  t.throws(() => reader.next(), { message: /released/ }, 'a released spool is never read (its fd number may be reused)');

  // A bad frame right after a finished image in one read: the image is let go of with it.
  const garbage = Buffer.from([0, 0, 0, 2, 99, 0]);
  const dying = new PeerDecoder({ maxFrameBytes: 100_000, snapshotSink: spoolSinks(dir) });
  t.is((t.throws(() => dying.push(Buffer.concat([all, garbage]))) as SeqError).code, ErrorCode.PROTOCOL);
  t.is(openFds(), before);

  // Cut off mid-image: the connection's close lets the spool go.
  const cut = new PeerDecoder({ maxFrameBytes: 100_000, snapshotSink: spoolSinks(dir) });
  t.deepEqual(cut.push(all.subarray(0, 1_000_000)), []);
  t.is(openFds(), before + 1);
  cut.close();
  t.is(openFds(), before);
});

test('a spool file that reads back other bytes than arrived is refused (CORRUPT) before its last chunk', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'seqdb-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = Buffer.alloc(2_500_000);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
  const m = msg({ type: 'snap', snapshot: { meta: { index: 9, term: 2, conf: { voters: ['a'], learners: [] } }, data } });
  const d = new PeerDecoder({ maxFrameBytes: 100_000, snapshotSink: spoolSinks(dir) });
  const [got] = d.push(Buffer.concat(encodeMessage(m, { maxFrameBytes: 100_000 })));
  const snap = (got as { message: Message }).message.snapshot!;
  t.teardown(() => releaseSnapshot(snap));
  if (!isChunked(snap)) return t.fail('not spooled');
  t.true(Buffer.concat([...snap.chunks()]).equals(data), 'intact: read back whole');
  // The disk returns one other byte (the spool is unlinked: reached through its descriptor).
  const fd = readdirSync('/proc/self/fd').map(Number).find((n) => {
    try {
      return readlinkSync(`/proc/self/fd/${n}`).startsWith(dir);
    } catch {
      return false;
    }
  })!;
  writeSync(fd, Buffer.from([data[1_500_000]! ^ 0x20]), 0, 1, 1_500_000);
  const chunks: number[] = [];
  const err = t.throws(() => { for (const c of snap.chunks({ reuse: true })) chunks.push(c.length); }) as SeqError;
  t.is(err.code, ErrorCode.CORRUPT);
  t.is(chunks.length, Math.ceil(data.length / (1 << 20)) - 1, 'every chunk but the last');
});
