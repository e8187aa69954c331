/**
 * A fake SeqDB server for client tests: a real TCP server speaking RESP (with the shared request
 * decoder) that keeps sequences in memory, remembers INC tokens like the real one, and can be
 * told to misbehave per request: drop the connection before or after applying, delay, or answer
 * an error such as -TRYAGAIN. It fakes the server so that the client's retry logic can be driven
 * into each case on purpose; end-to-end tests run the real `seqdb dev`.
 */
import net from 'node:net';
import { RequestDecoder } from '../../shared/protocol/request-decoder.ts';

export type Action =
  /** Close the connection without applying (nothing happened). */
  | { drop: 'before' }
  /** Apply, then close the connection without replying (the reply is lost). */
  | { drop: 'after' }
  /** Answer this raw RESP text instead of executing. */
  | { reply: string }
  /** Execute, but answer only after this many ms. */
  | { delayMs: number }
  /** Never answer (the request is swallowed; the connection stays open). */
  | { hang: true };

/** Decides per request; args[0] is lower-cased. Returning undefined executes normally. */
export type Script = (args: string[], requestIndex: number) => Action | undefined;

/** What a fake server stores; two fakes given one state act as two routers before one shard. */
export class FakeState {
  readonly values = new Map<string, bigint>();
  /** token -> reply, as the real server's exactly-once table. */
  readonly tokens = new Map<string, string>();
  /** How many times INC actually took numbers, per token: a correct client keeps each at 1. */
  readonly applied = new Map<string, number>();
}

export class FakeServer {
  readonly state: FakeState;
  readonly values: Map<string, bigint>;
  readonly tokens: Map<string, string>;
  readonly applied: Map<string, number>;
  requests = 0;
  connections = 0;
  script: Script = () => undefined;
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | null = null;
  port = 0;

  constructor(state: FakeState = new FakeState()) {
    this.state = state;
    this.values = state.values;
    this.tokens = state.tokens;
    this.applied = state.applied;
  }

  async start(port = 0): Promise<number> {
    const server = net.createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Closes the listener and every connection (a crash, as far as clients can tell). */
  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Drops every open connection but keeps listening. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  #accept(socket: net.Socket): void {
    this.connections += 1;
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    // Replies must leave in request order even when some are delayed: chain them.
    let chain = Promise.resolve();
    const decoder = new RequestDecoder({
      onRequest: (raw) => {
        const args = raw.map((b) => b.toString('utf8'));
        args[0] = args[0]!.toLowerCase();
        const index = this.requests++;
        const action = this.script(args, index);
        chain = chain.then(() => this.#handle(socket, args, action));
      },
      onError: (err, fatal) => {
        chain = chain.then(() => {
          socket.write(`-ERR ${err.message}\r\n`);
          if (fatal) socket.end();
        });
      },
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  }

  async #handle(socket: net.Socket, args: string[], action: Action | undefined): Promise<void> {
    if (socket.destroyed) return;
    if (action && 'hang' in action) return new Promise(() => {}); // blocks this connection's chain
    if (action && 'drop' in action) {
      if (action.drop === 'after') this.execute(args);
      socket.destroy();
      return;
    }
    if (action && 'reply' in action) {
      socket.write(action.reply);
      return;
    }
    const reply = this.execute(args);
    if (action && 'delayMs' in action) await new Promise((r) => setTimeout(r, action.delayMs));
    if (!socket.destroyed) socket.write(reply);
  }

  /** Runs one command against the in-memory state; returns the RESP reply. */
  execute(args: string[]): string {
    const [name, bucket, sequence] = args;
    const key = `${bucket}\u0000${sequence}`;
    switch (name) {
      case 'ping':
        return '+PONG\r\n';
      case 'info': {
        const text = `# Server\r\nrole:fake\r\nversion:0.0.0\r\nsequences:${this.values.size}\r\n`;
        return `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
      }
      case 'get': {
        if (args.length !== 3) return "-ERR wrong number of arguments for 'get'\r\n";
        const value = this.values.get(key);
        return value === undefined ? '$-1\r\n' : `:${value}\r\n`;
      }
      case 'set': {
        if (args.length !== 4) return "-ERR wrong number of arguments for 'set'\r\n";
        if (!/^(0|[1-9]\d{0,18})$/.test(args[3]!)) return '-ERR value is not an integer or out of range\r\n';
        this.values.set(key, BigInt(args[3]!));
        return '+OK\r\n';
      }
      case 'inc':
        return this.#inc(args, key);
      case 'incs':
        return this.#incs(args);
      default:
        return `-ERR unknown command '${name}'\r\n`;
    }
  }

  /** INCS bucket token seq..: one number of each sequence, once per token (no parts, no overflow). */
  #incs(args: string[]): string {
    const [, bucket, token] = args;
    if (args.length < 5) return "-ERR wrong number of arguments for 'incs'\r\n";
    const tokenKey = `${bucket}\u0000\u0000${token}`;
    const seen = this.tokens.get(tokenKey);
    if (seen !== undefined) return seen;
    const values = args.slice(3).map((sequence) => {
      const key = `${bucket}\u0000${sequence}`;
      const value = (this.values.get(key) ?? 0n) + 1n;
      this.values.set(key, value);
      return value;
    });
    const reply = `*${values.length}\r\n${values.map((v) => `:${v}\r\n`).join('')}`;
    this.tokens.set(tokenKey, reply);
    this.applied.set(token!, (this.applied.get(token!) ?? 0) + 1);
    return reply;
  }

  #inc(args: string[], key: string): string {
    if (args.length < 3) return "-ERR wrong number of arguments for 'inc'\r\n";
    let count = 1n;
    let token: string | undefined;
    for (let i = 3; i < args.length; i += 2) {
      const option = args[i]!.toLowerCase();
      const value = args[i + 1];
      if (value === undefined) return '-ERR syntax error\r\n';
      if (option === 'count') count = BigInt(value);
      else if (option === 'id') token = value;
      else return '-ERR syntax error\r\n';
    }
    const tokenKey = token === undefined ? undefined : `${key}\u0000${token}`;
    if (tokenKey !== undefined) {
      const seen = this.tokens.get(tokenKey);
      if (seen !== undefined) return seen;
    }
    const value = (this.values.get(key) ?? 0n) + count;
    this.values.set(key, value);
    const reply = `:${value}\r\n`;
    if (tokenKey !== undefined) {
      this.tokens.set(tokenKey, reply);
      this.applied.set(token!, (this.applied.get(token!) ?? 0) + 1);
    }
    return reply;
  }
}

/** A started fake server, stopped on teardown. */
export async function startFake(t: { teardown(fn: () => Promise<void> | void): void }, state?: FakeState): Promise<FakeServer> {
  const server = new FakeServer(state);
  await server.start();
  t.teardown(() => server.stop());
  return server;
}

/** Client timings for tests against a fake: short backoff and attempt timeouts. */
export const FAST_RETRIES = { backoffBaseMs: 5, backoffMaxMs: 40, attemptTimeoutMs: 300, connectTimeoutMs: 300 };
