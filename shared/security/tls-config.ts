/**
 * TLS for client and cluster traffic (`--tls-cert`, `--tls-key`, `--tls-ca`), with Node's `tls`.
 * One certificate and key per process serve both as its server identity and, on connections it
 * opens to nodes, as its client certificate; `--tls-ca` is what the process trusts.
 *
 * Internal connections (router -> node, node -> node) check the peer's chain against the CA but
 * not its host name: nodes are dialled at addresses learned from the catalog and mDNS, which a
 * certificate cannot list in advance. Who may take part is decided by the cluster secret; TLS
 * adds confidentiality and a CA-signed identity. When the CA is given, a node also asks its
 * clients for a certificate but does not require one (clients with a password only are fine).
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';

export interface TlsFiles {
  /** PEM certificate chain of this process. */
  readonly cert: string;
  /** PEM private key of this process. */
  readonly key: string;
  /** PEM CA bundle trusted for peers. Default: Node's built-in roots. */
  readonly ca?: string;
}

/** Loaded TLS material: what a listening server and what an outbound internal connection use. */
export interface TlsConfig {
  readonly server: TlsOptions;
  /** The handshake timeout of `server`, in ms (for guardTlsServer). */
  readonly handshakeTimeoutMs: number;
  readonly client: ConnectionOptions;
  /** A CA was given: peers (node-to-node connections) must present a certificate it signed. */
  readonly peerCertRequired: boolean;
}

export interface TlsTuning {
  /**
   * How long a TLS handshake may take before the connection is dropped; guardTlsServer uses the
   * same bound to free the raw socket a failed handshake leaves behind. Default 5000.
   */
  readonly handshakeTimeoutMs?: number;
}

export function loadTls(files: TlsFiles, tuning: TlsTuning = {}): TlsConfig {
  const cert = readFileSync(files.cert);
  const key = readFileSync(files.key);
  const ca = files.ca === undefined ? undefined : readFileSync(files.ca);
  const handshakeTimeoutMs = tuning.handshakeTimeoutMs ?? 5000;
  return {
    peerCertRequired: ca !== undefined,
    handshakeTimeoutMs,
    // A handshake that stalls holds a connection slot: bounded well below Node's 120 s default.
    server: {
      cert, key, ...(ca !== undefined ? { ca, requestCert: true, rejectUnauthorized: false } : {}),
      minVersion: 'TLSv1.2', handshakeTimeout: handshakeTimeoutMs,
    },
    client: {
      cert,
      key,
      ...(ca !== undefined ? { ca } : {}),
      rejectUnauthorized: true,
      checkServerIdentity: () => undefined,
      minVersion: 'TLSv1.2',
    },
  };
}

/** Opens an internal connection, over TLS when configured. 'connect' fires for both kinds. */
export function dial(host: string, port: number, tls: TlsConfig | undefined): Socket {
  if (tls === undefined) return netConnect({ host, port, noDelay: true });
  const socket = tlsConnect({ ...tls.client, host, port });
  socket.setNoDelay(true);
  return socket;
}

/**
 * Works around a leak of Node's TLS server with `allowHalfOpen` (which both of SeqDB's servers
 * use so that `nc`-style half-closing clients get their replies): when a handshake fails (a peer
 * refused our certificate, a scanner, a timeout) the TLS socket is destroyed but its raw TCP
 * socket is not, and it stays counted by the server for ever, so maxConnections fills up and
 * server.close() never returns. This destroys every raw socket whose handshake has not completed
 * `graceMs` after it connected, and hands back the set of raw sockets so close() can end them.
 */
export function guardTlsServer(server: TlsServer, graceMs: number): Set<Socket> {
  const raw = new Set<Socket>();
  const handshaking = new Map<string, Socket>();
  const key = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string => `${s.remoteAddress}|${s.remotePort}`;
  server.on('connection', (socket: Socket) => {
    raw.add(socket);
    const k = key(socket);
    handshaking.set(k, socket);
    const timer = setTimeout(() => {
      if (handshaking.get(k) === socket) socket.destroy();
    }, graceMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      raw.delete(socket);
      if (handshaking.get(k) === socket) handshaking.delete(k);
    });
  });
  server.on('secureConnection', (tlsSocket: TLSSocket) => handshaking.delete(key(tlsSocket)));
  return raw;
}
