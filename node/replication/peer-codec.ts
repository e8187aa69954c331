/**
 * Binary encoding of Raft messages between peers, framed as `u32 length | u8 kind | payload`, or
 * `u32 length | u8 kind+0x80 | u32 crc32 | payload | u32 crc32` where the kind has CHECKSUM_FLAG:
 * a CRC-32 of the length and kind, and one of everything before it (peer-frame-fields.ts says
 * why). Senders checksum a peer's frames once it announced the `framesums` feature
 * (peer-features.ts): an older build refuses the flag as an unknown kind. The decoder takes both;
 * once a connection sent a checksummed frame, a frame without one is refused (a flipped flag must
 * not turn the check off).
 *
 * - kind 1 (MESSAGE): one Raft Message. A `snap` message carries only the snapshot's meta and total
 *   size; its image follows in kind 2 (SNAP_CHUNK) frames, so no frame is ever larger than
 *   `maxFrameBytes` whatever the state size. The decoder reassembles and emits the whole Message.
 * - kind 3 (CONTROL): a small JSON object (join requests and replies), outside Raft.
 *
 * The decoder is fed bytes (any split) and returns whole frames. Oversized frames, bad kinds,
 * truncated fields and trailing bytes are reported as one SeqError(PROTOCOL) and the decoder is
 * then dead (the transport drops the connection); it never throws anything else.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { Entry, EntryType, Message, MessageDraft, MessageType, Snapshot, SnapshotMeta } from '../raft/types.ts';
import { crc32 } from 'node:zlib';
import { CHECKED_HEADER_BYTES, CHECKSUM_BYTES, CHECKSUM_FLAG, FrameReader, FrameWriter, HEADER_BYTES, bad, checkedHeader, corrupt } from './peer-frame-fields.ts';
import { isChunked, snapshotBytes, type ChunkedSnapshot } from './snapshot-images.ts';
import { releaseSnapshot } from './snapshot-spool.ts';

export const FrameKind = { MESSAGE: 1, SNAP_CHUNK: 2, CONTROL: 3 } as const;

const MESSAGE_TYPES: readonly MessageType[] = [
  'app', 'appResp', 'heartbeat', 'heartbeatResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'timeoutNow',
];
const TYPE_CODE = new Map(MESSAGE_TYPES.map((t, i) => [t, i] as const));

export interface PeerCodecOptions {
  /** Largest frame accepted or produced, header excluded. Default 4 MiB. */
  readonly maxFrameBytes?: number;
  /**
   * Largest snapshot image accepted. Default 256 MiB held in memory, 16 GiB with a
   * `snapshotSink` (on disk).
   */
  readonly maxSnapshotBytes?: number;
  /**
   * Where a received image goes as its chunks arrive (snapshot-spool.ts); without one the
   * decoder holds it in memory and emits it as `data`.
   */
  readonly snapshotSink?: (bytes: number) => SnapshotSink;
}

/** Receives one snapshot image chunk by chunk; `finish` gives the snapshot to emit. */
export interface SnapshotSink {
  write(chunk: Uint8Array): void;
  finish(meta: SnapshotMeta): Snapshot;
  /** The image will not be finished (bad input, a dropped connection): let go of it. */
  abort(): void;
}

export type PeerFrame =
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'control'; readonly control: Record<string, unknown> };

const DEFAULT_MAX_FRAME = 4 << 20;
/**
 * "SEQD" read as a frame's length: the `SEQDB-AUTH ...` line of a peer with a cluster secret,
 * sent where this node, without one, expects frames (past any frame bound, so only the message
 * changes).
 */
const SECRET_LINE_AS_LENGTH = Buffer.from('SEQD').readUInt32BE(0);
const DEFAULT_MAX_SNAPSHOT = 256 << 20;
const DEFAULT_MAX_SPOOLED_SNAPSHOT = 16 * 2 ** 30;

function writeStrings(w: FrameWriter, list: readonly string[]): void {
  w.u32(list.length);
  for (const s of list) w.str(s);
}

function readStrings(r: FrameReader, max: number): string[] {
  const n = r.u32();
  if (n > max) throw bad('list too long');
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.str());
  return out;
}

function writeSnapMeta(w: FrameWriter, m: SnapshotMeta): void {
  w.u64(m.index);
  w.u64(m.term);
  writeStrings(w, m.conf.voters);
  writeStrings(w, m.conf.learners);
}

function readSnapMeta(r: FrameReader): SnapshotMeta {
  const index = r.u64();
  const term = r.u64();
  const voters = readStrings(r, 1024);
  const learners = readStrings(r, 1024);
  return { index, term, conf: { voters, learners } };
}

/**
 * A message's stamp (leader-clock.ts) travels in the context field, `\x01<stamp>` or
 * `\x01<stamp>\x01<context>`: builds before stamps echo a heartbeat's context whole and ignore
 * it elsewhere, so both directions of a rolling upgrade keep working with no new frame field
 * (an older decoder refuses any byte past the fields it knows). Contexts never start with
 * \x01 (ReadIndex rounds are `r<n>`, a transfer's vote is `transfer`).
 */
function contextField(m: Message): string | undefined {
  if (m.context?.startsWith(STAMP_MARK) === true) throw new SeqError(ErrorCode.INTERNAL, 'peer codec: a context may not start with \\x01');
  if (m.stamp === undefined) return m.context;
  if (!Number.isSafeInteger(m.stamp) || m.stamp < 0) throw new SeqError(ErrorCode.INTERNAL, `peer codec: bad stamp ${m.stamp}`);
  return m.context === undefined ? `${STAMP_MARK}${m.stamp}` : `${STAMP_MARK}${m.stamp}${STAMP_MARK}${m.context}`;
}

const STAMP_MARK = '\x01';
const STAMP_DIGITS = /^[0-9]{1,16}$/;

function splitContextField(field: string | undefined): { context?: string; stamp?: number } {
  if (field === undefined || !field.startsWith(STAMP_MARK)) return field === undefined ? {} : { context: field };
  const end = field.indexOf(STAMP_MARK, 1);
  const digits = end < 0 ? field.slice(1) : field.slice(1, end);
  const stamp = Number(digits);
  if (!STAMP_DIGITS.test(digits) || !Number.isSafeInteger(stamp)) throw bad('bad stamp');
  return end < 0 ? { stamp } : { stamp, context: field.slice(end + 1) };
}

/**
 * Encodes a message as frames: one MESSAGE frame, plus SNAP_CHUNK frames for a snapshot image;
 * each checksummed when `checksum` (only for a peer that announced `framesums`).
 */
export function encodeMessage(m: Message, opts: PeerCodecOptions = {}, checksum = false): Buffer[] {
  const maxFrame = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
  const w = new FrameWriter(checksum);
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new SeqError(ErrorCode.INTERNAL, `unknown message type ${m.type}`);
  w.u8(code);
  w.str(m.from);
  w.str(m.to);
  w.u64(m.term);
  w.u64(m.index);
  w.u64(m.logTerm);
  w.u64(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.u64(m.rejectHint);
  const context = contextField(m);
  w.u8(context === undefined ? 0 : 1);
  if (context !== undefined) w.str(context);
  w.u32(m.entries.length);
  for (const e of m.entries) {
    w.u64(e.index);
    w.u64(e.term);
    w.u8(e.type);
    w.bytes(e.data);
  }
  w.u8(m.snapshot ? 1 : 0);
  if (m.snapshot) {
    writeSnapMeta(w, m.snapshot.meta);
    w.u64(snapshotBytes(m.snapshot));
  }
  const frames = [w.finish(FrameKind.MESSAGE, maxFrame)];
  if (m.snapshot && !isChunked(m.snapshot)) frames.push(...snapChunkFrames([m.snapshot.data], maxFrame, checksum));
  return frames;
}

/**
 * The SNAP_CHUNK frames of a chunked snapshot's image, made as they are taken (the sender pulls
 * them as its socket drains): the MESSAGE frame of encodeMessage announced its size.
 */
export function snapshotImageFrames(s: ChunkedSnapshot, opts: PeerCodecOptions = {}, checksum = false): Generator<Buffer> {
  // Every frame is a copy of its part of a chunk, made before the next chunk is read: one reused
  // chunk buffer (ChunkReading.reuse) instead of a garbage 1 MiB one per chunk on the leader.
  return snapChunkFrames(s.chunks({ reuse: true }), opts.maxFrameBytes ?? DEFAULT_MAX_FRAME, checksum);
}

function* snapChunkFrames(chunks: Iterable<Uint8Array>, maxFrame: number, checksum: boolean): Generator<Buffer> {
  const size = Math.max(1, maxFrame - 8);
  const head = checksum ? CHECKED_HEADER_BYTES : HEADER_BYTES;
  for (const data of chunks) {
    for (let off = 0; off < data.length; off += size) {
      const piece = data.subarray(off, Math.min(data.length, off + size));
      const end = head + piece.length;
      const f = Buffer.allocUnsafe(end + (checksum ? CHECKSUM_BYTES : 0));
      f.set(piece, head);
      if (checksum) {
        checkedHeader(f, piece.length, FrameKind.SNAP_CHUNK);
        f.writeUInt32BE(crc32(f.subarray(0, end)), end);
      } else {
        f.writeUInt32BE(1 + piece.length, 0);
        f[4] = FrameKind.SNAP_CHUNK;
      }
      yield f;
    }
  }
}

export function encodeControl(control: Record<string, unknown>, opts: PeerCodecOptions = {}): Buffer {
  const w = new FrameWriter();
  w.str(JSON.stringify(control));
  return w.finish(FrameKind.CONTROL, opts.maxFrameBytes ?? DEFAULT_MAX_FRAME);
}

function decodeMessageBody(body: Buffer, maxSnapshot: number): { message: Message; snapBytes: number } {
  const r = new FrameReader(body);
  const type = MESSAGE_TYPES[r.u8()];
  if (type === undefined) throw bad('unknown message type');
  const from = r.str();
  const to = r.str();
  const term = r.u64();
  const index = r.u64();
  const logTerm = r.u64();
  const commit = r.u64();
  const rejectByte = r.u8();
  if (rejectByte > 1) throw bad('bad reject flag');
  const rejectHint = r.u64();
  const hasContext = r.u8();
  if (hasContext > 1) throw bad('bad context flag');
  const { context, stamp } = splitContextField(hasContext ? r.str() : undefined);
  const n = r.u32();
  if (n > body.length) throw bad('entry count beyond frame');
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const e = { index: r.u64(), term: r.u64(), type: r.u8() as EntryType, data: r.bytes() };
    if (e.type !== 0 && e.type !== 1) throw bad('bad entry type');
    entries.push(e);
  }
  const hasSnap = r.u8();
  if (hasSnap > 1) throw bad('bad snapshot flag');
  let snapMeta: SnapshotMeta | undefined;
  let snapBytes = 0;
  if (hasSnap) {
    snapMeta = readSnapMeta(r);
    snapBytes = r.u64();
    if (snapBytes > maxSnapshot) throw bad(`snapshot of ${snapBytes} bytes exceeds ${maxSnapshot}`);
  }
  r.end();
  // Optional fields assigned, not spread in: every peer message passes here, and V8 copies
  // spread objects through its slow path.
  const message: MessageDraft = { type, from, to, term, index, logTerm, commit, entries, reject: rejectByte === 1, rejectHint };
  if (stamp !== undefined) message.stamp = stamp;
  if (context !== undefined) message.context = context;
  if (snapMeta) message.snapshot = { meta: snapMeta, data: new Uint8Array(0) };
  return { message, snapBytes };
}

interface PendingSnapshot {
  readonly message: Message;
  readonly bytes: number;
  /** In memory (no sink) or in the sink. */
  readonly data: Uint8Array | null;
  readonly sink: SnapshotSink | null;
  filled: number;
}

/** Incremental frame decoder for one peer connection. */
export class PeerDecoder {
  private readonly maxFrame: number;
  private readonly maxSnapshot: number;
  private readonly sinkFor: ((bytes: number) => SnapshotSink) | null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: PendingSnapshot | null = null;
  /** Bytes of the SNAP_CHUNK frame body being streamed into the pending image (0: none). */
  private chunkLeft = 0;
  /** The running CRC-32 of a checksummed SNAP_CHUNK frame being streamed (null: none, or no checksum). */
  private streamSum: number | null = null;
  /** This connection has sent a checksummed frame: every later one must have one too. */
  private checksummed = false;
  private dead: SeqError | null = null;

  constructor(opts: PeerCodecOptions = {}) {
    this.maxFrame = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    this.sinkFor = opts.snapshotSink ?? null;
    this.maxSnapshot = opts.maxSnapshotBytes ?? (this.sinkFor ? DEFAULT_MAX_SPOOLED_SNAPSHOT : DEFAULT_MAX_SNAPSHOT);
  }

  /** Feeds bytes; returns the frames completed by them. Throws SeqError(PROTOCOL) on bad input. */
  push(chunk: Uint8Array): PeerFrame[] {
    if (this.dead) throw this.dead;
    try {
      return this.drain(chunk);
    } catch (err) {
      this.dead = err instanceof SeqError ? err : bad(String(err));
      this.chunks = [];
      this.buffered = 0;
      this.chunkLeft = 0;
      this.streamSum = null;
      this.close();
      throw this.dead;
    }
  }

  /**
   * Bytes are joined only once a whole frame is there: a 1 MiB snapshot chunk arrives in dozens
   * of socket reads, and joining on every read copied it over and over (~8x its size per frame,
   * most of a follower's memory peak while receiving a snapshot).
   */
  private drain(chunk: Uint8Array): PeerFrame[] {
    if (chunk.byteLength > 0) this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.byteLength;
    const out: PeerFrame[] = [];
    try {
      for (;;) {
        if (this.chunkLeft > 0) {
          if (this.buffered === 0) break;
          const piece = this.takeUpTo(this.chunkLeft);
          this.chunkLeft -= piece.length;
          if (this.streamSum !== null) this.streamSum = crc32(piece, this.streamSum);
          this.writeChunk(piece);
          if (this.chunkLeft === 0 && this.streamSum === null) this.emit(out, this.chunkFrameEnd());
          continue;
        }
        if (this.streamSum !== null) {
          // The streamed chunk's checksum: its image is finished only once it matched.
          if (this.buffered < CHECKSUM_BYTES) break;
          if (this.take(CHECKSUM_BYTES).readUInt32BE(0) !== this.streamSum) throw corrupt(FrameKind.SNAP_CHUNK);
          this.streamSum = null;
          this.emit(out, this.chunkFrameEnd());
          continue;
        }
        if (this.buffered < 4) break;
        const len = this.peekU32();
        if (len === SECRET_LINE_AS_LENGTH) throw bad('a cluster-secret handshake line where a frame was due: the peer runs with a cluster secret and this node without one (every node and router needs the same)');
        if (len < 1 || len - 1 > this.maxFrame + 2 * CHECKSUM_BYTES) throw bad(`frame of ${len} bytes (max ${this.maxFrame})`);
        if (this.buffered < HEADER_BYTES) break;
        const flagged = this.peekByte(4);
        const summed = (flagged & CHECKSUM_FLAG) !== 0;
        const kind = flagged & ~CHECKSUM_FLAG;
        if (summed) this.checksummed = true;
        else if (this.checksummed) throw bad('a frame without a checksum after checksummed ones');
        const head = summed ? CHECKED_HEADER_BYTES : HEADER_BYTES;
        if (summed) {
          // The length is trusted only once its own checksum matched.
          if (this.buffered < head) break;
          const header = this.peek(head);
          if (crc32(header.subarray(0, HEADER_BYTES)) !== header.readUInt32BE(HEADER_BYTES)) throw corrupt(kind);
        }
        const body = len + 4 - head - (summed ? CHECKSUM_BYTES : 0);
        if (body < 0 || body > this.maxFrame) throw bad(`frame of ${len} bytes (max ${this.maxFrame})`);
        if (this.buffered < 4 + len && this.pending && kind === FrameKind.SNAP_CHUNK) {
          // A snapshot chunk not here whole: its body goes to the image as it comes, never joined
          // (a 1 MiB join per frame was ~50 MB of garbage Buffers behind a 1M-sequence image).
          const header = this.take(head);
          this.streamSum = summed ? crc32(header) : null;
          this.chunkLeft = body;
          continue;
        }
        if (this.buffered < 4 + len) break;
        const bytes = this.take(4 + len);
        const end = head + body;
        if (summed && crc32(bytes.subarray(0, end)) !== bytes.readUInt32BE(end)) throw corrupt(kind);
        this.emit(out, this.onFrame(kind, bytes.subarray(head, end)));
      }
    } catch (err) {
      // Frames decoded before the bad one are dropped with it: let go of a spooled image among them.
      for (const f of out) if (f.kind === 'message' && f.message.snapshot) releaseSnapshot(f.message.snapshot);
      throw err;
    }
    return out;
  }

  /** The first four buffered bytes as a u32 (they may span chunks). */
  private peekU32(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks, 4).readUInt32BE(0);
  }

  /** The first n buffered bytes (n <= buffered), without taking them: a view when one chunk holds them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    return first.length >= n ? first.subarray(0, n) : Buffer.concat(this.chunks, n);
  }

  /** The buffered byte at offset i (i < buffered). */
  private peekByte(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    throw new Error('peekByte past the buffered bytes');
  }

  /** Removes and returns up to n of the first buffered bytes, from the first chunk only: a view, never a copy. */
  private takeUpTo(n: number): Buffer {
    const first = this.chunks[0]!;
    const piece = first.subarray(0, Math.min(n, first.length));
    if (piece.length === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(piece.length);
    this.buffered -= piece.length;
    return piece;
  }

  /** Removes and returns the first n buffered bytes (a view when one chunk holds them). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    this.buffered -= n;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const used = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, used);
      filled += used;
      if (used === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(used);
    }
    return out;
  }

  private onFrame(kind: number, body: Buffer): PeerFrame | null {
    if (this.pending && kind !== FrameKind.SNAP_CHUNK) throw bad('snapshot chunks interrupted');
    switch (kind) {
      case FrameKind.MESSAGE: {
        const { message, snapBytes } = decodeMessageBody(body, this.maxSnapshot);
        if (!message.snapshot || snapBytes === 0) return { kind: 'message', message };
        const sink = this.sinkFor?.(snapBytes) ?? null;
        this.pending = { message, bytes: snapBytes, data: sink ? null : new Uint8Array(snapBytes), sink, filled: 0 };
        return null;
      }
      case FrameKind.SNAP_CHUNK:
        this.writeChunk(body);
        return this.chunkFrameEnd();
      case FrameKind.CONTROL: {
        const r = new FrameReader(body);
        const json = Buffer.from(r.bytes()).toString('utf8');
        r.end();
        let control: unknown;
        try {
          control = JSON.parse(json);
        } catch {
          throw bad('control frame is not JSON');
        }
        if (typeof control !== 'object' || control === null || Array.isArray(control)) throw bad('control frame is not an object');
        return { kind: 'control', control: control as Record<string, unknown> };
      }
      default:
        throw bad(`unknown frame kind ${kind}`);
    }
  }

  private emit(out: PeerFrame[], frame: PeerFrame | null): void {
    if (frame) out.push(frame);
  }

  /** A SNAP_CHUNK frame's body, or a part of it, into the pending image. */
  private writeChunk(body: Buffer): void {
    const p = this.pending;
    if (!p) throw bad('snapshot chunk without a snapshot message');
    if (p.filled + body.length > p.bytes) throw bad('snapshot chunk beyond declared size');
    if (p.sink) p.sink.write(body);
    else p.data!.set(body, p.filled);
    p.filled += body.length;
  }

  /** A SNAP_CHUNK frame ended (its checksum, if any, matched): the snap message once its image is whole. */
  private chunkFrameEnd(): PeerFrame | null {
    const p = this.pending;
    if (!p || p.filled < p.bytes) return null;
    this.pending = null;
    const meta = p.message.snapshot!.meta;
    const snapshot: Snapshot = p.sink ? p.sink.finish(meta) : { meta, data: p.data! };
    return { kind: 'message', message: { ...p.message, snapshot } };
  }

  /** The connection is gone: an image still arriving is let go of. */
  close(): void {
    this.pending?.sink?.abort();
    this.pending = null;
  }

  /** Bytes held waiting for the rest of a frame (bounded by maxFrameBytes + one chunk). */
  bufferedBytes(): number {
    return this.buffered;
  }
}
