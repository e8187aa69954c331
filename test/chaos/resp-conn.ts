/**
 * The recorder's connection: one request at a time on one socket, and an answer to the only
 * question the history needs — did a reply come, was the request certainly never sent, or may
 * it have reached the server ("lost")? After a timeout the socket is destroyed, so a late reply
 * can never be taken for the next request's.
 */
import { connect, type Socket } from 'node:net';
import { encodeRequest, type Arg } from '../../client/encode.ts';
import { ReplyDecoder, type Reply } from '../../shared/protocol/reply-decoder.ts';

export type CallResult =
  | { readonly kind: 'reply'; readonly reply: Reply }
  | { readonly kind: 'unsent'; readonly error: string }
  | { readonly kind: 'lost'; readonly error: string };

export class RespConn {
  #socket: Socket | null = null;
  #waiting: ((r: CallResult) => void) | null = null;

  constructor(readonly host: string, readonly port: number) {}

  get connected(): boolean {
    return this.#socket !== null && !this.#socket.destroyed;
  }

  /** Sends one request and waits for its reply, at most `timeoutMs` in all (connect included). */
  async call(args: readonly Arg[], timeoutMs: number): Promise<CallResult> {
    if (this.#waiting !== null) throw new Error('RespConn: one request at a time');
    const deadline = Date.now() + timeoutMs;
    if (!this.connected) {
      const error = await this.#connect(timeoutMs);
      if (error !== null) return { kind: 'unsent', error };
    }
    const socket = this.#socket!;
    return new Promise<CallResult>((resolve) => {
      const timer = setTimeout(() => this.#fail('timeout'), Math.max(1, deadline - Date.now()));
      this.#waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      socket.write(encodeRequest(args));
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = null;
  }

  #connect(timeoutMs: number): Promise<string | null> {
    return new Promise((resolve) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('connect timeout');
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.#socket = socket;
        // A decoder per connection: a socket dropped mid-reply leaves nothing behind.
        const decoder = new ReplyDecoder({
          onReply: (reply) => this.#deliver({ kind: 'reply', reply }),
          onFatal: (err) => this.#fail(`bad reply stream: ${err.message}`),
        });
        socket.on('data', (chunk: Buffer) => decoder.write(chunk));
        socket.on('close', () => {
          if (this.#socket === socket) this.#fail('connection closed');
        });
        socket.on('error', () => {});
        resolve(null);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(`connect: ${err.message}`);
      });
    });
  }

  #deliver(r: CallResult): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    // A reply nobody waits for means the stream is out of step: drop the connection.
    if (waiting === null) this.close();
    else waiting(r);
  }

  #fail(error: string): void {
    this.close();
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.({ kind: 'lost', error });
  }
}
