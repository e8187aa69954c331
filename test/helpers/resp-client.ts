/**
 * A tiny raw-socket client for tests: writes exact bytes (or RESP-encoded requests) and reads
 * whole replies back as their exact wire text (latin1), so tests can assert `+OK\r\n` vs
 * `$2\r\nOK\r\n`. No retries, no reconnects.
 */
import { connect, type Socket } from 'node:net';

export function encodeRequest(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'latin1') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Length of the first complete RESP2 reply in `buf` starting at `at`, or -1 if incomplete. */
export function replyLength(buf: Buffer, at = 0): number {
  const lineEnd = buf.indexOf('\r\n', at, 'latin1');
  if (lineEnd === -1 || lineEnd === at) return -1;
  const type = String.fromCharCode(buf[at]!);
  const header = buf.toString('latin1', at + 1, lineEnd);
  if (type === '+' || type === '-' || type === ':') return lineEnd + 2 - at;
  const n = Number(header);
  if (type === '$') {
    if (n < 0) return lineEnd + 2 - at;
    const end = lineEnd + 2 + n + 2;
    return buf.length >= end ? end - at : -1;
  }
  if (type === '*') {
    let pos = lineEnd + 2;
    for (let i = 0; i < n; i++) {
      const length = replyLength(buf, pos);
      if (length === -1) return -1;
      pos += length;
    }
    return pos - at;
  }
  throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('latin1', at, at + 40))}`);
}

export class RespClient {
  private buffer = Buffer.alloc(0);
  private readonly replies: string[] = [];
  private waiter: (() => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.waiter?.());
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new RespClient(socket));
      });
      socket.once('error', reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Sends one RESP request and returns its reply's wire text. One call or next() at a time. */
  async call(...args: (string | Buffer)[]): Promise<string> {
    this.write(encodeRequest(...args));
    return this.next();
  }

  /** The next reply's wire text; rejects if none arrives within `timeoutMs` or the socket closes. */
  async next(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.socket.destroyed && this.replies.length === 0) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a reply');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.replies.shift()!;
  }

  async take(count: number, timeoutMs = 10_000): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const length = replyLength(this.buffer);
      if (length === -1) break;
      this.replies.push(this.buffer.toString('latin1', 0, length));
      this.buffer = this.buffer.subarray(length);
    }
    this.waiter?.();
  }
}

/** Parses an integer reply's wire text (`:42\r\n`) to a bigint; throws on anything else. */
export function intOf(reply: string): bigint {
  const match = /^:(-?[0-9]+)\r\n$/.exec(reply);
  if (match === null) throw new Error(`expected an integer reply, got ${JSON.stringify(reply)}`);
  return BigInt(match[1]!);
}

/** One request on a connection of its own: its reply, or null if none came within `timeoutMs`. */
export async function callOnce(port: number, args: readonly string[], timeoutMs = 10_000): Promise<string | null> {
  let c: RespClient | null = null;
  try {
    c = await RespClient.connect(port);
    c.write(encodeRequest(...args));
    return await c.next(timeoutMs);
  } catch {
    return null;
  } finally {
    c?.close();
  }
}
