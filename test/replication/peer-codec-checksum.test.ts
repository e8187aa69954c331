// Checksummed peer frames (node/replication/peer-codec.ts, CHECKSUM_FLAG): a frame changed on the
// way, anywhere, is refused (CORRUPT, or PROTOCOL where the header itself no longer reads as a
// frame); no message that differs from the one sent is ever decoded, and an image whose chunk
// was changed is never finished. Plain frames (what older builds send and take) are unchanged.
import test from 'ava';
import { crc32 } from 'node:zlib';
import { encodeMessage, PeerDecoder, snapshotImageFrames, type PeerFrame, type SnapshotSink } from '../../node/replication/peer-codec.ts';
import type { ChunkedSnapshot } from '../../node/replication/snapshot-images.ts';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { Message, Snapshot, SnapshotMeta } from '../../node/raft/types.ts';

function msg(over: Partial<Message> = {}): Message {
  return { type: 'app', from: 'n1', to: 'n2', term: 7, index: 41, logTerm: 6, commit: 40, entries: [], reject: false, rejectHint: 0, ...over };
}

const stream: Message[] = [
  msg({ entries: [{ index: 42, term: 7, type: 0, data: Buffer.from('INC invoices 2026 ID 1700000000000-abc') }] }),
  msg({ type: 'heartbeat', context: 'r3', stamp: 99 }),
  msg({ entries: [{ index: 43, term: 7, type: 0, data: Buffer.from('SET b s 10') }, { index: 44, term: 7, type: 1, data: Buffer.from([1, 2, 3]) }] }),
];

function key(f: PeerFrame): string {
  return f.kind === 'message' ? JSON.stringify({ ...f.message, entries: f.message.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })) }) : JSON.stringify(f);
}

function decodeAll(bytes: Buffer, step = bytes.length): { frames: PeerFrame[]; err: SeqError | null } {
  const d = new PeerDecoder({ maxFrameBytes: 4096 });
  const frames: PeerFrame[] = [];
  try {
    for (let at = 0; at < bytes.length; at += step) frames.push(...d.push(bytes.subarray(at, at + step)));
  } catch (err) {
    if (!(err instanceof SeqError)) throw err;
    return { frames, err };
  }
  return { frames, err: null };
}

test('plain frames are what older builds send; checksummed ones carry the kind flag, a CRC-32 of the header and one of it all', (t) => {
  const m = stream[0]!;
  const [plain] = encodeMessage(m);
  const [summed] = encodeMessage(m, {}, true);
  t.is(plain![4], 1);
  t.is(plain!.readUInt32BE(0), plain!.length - 4);
  t.is(summed![4], 0x81);
  t.is(summed!.readUInt32BE(0), summed!.length - 4);
  t.is(summed!.length, plain!.length + 8);
  t.is(summed!.readUInt32BE(5), crc32(summed!.subarray(0, 5)), 'the header\'s own checksum');
  const end = summed!.length - 4;
  t.true(summed!.subarray(9, end).equals(plain!.subarray(5)), 'same body');
  t.is(summed!.readUInt32BE(end), crc32(summed!.subarray(0, end)));
});

for (const step of [Infinity, 1, 7]) {
  test(`checksummed and plain frames decode alike (fed ${step === Infinity ? 'whole' : `${step} byte(s) at a time`})`, (t) => {
    const plain = Buffer.concat(stream.flatMap((m) => encodeMessage(m)));
    const summed = Buffer.concat(stream.flatMap((m) => encodeMessage(m, {}, true)));
    const a = decodeAll(plain, Math.min(step, plain.length));
    const b = decodeAll(summed, Math.min(step, summed.length));
    t.is(a.err, null);
    t.is(b.err, null);
    t.deepEqual(b.frames.map(key), a.frames.map(key));
    t.is(b.frames.length, stream.length);
  });
}

test('every single-bit flip in a checksummed stream is refused; no changed message is ever decoded', (t) => {
  const frames = stream.flatMap((m) => encodeMessage(m, {}, true));
  const all = Buffer.concat(frames);
  const sent = decodeAll(all).frames.map(key);
  const codes = new Map<string, number>();
  for (let bit = 0; bit < all.length * 8; bit++) {
    const bytes = Buffer.from(all);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    for (const step of [bytes.length, 5]) {
      const { frames: got, err } = decodeAll(bytes, step);
      const keys = got.map(key);
      // Frames before the flipped one decode; the flipped one and what follows never do.
      t.deepEqual(keys, sent.slice(0, keys.length), `bit ${bit}`);
      if (keys.length === sent.length) t.fail(`bit ${bit}: the changed stream decoded whole`);
      const c = err === null ? 'waiting' : err.code;
      codes.set(c, (codes.get(c) ?? 0) + 1);
    }
  }
  // Every flip is refused at once, a flipped length too (the header's own checksum): trusted, a
  // longer length left the decoder waiting for bytes that were the next frames, the link up.
  t.log([...codes].map(([c, n]) => `${c} ${n}`).join(', '));
  t.true((codes.get(ErrorCode.CORRUPT) ?? 0) > all.length * 8, 'most flips are caught by the checksums');
  t.deepEqual([...codes.keys()].filter((c) => c !== ErrorCode.CORRUPT && c !== ErrorCode.PROTOCOL), [], 'no flip leaves the decoder waiting');
});

function recordingSink(log: string[]): (bytes: number) => SnapshotSink {
  return () => {
    const parts: Buffer[] = [];
    return {
      write: (chunk) => void parts.push(Buffer.from(chunk)),
      finish: (meta: SnapshotMeta): Snapshot => {
        log.push('finish');
        return { meta, data: Buffer.concat(parts) };
      },
      abort: () => void log.push('abort'),
    };
  };
}

test('an image chunk changed on the way, streamed into the spool in pieces, is never finished: the spool is aborted', (t) => {
  const image = Buffer.alloc(50_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31) % 256;
  const snapshot: ChunkedSnapshot = {
    meta: { index: 9, term: 2, conf: { voters: ['n1', 'n2'], learners: [] } },
    bytes: image.length,
    *chunks() { yield image.subarray(0, 30_000); yield image.subarray(30_000); },
    get data(): Uint8Array { throw new Error('not read whole'); },
  };
  const m = msg({ type: 'snap', snapshot });
  const frames = [...encodeMessage(m, { maxFrameBytes: 8192 }, true), ...snapshotImageFrames(snapshot, { maxFrameBytes: 8192 }, true)];
  const all = Buffer.concat(frames);
  const run = (bytes: Buffer): { log: string[]; got: PeerFrame[]; err: SeqError | null } => {
    const log: string[] = [];
    const d = new PeerDecoder({ maxFrameBytes: 8192, snapshotSink: recordingSink(log) });
    const got: PeerFrame[] = [];
    try {
      for (let at = 0; at < bytes.length; at += 1000) got.push(...d.push(bytes.subarray(at, at + 1000)));
    } catch (err) {
      return { log, got, err: err as SeqError };
    }
    return { log, got, err: null };
  };
  const clean = run(all);
  t.deepEqual(clean.log, ['finish']);
  t.true(Buffer.from((clean.got[0] as { message: Message }).message.snapshot!.data).equals(image));
  // A byte of the last chunk's body, one in the middle of a chunk, a checksum byte, a kind byte.
  const lastFrame = frames[frames.length - 1]!;
  for (const at of [all.length - 5, frames[0]!.length + 3000, all.length - 1, all.length - lastFrame.length + 4]) {
    const bytes = Buffer.from(all);
    bytes[at]! ^= 0x10;
    const r = run(bytes);
    t.is(r.err?.code, ErrorCode.CORRUPT, `byte ${at}`);
    t.deepEqual(r.log, ['abort'], `byte ${at}: the image is dropped, never finished`);
    t.deepEqual(r.got, []);
  }
});

test('a plain frame after a checksummed one on a connection is refused (a flipped flag must not turn the check off); the other way is an upgrade', (t) => {
  const summed = encodeMessage(stream[0]!, {}, true);
  const plain = encodeMessage(stream[1]!);
  t.is(decodeAll(Buffer.concat([...summed, ...plain])).err?.code, ErrorCode.PROTOCOL);
  const upgraded = decodeAll(Buffer.concat([...plain, ...summed]));
  t.is(upgraded.err, null);
  t.is(upgraded.frames.length, 2);
});
