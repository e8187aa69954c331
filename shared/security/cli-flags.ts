/**
 * The security flags shared by `seqdb dev`, `seqdb node` and `seqdb router`, and what they turn
 * into. Secrets may come from the environment instead (SEQDB_PASSWORD, SEQDB_CLUSTER_SECRET), which
 * keeps them out of `ps` output; a flag wins over the environment.
 */
import { ClusterSecret, SECRET_BYTES_MIN } from './cluster-proof.ts';
import type { ServerSecurityOptions } from './server-gate.ts';
import { loadTls, type TlsConfig } from './tls-config.ts';

export const SECURITY_FLAGS = {
  requirepass: { type: 'string' },
  'cluster-secret': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  timeout: { type: 'string' },
  'tcp-keepalive': { type: 'string' },
  maxclients: { type: 'string' },
} as const;

export const SECURITY_USAGE = `Security:
  --requirepass <pw>         clients must AUTH with this password (or env SEQDB_PASSWORD)
  --cluster-secret <s>       nodes and routers prove this secret to each other (or env
                             SEQDB_CLUSTER_SECRET; at least ${SECRET_BYTES_MIN} bytes)
  --tls-cert <file>          serve TLS with this PEM certificate (with --tls-key)
  --tls-key <file>           PEM private key of --tls-cert
  --tls-ca <file>            PEM CA bundle trusted for cluster peers
  --timeout <s>              close clients idle this many seconds (default 0 = never)
  --tcp-keepalive <s>        TCP keepalive of client connections after this many idle seconds,
                             so that a client whose host vanished is closed (default 300, as
                             Redis; then the system's probes, Linux: 9 every 75 s; 0 off)
  --maxclients <n>           client connections beyond which new ones get -BUSY (default
                             10000; a hostile half-sent request costs ~125 KB each)`;

/** Most client connections `--maxclients` may allow (each costs a file descriptor). */
export const MAXCLIENTS_MAX = 1_000_000;

export interface SecurityFlagValues {
  readonly requirepass?: string | undefined;
  readonly 'cluster-secret'?: string | undefined;
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'tls-ca'?: string | undefined;
  readonly timeout?: string | undefined;
  readonly 'tcp-keepalive'?: string | undefined;
  readonly maxclients?: string | undefined;
}

/** What the flags configure; `server` spreads into ServerOptions. */
export interface SecuritySettings {
  readonly server: { security?: ServerSecurityOptions; tls?: TlsConfig; idleTimeoutMs?: number; tcpKeepAliveMs?: number; connectionsMax?: number };
  readonly password: string | undefined;
  readonly clusterSecret: string | undefined;
  readonly tlsFiles: { cert: string; key: string; ca?: string } | undefined;
}

/** Throws Error with a message for the user on a bad combination. */
export function securityFromFlags(values: SecurityFlagValues, env: NodeJS.ProcessEnv = process.env): SecuritySettings {
  const password = nonEmpty(values.requirepass ?? env.SEQDB_PASSWORD);
  const clusterSecret = nonEmpty(values['cluster-secret'] ?? env.SEQDB_CLUSTER_SECRET);
  if (clusterSecret !== undefined) new ClusterSecret(clusterSecret); // validates the length
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together');
  if (values['tls-ca'] !== undefined && cert === undefined) throw new Error('--tls-ca needs --tls-cert and --tls-key');
  const tlsFiles = cert === undefined ? undefined : { cert, key: key!, ...(values['tls-ca'] !== undefined ? { ca: values['tls-ca'] } : {}) };
  let idleTimeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const seconds = Number(values.timeout);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 31_536_000) throw new Error('--timeout must be whole seconds in 0..31536000');
    idleTimeoutMs = seconds * 1000;
  }
  let tcpKeepAliveMs: number | undefined;
  if (values['tcp-keepalive'] !== undefined) {
    const seconds = /^\d{1,5}$/.test(values['tcp-keepalive']) ? Number(values['tcp-keepalive']) : NaN;
    if (!(seconds <= 86_400)) throw new Error('--tcp-keepalive must be whole seconds in 0..86400');
    tcpKeepAliveMs = seconds * 1000;
  }
  let connectionsMax: number | undefined;
  if (values.maxclients !== undefined) {
    connectionsMax = /^[1-9]\d{0,6}$/.test(values.maxclients) ? Number(values.maxclients) : NaN;
    if (!(connectionsMax <= MAXCLIENTS_MAX)) throw new Error(`--maxclients must be an integer in 1..${MAXCLIENTS_MAX}`);
  }
  const security = password === undefined && clusterSecret === undefined ? undefined : {
    ...(password !== undefined ? { password } : {}),
    ...(clusterSecret !== undefined ? { clusterSecret } : {}),
  };
  return {
    server: {
      ...(security !== undefined ? { security } : {}),
      ...(tlsFiles !== undefined ? { tls: loadTls(tlsFiles) } : {}),
      ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
      ...(tcpKeepAliveMs !== undefined ? { tcpKeepAliveMs } : {}),
      ...(connectionsMax !== undefined ? { connectionsMax } : {}),
    },
    password,
    clusterSecret,
    tlsFiles,
  };
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}
