/**
 * Property tests (fast-check, seeded: FC_SEED replays) of what a process without the cluster
 * secret or password can send us: the peer frame decoder fed well-framed random bodies, several
 * mutations at once, spliced frames and huge declared sizes; the peer hello sniffer; and the
 * AUTH gate. No crash (only PROTOCOL errors, or CORRUPT for a frame flagged checksummed), no
 * hang (a time bound per input), bounded memory.
 */
import test from 'ava';
import fc from 'fast-check';
import { encodeControl, encodeMessage, FrameKind, PeerDecoder } from '../../node/replication/peer-codec.ts';
import { sniff, HELLO_BYTES_MAX } from '../../node/replication/peer-hello.ts';
import type { Message, MessageType } from '../../node/raft/types.ts';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { ServerGate } from '../../shared/security/server-gate.ts';

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
// Up front, not only in a test's log: a CI run timed out in this file (ava's 120 s without a
// result) and its seed, logged at the end of the test, was lost with it.
process.stderr.write(`test/security/fuzz.test.ts: fast-check seed ${seed} (replay with FC_SEED=${seed})\n`);
const MAX_FRAME = 2048;
const MAX_SNAPSHOT = 8192;
/**
 * Per-input CPU budget: a decoder that loops or goes quadratic fails it. CPU time, not wall time:
 * on a busy box the process may wait for a core longer than this (a CI run failed that way).
 */
const INPUT_MS_MAX = 250;
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const TYPES: MessageType[] = ['app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp', 'snap', 'timeoutNow'];
const arbId = fc.string({ minLength: 1, maxLength: 12 });
const arbMessage: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...TYPES),
  from: arbId,
  to: arbId,
  term: fc.nat(),
  index: fc.nat(),
  logTerm: fc.nat(),
  commit: fc.nat(),
  entries: fc.array(fc.record({ index: fc.nat(), term: fc.nat(), type: fc.constantFrom(0, 1), data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 4 }),
  reject: fc.boolean(),
  rejectHint: fc.nat(),
}).map((m) => (m.type === 'snap'
  ? { ...m, snapshot: { meta: { index: m.index, term: m.term, conf: { voters: [m.from], learners: [] } }, data: new Uint8Array(m.index % 3000) } }
  : m) as Message);

/** A frame with a correct length header and any kind and body. */
const arbFrame = fc.tuple(fc.constantFrom(FrameKind.MESSAGE, FrameKind.SNAP_CHUNK, FrameKind.CONTROL, 0, 4, 255), fc.uint8Array({ maxLength: 300 }))
  .map(([kind, body]) => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length + 1, 0);
    head[4] = kind;
    return Buffer.concat([head, body]);
  });

const arbValid = fc.array(fc.oneof(
  arbMessage.map((m) => Buffer.concat(encodeMessage(m, { maxFrameBytes: MAX_FRAME }))),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }).map((c) => encodeControl(c)),
), { minLength: 1, maxLength: 4 }).map((parts) => Buffer.concat(parts));

/** Several point mutations, a truncation and a splice of another stream. */
const arbMutated = fc.tuple(
  arbValid,
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  fc.nat(),
  fc.oneof(arbValid, arbFrame),
).map(([bytes, flips, cut, other]) => {
  const b = Buffer.from(bytes);
  for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
  const kept = b.subarray(0, b.length === 0 ? 0 : (cut % (b.length + 1)));
  return Buffer.concat([kept, other]);
});

/** A snapshot message that declares an enormous image: must be refused from the header. */
const arbHugeSnapshot = fc.integer({ min: MAX_SNAPSHOT + 1, max: 2 ** 40 }).map((size) => {
  const m: Message = {
    type: 'snap', from: 'a', to: 'b', term: 1, index: 1, logTerm: 1, commit: 0, entries: [], reject: false, rejectHint: 0,
    snapshot: { meta: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(1) },
  };
  const frame = encodeMessage(m, { maxFrameBytes: MAX_FRAME })[0]!;
  // The declared size is the body's last u64 (see peer-codec.ts encodeMessage): patch it.
  const patched = Buffer.from(frame);
  patched.writeBigUInt64BE(BigInt(size), patched.length - 8);
  return patched;
});

/**
 * Whether the decoder handled `bytes` fed `chunk` bytes at a time correctly and within the CPU
 * budget. Over budget is measured again, up to `SLOW_TRIES_MAX` times in all: a collection or a
 * compilation on V8's own threads counts in the process's CPU time, and on a VM whose host
 * deschedules it the guest charges the stolen time to whatever ran (a CI run failed with the same
 * input over budget twice; it decodes in under 5 ms and its seed replayed clean). A decoder that
 * is really slow on an input is slow every time; the failure names the times measured.
 */
const SLOW_TRIES_MAX = 5;
function decodeSafely(bytes: Buffer, chunk: number): boolean {
  const timesMs: number[] = [];
  for (let i = 0; i < SLOW_TRIES_MAX; i++) {
    const result = decodeOnce(bytes, chunk);
    if (typeof result === 'boolean') return result;
    timesMs.push(result.slowMs);
  }
  throw new Error(`over the ${INPUT_MS_MAX} ms CPU budget ${SLOW_TRIES_MAX} times: ${timesMs.map((ms) => ms.toFixed(0)).join(', ')} ms`);
}

function decodeOnce(bytes: Buffer, chunk: number): boolean | { slowMs: number } {
  const d = new PeerDecoder({ maxFrameBytes: MAX_FRAME, maxSnapshotBytes: MAX_SNAPSHOT });
  const started = cpuMs();
  try {
    for (let i = 0; i < bytes.length; i += chunk) {
      d.push(bytes.subarray(i, i + chunk));
      // A frame's length, kind and two checksums around at most MAX_FRAME bytes of body, plus one read.
      if (d.bufferedBytes() > MAX_FRAME + 13 + chunk) return false;
    }
  } catch (err) {
    // CORRUPT: a kind byte with the checksum flag over bytes that do not match it.
    if (!(err instanceof SeqError) || (err.code !== ErrorCode.PROTOCOL && err.code !== ErrorCode.CORRUPT)) return false;
    // Once dead, it stays dead: later bytes are never interpreted as frames.
    try {
      d.push(Buffer.from([0, 0, 0, 2, 3, 0]));
      return false;
    } catch (again) {
      if (again !== err) return false;
    }
  }
  const usedMs = cpuMs() - started;
  return usedMs < INPUT_MS_MAX ? true : { slowMs: usedMs };
}

test('peer decoder: well-framed random bodies, multi-point mutations and splices never crash or hang', (t) => {
  t.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  fc.assert(
    fc.property(fc.oneof(fc.array(arbFrame, { minLength: 1, maxLength: 6 }).map((f) => Buffer.concat(f)), arbMutated), fc.integer({ min: 1, max: 97 }),
      (bytes, chunk) => decodeSafely(bytes, chunk)),
    // No shrinking: a failure of the CPU budget re-ran the decoder thousands of times while
    // shrinking (the likely cause of that timeout); the first counterexample is reported as is.
    { seed, numRuns: 1500, endOnFailure: true },
  );
  t.pass();
});

test('peer decoder: a declared snapshot beyond the limit is refused before anything is allocated', (t) => {
  fc.assert(
    fc.property(arbHugeSnapshot, (frame) => {
      const d = new PeerDecoder({ maxFrameBytes: MAX_FRAME, maxSnapshotBytes: MAX_SNAPSHOT });
      try {
        d.push(frame);
        return false;
      } catch (err) {
        return err instanceof SeqError && err.code === ErrorCode.PROTOCOL;
      }
    }),
    { seed, numRuns: 200 },
  );
  t.pass();
});

test('peer decoder: a long stream of garbage costs bounded memory and time', (t) => {
  const d = new PeerDecoder({ maxFrameBytes: MAX_FRAME, maxSnapshotBytes: MAX_SNAPSHOT });
  // Valid small control frames forever: decoded one by one, nothing accumulates.
  const frame = encodeControl({ op: 'probe' });
  const started = performance.now();
  const block = Buffer.concat(Array.from({ length: 1000 }, () => frame));
  let frames = 0;
  for (let i = 0; i < 200; i++) {
    frames += d.push(block).length;
    t.true(d.bufferedBytes() <= MAX_FRAME);
  }
  t.is(frames, 200_000);
  t.true(performance.now() - started < 10_000);
});

test('peer hello sniffer: arbitrary and near-miss first bytes never throw and stay bounded', (t) => {
  const nearMiss = fc.tuple(fc.array(fc.string({ maxLength: 20 }), { maxLength: 7 }), fc.boolean())
    .map(([parts, nl]) => Buffer.from(`SEQDB-PEER ${parts.join(' ')}${nl ? '\n' : ''}`, 'utf8'));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 1200 }).map((a) => Buffer.from(a)), nearMiss), (head) => {
      const s = sniff(head);
      if (s.kind === 'more') return head.length <= HELLO_BYTES_MAX;
      if (s.kind === 'peer') return [s.hello.cluster, s.hello.shard, s.hello.nodeId, s.hello.addr].every((f) => /^[\x21-\x7e]{1,128}$/.test(f));
      return s.kind === 'client' || s.kind === 'bad';
    }),
    { seed, numRuns: 2000 },
  );
  t.pass();
});

test('AUTH gate: no argument list other than the password authenticates; nothing throws', (t) => {
  const password = 'the-password';
  fc.assert(
    fc.property(fc.array(fc.array(fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 4 }), { maxLength: 8 }), (requests) => {
      const gate = new ServerGate({ password, clusterSecret: 'a-cluster-secret', log: () => {} });
      const client = { id: 1 };
      for (const args of requests) {
        const name = args[0]!.toString('latin1').toLowerCase();
        const isPassword = (name === 'auth' && args.length === 2 && args[1]!.toString('utf8') === password) ||
          (name === 'auth' && args.length === 3 && args[1]!.toString('latin1') === 'default' && args[2]!.toString('utf8') === password);
        const reply = gate.intercept(name, [Buffer.from(name), ...args.slice(1)], client);
        if (isPassword) return true; // a random list that happens to be right: fine, stop here
        // Before AUTH succeeds, only non-gated commands pass through (to be answered by the table).
        if (reply === undefined && !['hello', 'quit'].includes(name)) return false;
        if (gate.isInternal(client)) return false;
      }
      const after = gate.intercept('inc', [Buffer.from('inc'), Buffer.from('b'), Buffer.from('s')], client);
      return typeof after === 'string' && after.startsWith('-NOAUTH');
    }),
    { seed, numRuns: 1000 },
  );
  t.pass();
});
