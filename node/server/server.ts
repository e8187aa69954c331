/**
 * SeqDB's TCP server: accepts connections (up to a bound), gives each a Connection, answers
 * INFO, and shuts down gracefully. It executes data commands through an Engine and knows
 * nothing of storage.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { ServerGate, type ServerSecurityOptions } from '../../shared/security/server-gate.ts';
import { guardTlsServer, type TlsConfig } from '../../shared/security/tls-config.ts';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { errorReply, type RequestLimits } from '../../shared/protocol/index.ts';
import { Connection } from './connection.ts';
import type { CommandObserver, Engine } from './engine.ts';
import { VERSION } from './version.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface ServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 7379; 0 picks a free port. */
  readonly port?: number;
  /** Open client connections beyond which new ones are refused with -BUSY. Default 10,000. */
  readonly connectionsMax?: number;
  /** Async replies waiting per connection before it stops reading. Default 1,024. */
  readonly pipelineMax?: number;
  /** Reply bytes buffered per client before it is dropped; its requests wait at half of it. Default 8 MiB. */
  readonly outputBytesMax?: number;
  /** A client whose requests wait for it to read, taking no bytes this long, is dropped. Default 5,000 ms. */
  readonly outputStallMs?: number;
  /** How long a request may stay half-sent before its connection is dropped. Default 30,000. */
  readonly requestTimeoutMs?: number;
  /** Request decoder limits (args, request and inline bytes). Defaults: shared/protocol/limits.ts. */
  readonly requestLimits?: Partial<RequestLimits>;
  /** Password and cluster secret (shared/security/server-gate.ts). Default: neither. */
  readonly security?: ServerSecurityOptions;
  /** Serve TLS (when this server listens itself; adopted sockets arrive decrypted). Default: plain TCP. */
  readonly tls?: TlsConfig;
  /** The cluster this server is of: SEQDB.IDENT of another name is refused. Default: none (any accepted). */
  readonly cluster?: string;
  /** Clients idle this long are closed (`--timeout`, as Redis's); internal connections are exempt. Default 0 = never. */
  readonly idleTimeoutMs?: number;
  /**
   * TCP keepalive idle time of client connections (as Redis's `tcp-keepalive`, default 300 s):
   * without it a client whose host vanished (no FIN, no RST) holds its connection slot and
   * descriptor for the life of the process when --timeout is 0. 0 = off.
   */
  readonly tcpKeepAliveMs?: number;
}

/** Limit counters INFO shows. */
export interface ServerStats {
  rejectedConnections: number;
  idleClosed: number;
  outputBufferClosed: number;
  /** Requests refused by the decoder's limits or as malformed (too many args, too large, bad syntax). */
  requestErrors: number;
  /** Requests run (Redis's total_commands_processed). */
  commandsProcessed: number;
}

export class SeqServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly startedMs = monoNowMs();
  private nextClientId = 1;
  private address: AddressInfo | undefined;
  readonly gate: ServerGate | undefined;
  /** With TLS: raw sockets, including those mid-handshake, destroyed when the grace ends. */
  private readonly rawSockets: Set<Socket>;
  readonly stats: ServerStats = { rejectedConnections: 0, idleClosed: 0, outputBufferClosed: 0, requestErrors: 0, commandsProcessed: 0 };
  /** Told of every command run through the engine (observeCommands); default: nobody. */
  commandObserver: CommandObserver | undefined;
  readonly cluster: string | undefined;

  constructor(
    readonly engine: Engine,
    private readonly options: ServerOptions = {},
  ) {
    this.cluster = options.cluster;
    const security = options.security;
    this.gate = security?.password !== undefined || security?.clusterSecret !== undefined ? new ServerGate(security) : undefined;
    this.server = options.tls === undefined
      ? createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket))
      : createTlsServer({ ...options.tls.server, allowHalfOpen: true }, (socket) => this.accept(socket));
    this.rawSockets = options.tls === undefined ? new Set() : guardTlsServer(this.server as TlsServer, options.tls.handshakeTimeoutMs);
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 7379, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        this.address = this.server.address() as AddressInfo;
        resolve(this.address);
      });
    });
  }

  /** From now on, tells `observer` of every command run through the engine, with its latency. */
  observeCommands(observer: CommandObserver): void {
    this.commandObserver = observer;
  }

  get connectedClients(): number {
    return this.connections.size;
  }

  /**
   * Stops accepting, lets every connection finish the requests it already sent (replies
   * flushed), then closes them. Connections still open after `graceMs` are destroyed.
   */
  async close(graceMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const drained = Promise.all([...this.connections].map((c) => c.shutdown()));
    const timer = setTimeout(() => this.destroyAll(), graceMs);
    await drained;
    clearTimeout(timer);
    // TLS sockets that never finished their handshake are no Connection: nothing to drain.
    for (const socket of this.rawSockets) socket.destroy();
    await closed;
  }

  /** Every time a limit or an access check turned a client away, by reason (also in INFO and metrics). */
  limitCounters(): Readonly<Record<string, number>> {
    const gate = this.gate?.counters;
    return {
      max_clients: this.stats.rejectedConnections,
      idle_timeout: this.stats.idleClosed,
      output_buffer: this.stats.outputBufferClosed,
      request_limit: this.stats.requestErrors,
      auth_failure: gate?.authFailures ?? 0,
      noauth: gate?.noauthRejections ?? 0,
      cluster_auth_failure: gate?.clusterAuthFailures ?? 0,
    };
  }

  infoText(): string {
    const engineInfo = this.engine.info();
    const lines = [
      '# Server',
      `version:${VERSION}`,
      `process_id:${process.pid}`,
      `tcp_port:${this.address?.port ?? 0}`,
      `uptime_seconds:${Math.floor((monoNowMs() - this.startedMs) / 1000)}`,
      '# Clients',
      `connected_clients:${this.connections.size}`,
      `maxclients:${this.options.connectionsMax ?? 10_000}`,
      `rejected_connections:${this.stats.rejectedConnections}`,
      `idle_timeout_seconds:${Math.floor((this.options.idleTimeoutMs ?? 0) / 1000)}`,
      `idle_clients_closed:${this.stats.idleClosed}`,
      `output_buffer_clients_closed:${this.stats.outputBufferClosed}`,
      `request_limit_errors:${this.stats.requestErrors}`,
      // What redis-cli --stat reads (it showed garbage without them: a client review).
      '# Stats',
      `total_connections_received:${this.nextClientId - 1}`,
      `total_commands_processed:${this.stats.commandsProcessed}`,
      '# Security',
      `tls:${this.options.tls === undefined ? 0 : 1}`,
      ...Object.entries(this.gate?.info() ?? { auth_required: 0, cluster_secret: 0 }).map(([key, value]) => `${key}:${value}`),
      '# Memory',
      ...memoryInfoLines(),
      '# Persistence',
      // ioredis's ready check waits for loading:0.
      'loading:0',
      '# SeqDB',
      ...Object.entries(engineInfo).map(([key, value]) => `${key}:${value}`),
    ];
    return lines.join('\r\n') + '\r\n';
  }

  /**
   * Serves a client connection accepted by someone else (a replicated node shares its one port
   * with peer traffic and sniffs the first bytes); `head` holds the bytes already read from it.
   * The server need not be listening itself.
   */
  adopt(socket: Socket, head?: Buffer): void {
    if (head !== undefined && head.length > 0) socket.unshift(head);
    this.accept(socket);
    socket.resume();
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= (this.options.connectionsMax ?? 10_000)) {
      this.stats.rejectedConnections++;
      socket.on('error', () => socket.destroy());
      socket.end(errorReply(new SeqError(ErrorCode.BUSY, 'max number of clients reached')));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const keepAliveMs = this.options.tcpKeepAliveMs ?? 300_000;
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
    const connection = new Connection(socket, this.nextClientId++, this, {
      pipelineMax: this.options.pipelineMax ?? 1024,
      outputBytesMax: this.options.outputBytesMax ?? 8 * 1024 * 1024,
      outputStallMs: this.options.outputStallMs ?? 5000,
      requestTimeoutMs: this.options.requestTimeoutMs ?? 30_000,
      idleTimeoutMs: this.options.idleTimeoutMs ?? 0,
      ...(this.options.requestLimits === undefined ? {} : { request: this.options.requestLimits }),
    });
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  private destroyAll(): void {
    for (const connection of this.connections) connection.destroy();
    for (const socket of this.rawSockets) socket.destroy();
  }
}

/**
 * Redis's used_memory fields, from the process: `used_memory` is the JavaScript heap plus memory
 * outside it (Buffers, native allocations V8 knows of); the LMDB map is file-backed and not in it.
 */
function memoryInfoLines(): string[] {
  const m = process.memoryUsage();
  return [
    `used_memory:${m.heapUsed + m.external}`,
    `used_memory_rss:${m.rss}`,
    `used_memory_heap:${m.heapUsed}`,
    `used_memory_heap_total:${m.heapTotal}`,
    `used_memory_external:${m.external}`,
    `used_memory_array_buffers:${m.arrayBuffers}`,
  ];
}
