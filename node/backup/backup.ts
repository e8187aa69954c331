/**
 * `seqdb backup`: finds the shards behind an address (a router's INFO lists them; a node's INFO
 * lists its shard's members; a single node is its own shard), asks each shard's leader for
 * SEQDB.EXPORT (following NOTLEADER hints, retrying briefly while there is no leader), and
 * writes every image to one file. Each image is consistent as of one committed index of its
 * shard; there is no cross-shard cut, and none is needed while no slot moves (a bucket then lives
 * on one shard): see `backup` for a move during the backup.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { infoFields, respCall, type CallSecurity } from '../../shared/observability/resp-call.ts';
import type { ExportHeader } from './export.ts';
import { writeBackupFile, type BackupManifest, type ShardImageStream } from './backup-file.ts';
import { FetchedImages, type FetchedImage, type ImageWriter } from './fetched-images.ts';
import { imageOwnership, slotOwners, slotsInTransit } from './image-ownership.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface ShardTarget {
  readonly shard: string;
  /** Leader first when known, then the other members. */
  readonly addrs: readonly string[];
}

export interface BackupOptions {
  /** A router, a node of a standalone shard, or a single node. */
  readonly address: string;
  readonly out: string;
  /** Per shard, time to find a leader and export. Default 15,000 ms. */
  readonly shardDeadlineMs?: number;
  /** Largest image accepted. Default 1 GiB. */
  readonly imageBytesMax?: number;
  /** Password, TLS and cluster secret for every connection (the cluster's nodes and router). Default: none. */
  readonly security?: CallSecurity;
  /**
   * After each chunk: shards finished, shards in all, bytes fetched so far, the shard at hand.
   * When a shard is finished, a promise it returns is awaited before the next shard. Default: none.
   */
  readonly onProgress?: (done: number, total: number, bytes: number, shard: string) => void | Promise<void>;
}

export async function discoverShards(address: string, security: CallSecurity = {}): Promise<{ source: string; targets: ShardTarget[] }> {
  const info = await infoFields(address, 3000, security);
  if (info.role === 'router') {
    const targets: ShardTarget[] = [];
    for (const [key, value] of Object.entries(info)) {
      if (!key.startsWith('shard_')) continue;
      const fields = Object.fromEntries(value.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const leader = fields.leader && fields.leader !== '?' ? [fields.leader] : [];
      const members = (fields.members ?? '').split('|').filter((m) => m !== '');
      targets.push({ shard: key.slice('shard_'.length), addrs: [...new Set([...leader, ...members])] });
    }
    if (targets.length === 0) throw new SeqError(ErrorCode.CLUSTER_DOWN, 'the router knows no shards yet');
    return { source: 'router', targets };
  }
  if (info.role === 'standalone') return { source: 'single', targets: [{ shard: 'single', addrs: [address] }] };
  const members = (info.members ?? '').split(',').map((m) => m.slice(m.indexOf('=') + 1).split('/')[0]!).filter((a) => a !== '' && a !== '?');
  const leader = info.leader && info.leader !== '?' ? [info.leader] : [];
  return { source: 'shard', targets: [{ shard: info.shard ?? '?', addrs: [...new Set([...leader, address, ...members])] }] };
}

/** Reads an export's image chunk by chunk from the node that took it, into `into`. */
async function fetchImage(addr: string, h: ExportHeader, imageBytesMax: number, onBytes: (n: number) => void, security: CallSecurity, into: ImageWriter): Promise<FetchedImage> {
  if (!Number.isSafeInteger(h.bytes) || h.bytes < 0 || h.bytes > imageBytesMax) throw new SeqError(ErrorCode.REQUEST_TOO_LARGE, `image of ${h.bytes} bytes exceeds ${imageBytesMax}`);
  let offset = 0;
  while (offset < h.bytes) {
    const r = await respCall(addr, ['SEQDB.EXPORT', h.id, String(offset)], { ...security, timeoutMs: 10_000, replyBytesMax: h.chunkBytes + 1024 });
    if (r.kind !== 'string' || r.value.length === 0) throw new Error(`chunk at ${offset}: ${r.kind === 'error' ? `-${r.word} ${r.message}` : 'empty'}`);
    into.append(r.value);
    offset += r.value.length;
    onBytes(offset);
  }
  return into.finish();
}

/**
 * Sends `args` to the shard's leader (following NOTLEADER hints, retrying while there is none)
 * and hands its non-error reply to `use`; a failure of `use` is retried like a lost reply.
 */
async function onLeader<T>(
  t: ShardTarget, args: string[], deadlineMs: number, security: CallSecurity, use: (addr: string, reply: Buffer) => Promise<T>,
): Promise<T> {
  const deadline = monoNowMs() + deadlineMs;
  const queue = [...t.addrs];
  let lastProblem = 'no address';
  let hops = 0;
  for (let attempt = 0; monoNowMs() < deadline && attempt < 200; attempt++) {
    const addr = queue[attempt % Math.max(1, queue.length)];
    if (addr === undefined) break;
    try {
      const r = await respCall(addr, args, { ...security, timeoutMs: Math.max(1000, deadline - monoNowMs()) });
      if (r.kind === 'string') return await use(addr, r.value);
      if (r.kind !== 'error') throw new Error(`unexpected ${r.kind} reply`);
      lastProblem = `${addr}: -${r.word} ${r.message}`;
      if (r.word === 'NOTLEADER') {
        const hint = r.message.split(' ')[1];
        if (hint && hint !== '?' && !queue.includes(hint)) queue.push(hint);
        if (hint && hint !== '?' && hops++ < 8) {
          queue.splice(0, queue.length, hint, ...queue.filter((a) => a !== hint));
          attempt = -1;
          continue;
        }
      } else if (r.word === 'ERR' && /unknown command/i.test(r.message)) {
        throw new SeqError(ErrorCode.UNKNOWN_COMMAND, `${addr} does not support ${args.slice(0, 2).join(' ')}`);
      }
    } catch (err) {
      if (err instanceof SeqError && (err.code === ErrorCode.UNKNOWN_COMMAND || err.code === ErrorCode.REQUEST_TOO_LARGE)) throw err;
      lastProblem = `${addr}: ${(err as Error).message}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new SeqError(ErrorCode.CLUSTER_DOWN, `shard ${t.shard}: no leader answered ${args.slice(0, 2).join(' ')} (${lastProblem})`);
}

export async function exportShard(
  t: ShardTarget, deadlineMs: number, imageBytesMax: number, into: FetchedImages, onBytes: (n: number) => void = () => {}, security: CallSecurity = {},
): Promise<ShardImageStream> {
  return onLeader(t, ['SEQDB.EXPORT'], deadlineMs, security, async (addr, reply) => {
    const header = JSON.parse(reply.toString('utf8')) as ExportHeader;
    const image = await fetchImage(addr, header, imageBytesMax, onBytes, security, into.begin());
    return { meta: { shard: t.shard, index: header.index, bytes: image.bytes, sha256: image.sha256, from: addr }, chunks: () => image.chunks() };
  });
}

/** Whole backups tried when a slot moved during one (see `backup`). */
const ATTEMPTS_MAX = 3;

/**
 * Each shard's image is consistent as of one committed index of that shard, but the shards are
 * exported one after another, and a slot moving meanwhile can be in no image (the target exported
 * before its import, the source after its release; image-ownership.ts). Such a backup is taken
 * again, up to ATTEMPTS_MAX times, then refused with TRY_AGAIN (run it once `seqdb rebalance` is
 * done). A slot in two images is fine: restore takes the current owner's copy.
 */
export async function backup(o: BackupOptions): Promise<BackupManifest> {
  const security = o.security ?? {};
  const { source, targets } = await discoverShards(o.address, security);
  let inTransit: number[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS_MAX; attempt++) {
    // The images wait in a file beside the output until it is written, never in memory.
    const fetched = FetchedImages.beside(o.out);
    try {
      const images = await exportAll(o, targets, security, fetched);
      const owners = images.map((i) => imageOwnership(i.chunks()));
      inTransit = source === 'router' ? slotsInTransit(owners, slotOwners(owners)) : [];
      if (inTransit.length === 0) return await writeBackupFile(o.out, source, images);
    } finally {
      fetched.close();
    }
  }
  throw new SeqError(
    ErrorCode.TRY_AGAIN,
    `slots moved during each of ${ATTEMPTS_MAX} tries (slot ${inTransit[0]} and ${inTransit.length - 1} more were in no shard's image): back up again once \`seqdb rebalance\` is done`,
  );
}

async function exportAll(o: BackupOptions, targets: readonly ShardTarget[], security: CallSecurity, into: FetchedImages): Promise<ShardImageStream[]> {
  const images: ShardImageStream[] = [];
  let bytes = 0;
  o.onProgress?.(0, targets.length, 0, '');
  for (const t of targets) {
    const done = bytes;
    const img = await exportShard(t, o.shardDeadlineMs ?? 15_000, o.imageBytesMax ?? 1 << 30, into, (n) => void o.onProgress?.(images.length, targets.length, done + n, t.shard), security);
    images.push(img);
    bytes += img.meta.bytes;
    await o.onProgress?.(images.length, targets.length, bytes, t.shard);
  }
  return images;
}
