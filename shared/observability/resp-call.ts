/**
 * One request, one reply, over a short-lived connection: what operations tools need (INFO for
 * the status page, SEQDB.EXPORT for backups). Bounded in time and reply size.
 */
import { connect } from 'node:net';
import { ReplyDecoder, type Reply } from '../protocol/index.ts';

export interface CallOptions {
  /** Default 2000 ms. */
  readonly timeoutMs?: number;
  /** Default 16 MiB. */
  readonly replyBytesMax?: number;
  /** Sent as AUTH first when the server requires a password. Default: env SEQDB_PASSWORD, if set. */
  readonly password?: string;
}

export function splitAddress(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

export function respCall(addr: string, args: readonly string[], o: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect(splitAddress(addr));
    let done = false;
    const finish = (err: Error | null, reply?: Reply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new Error(`${addr}: no reply within ${o.timeoutMs ?? 2000} ms`)), o.timeoutMs ?? 2000);
    const password = o.password ?? (process.env.SEQDB_PASSWORD || undefined);
    let skip = password === undefined ? 0 : 1;
    const decoder = new ReplyDecoder({
      onReply: (r) => {
        // The AUTH reply: on failure that error is the answer.
        if (skip > 0 && (skip--, r.kind !== 'error')) return;
        finish(null, r);
      },
      onFatal: (e) => finish(e),
    }, { replyBytesMax: o.replyBytesMax ?? 16 * 1024 * 1024 });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`${addr}: connection closed`)));
    const encode = (list: readonly string[]): string => `*${list.length}\r\n${list.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.write((password === undefined ? '' : encode(['AUTH', password])) + encode(args));
  });
}

/** INFO as key -> value (sections flattened). */
export async function infoFields(addr: string, timeoutMs = 1000): Promise<Record<string, string>> {
  const r = await respCall(addr, ['INFO'], { timeoutMs });
  if (r.kind !== 'string') throw new Error(`${addr}: INFO answered ${r.kind === 'error' ? `-${r.word} ${r.message}` : r.kind}`);
  const out: Record<string, string> = {};
  for (const line of r.value.toString('utf8').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
