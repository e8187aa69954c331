/**
 * Flags every long-running `seqdb` command shares for operations: `--admin-port` (HTTP metrics
 * and, on routers, the status page; off unless given) and `--log-level`.
 */
import { startAdminServer, type AdminServer } from '../shared/observability/admin-server.ts';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger } from '../shared/observability/logger.ts';
import { Metrics } from '../shared/observability/metrics.ts';
import { CliError } from './cli.ts';
import { SHUTDOWN_FLAGS, SHUTDOWN_USAGE } from './stop-signals.ts';

export const OPS_FLAGS = {
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  'log-level': { type: 'string' },
  ...SHUTDOWN_FLAGS,
} as const;

export const OPS_USAGE = `  --admin-port <n>           HTTP port for /metrics (Prometheus) and /healthz; off unless given
                             (0 picks a free one; the address is printed)
  --admin-host <addr>        address for the admin port (default: --host)
  --log-level <level>        trace|debug|info|warn|error|fatal|silent (default info); JSON lines,
                             human-readable when stdout is a terminal
${SHUTDOWN_USAGE}`;

export interface OpsValues {
  readonly 'admin-port'?: string | undefined;
  readonly 'admin-host'?: string | undefined;
  readonly 'log-level'?: string | undefined;
  readonly 'shutdown-timeout-ms'?: string | undefined;
}

export function parseAdminPort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!/^[0-9]+$/.test(text) || port > 65535) throw new CliError(`--admin-port must be 0..65535, got '${text}'`);
  return port;
}

export function makeLogger(values: OpsValues, bindings: Record<string, string>): Logger {
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw new CliError(`--log-level must be one of ${LOG_LEVELS.join('|')}`);
  return createLogger({ level, bindings });
}

/** Starts the admin HTTP server when a port is given, printing where it listens. */
export async function maybeAdmin(port: number | undefined, host: string, metrics: Metrics, label: string): Promise<AdminServer | null> {
  if (port === undefined) return null;
  const admin = await startAdminServer({ host, port, metrics, onFallback: (wanted) => console.log(`${label}: admin port ${wanted} is busy, using a free one`) });
  console.log(`${label} admin listening on http://${admin.address}/metrics`);
  return admin;
}

/**
 * A start step after the servers run (the admin listener) that fails stops them before the error
 * is reported: else they served on until bin/seqdb.ts's fallback exit, which can hang with an
 * LMDB write in flight (shared/exit-now.ts).
 */
export async function stopIfFails<T>(step: Promise<T>, stop: () => Promise<unknown>): Promise<T> {
  try {
    return await step;
  } catch (err) {
    await stop();
    throw err;
  }
}

export { Metrics };
