/**
 * One request, one reply, over a short-lived connection: what operations tools need (INFO for
 * the status page, SEQDB.EXPORT for backups). Bounded in time and reply size. Over TLS, with a
 * password or after proving the cluster secret when the cluster uses them (CallSecurity).
 */
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ReplyDecoder, type Reply } from '../protocol/index.ts';
import type { CallSecurity } from '../security/client-security.ts';
import { InternalHandshake } from '../security/internal-handshake.ts';

export type { CallSecurity } from '../security/client-security.ts';

export interface CallOptions extends CallSecurity {
  /** Default 2000 ms. */
  readonly timeoutMs?: number;
  /** Default 16 MiB. */
  readonly replyBytesMax?: number;
}

export function splitAddress(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

const encode = (list: readonly string[]): string => `*${list.length}\r\n${list.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

export function respCall(addr: string, args: readonly string[], o: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = splitAddress(addr);
    // Writes before the TLS handshake completes are queued by the socket.
    const socket = o.tls === undefined ? connect(target) : tlsConnect({ ...o.tls, ...target });
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
    const handshake = o.clusterSecret === undefined ? null : new InternalHandshake(o.clusterSecret);
    const password = handshake !== null ? undefined : o.password ?? (process.env.SEQDB_PASSWORD || undefined);
    // Replies before the command's own: AUTH's (pipelined), or the two handshake steps (in turn).
    let stage: 'hello' | 'prove' | 'auth' | 'command' = handshake !== null ? 'hello' : password !== undefined ? 'auth' : 'command';
    const decoder = new ReplyDecoder({
      onReply: (r) => {
        try {
          switch (stage) {
            case 'hello':
              socket.write(encode(handshake!.proveArgs(r)));
              stage = 'prove';
              return;
            case 'prove':
              InternalHandshake.accepted(r);
              socket.write(encode(args));
              stage = 'command';
              return;
            case 'auth':
              stage = 'command';
              if (r.kind !== 'error') return;
              break; // on failure that error is the answer
          }
          finish(null, r);
        } catch (err) {
          finish(new Error(`${addr}: ${(err as Error).message}`));
        }
      },
      onFatal: (e) => finish(e),
    }, { replyBytesMax: o.replyBytesMax ?? 16 * 1024 * 1024 });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`${addr}: connection closed`)));
    if (handshake !== null) socket.write(encode(handshake.helloArgs()));
    else socket.write((password === undefined ? '' : encode(['AUTH', password])) + encode(args));
  });
}

/** INFO as key -> value (sections flattened). */
export async function infoFields(addr: string, timeoutMs = 1000, security: CallSecurity = {}): Promise<Record<string, string>> {
  const r = await respCall(addr, ['INFO'], { ...security, timeoutMs });
  if (r.kind !== 'string') throw new Error(`${addr}: INFO answered ${r.kind === 'error' ? `-${r.word} ${r.message}` : r.kind}`);
  const out: Record<string, string> = {};
  for (const line of r.value.toString('utf8').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
