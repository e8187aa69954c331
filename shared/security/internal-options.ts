/**
 * Derives what a process's outbound internal connections (router -> node, shard agent -> node)
 * need from its server options: the same cluster secret and TLS material it serves with.
 */
import { ClusterSecret } from './cluster-proof.ts';
import type { ServerSecurityOptions } from './server-gate.ts';
import type { TlsConfig } from './tls-config.ts';

export interface InternalDialOptions {
  /** The dialer's cluster: a node of another one is not used (SEQDB.IDENT). Default: not checked. */
  readonly cluster?: string;
  readonly clusterSecret?: ClusterSecret;
  readonly tls?: TlsConfig;
  readonly log?: (line: string) => void;
}

export function internalDialOptions(
  server: { readonly security?: ServerSecurityOptions; readonly tls?: TlsConfig } | undefined,
  log?: (line: string) => void,
  cluster?: string,
): InternalDialOptions {
  const secret = server?.security?.clusterSecret;
  return {
    ...(cluster !== undefined ? { cluster } : {}),
    ...(secret !== undefined ? { clusterSecret: new ClusterSecret(secret) } : {}),
    ...(server?.tls !== undefined ? { tls: server.tls } : {}),
    ...(log !== undefined ? { log } : {}),
  };
}
