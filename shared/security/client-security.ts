/**
 * How operations tools reach a secured cluster: the password, TLS options and cluster secret a
 * short-lived connection (shared/observability/resp-call.ts) or SeqDB's client uses. Built from
 * the command-line flags of `seqdb backup` / `seqdb status`, or, inside a router, from the
 * server options it already runs with.
 *
 * TLS checks the server's chain against the CA but not its host name, as internal connections
 * do (tls-config.ts): these tools dial member addresses learned from INFO, which a certificate
 * cannot list in advance.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { ClusterSecret, SECRET_BYTES_MIN } from './cluster-proof.ts';
import type { ServerSecurityOptions } from './server-gate.ts';
import type { TlsConfig } from './tls-config.ts';

export interface CallSecurity {
  /** Sent as AUTH first when the server requires a password. Default: env SEQDB_PASSWORD, if set. */
  readonly password?: string;
  /** Connect over TLS with these options (CA to trust, client certificate). Default: plain TCP. */
  readonly tls?: ConnectionOptions;
  /**
   * Prove the cluster secret first (SEQDB.HELLO / SEQDB.PROVE): needed for internal-only
   * commands; an internal connection needs no password. Default: none.
   */
  readonly clusterSecret?: ClusterSecret;
}

/** The flags of a tool that connects to a cluster (`seqdb backup`, `seqdb status`). */
export const CLIENT_SECURITY_FLAGS = {
  requirepass: { type: 'string' },
  'cluster-secret': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

/** The flags of a data tool (`seqdb inc|get|set|cli|audit`): password and TLS, no cluster secret. */
export const DATA_CLIENT_SECURITY_FLAGS = {
  requirepass: CLIENT_SECURITY_FLAGS.requirepass,
  tls: CLIENT_SECURITY_FLAGS.tls,
  'tls-ca': CLIENT_SECURITY_FLAGS['tls-ca'],
  'tls-cert': CLIENT_SECURITY_FLAGS['tls-cert'],
  'tls-key': CLIENT_SECURITY_FLAGS['tls-key'],
} as const;

/** The client library's password and TLS options from a data tool's flags (and SEQDB_PASSWORD). */
export function clientAuthFromFlags(values: ClientSecurityFlagValues, env: NodeJS.ProcessEnv = process.env): { password?: string; tls?: ConnectionOptions } {
  const security = clientSecurityFromFlags(values, env, false);
  return { ...(security.password !== undefined ? { password: security.password } : {}), ...(security.tls !== undefined ? { tls: security.tls } : {}) };
}

export const CLIENT_SECURITY_USAGE = `Security (when the cluster uses it):
  --requirepass <pw>         the cluster's client password (or env SEQDB_PASSWORD)
  --tls                      connect over TLS (implied by --tls-ca and --tls-cert)
  --tls-ca <file>            PEM CA bundle to trust (default: Node's built-in roots)
  --tls-cert <file>          PEM client certificate, with --tls-key (if the cluster wants one)
  --tls-key <file>           PEM private key of --tls-cert`;

export const CLUSTER_SECRET_USAGE = `  --cluster-secret <s>       prove the cluster secret instead of sending the password (or env
                             SEQDB_CLUSTER_SECRET; at least ${SECRET_BYTES_MIN} bytes)`;

export interface ClientSecurityFlagValues {
  readonly requirepass?: string | undefined;
  readonly 'cluster-secret'?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly 'tls-ca'?: string | undefined;
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
}

/**
 * Throws Error with a message for the user on a bad combination or an unreadable file. A flag
 * wins over the environment; `useSecret: false` ignores SEQDB_CLUSTER_SECRET (tools whose
 * commands need no internal connection).
 */
export function clientSecurityFromFlags(values: ClientSecurityFlagValues, env: NodeJS.ProcessEnv = process.env, useSecret = true): CallSecurity {
  const password = nonEmpty(values.requirepass ?? env.SEQDB_PASSWORD);
  const secretText = useSecret ? nonEmpty(values['cluster-secret'] ?? env.SEQDB_CLUSTER_SECRET) : undefined;
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together');
  const useTls = values.tls === true || values['tls-ca'] !== undefined || cert !== undefined;
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`--${flag}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const tls: ConnectionOptions | undefined = !useTls ? undefined : {
    ...(values['tls-ca'] !== undefined ? { ca: read('tls-ca', values['tls-ca']) } : {}),
    ...(cert !== undefined ? { cert: read('tls-cert', cert), key: read('tls-key', key!) } : {}),
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
    minVersion: 'TLSv1.2',
  };
  return {
    ...(password !== undefined ? { password } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(secretText !== undefined ? { clusterSecret: new ClusterSecret(secretText) } : {}),
  };
}

/** What a process's own outbound tool connections use: its password, TLS client side and secret. */
export function callSecurityFor(server: { readonly security?: ServerSecurityOptions; readonly tls?: TlsConfig } | undefined): CallSecurity {
  const s = server?.security;
  return {
    ...(s?.password !== undefined ? { password: s.password } : {}),
    ...(server?.tls !== undefined ? { tls: server.tls.client } : {}),
    ...(s?.clusterSecret !== undefined ? { clusterSecret: new ClusterSecret(s.clusterSecret) } : {}),
  };
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}
