/** `seqdb router`: a stateless router in front of the shards of a cluster. */
import { startRouter } from '../../router/router.ts';
import { BLOCK_PARTS_MAX, INCS_SEQUENCES_MAX } from '../../shared/protocol/part-token.ts';
import { CliError, parseFlags, parsePort, type Subcommand } from '../cli.ts';
import { OPS_FLAGS, Metrics, makeLogger, parseAdminPort, stopIfFails } from '../ops-flags.ts';
import { SHUTDOWN_TIMEOUT_MS_DEFAULT, parseShutdownTimeout, stopOnSignals } from '../stop-signals.ts';
import { startAdminForRouter } from '../../router/admin/router-admin.ts';
import { lineLogger } from '../../shared/observability/logger.ts';
import { SECURITY_FLAGS, SECURITY_USAGE, securityFromFlags } from '../../shared/security/cli-flags.ts';

const USAGE = `Usage: seqdb router --host IP --port PORT [--join H:P,...] [--cluster NAME]

Speaks the client protocol and forwards each command to the leader of the shard owning its
bucket. Keeps no data: run as many as you like, restart them at will.

Options:
  --host <ip>          address to listen on; mDNS is pinned to its interface (default 127.0.0.1)
  --port <n>           TCP port for clients (default 7379; 0 picks a free one)
  --join <h:p,...>     node addresses to fetch the catalog from (include a node of shard 1);
                       without it the router finds the nodes with mDNS
  --cluster <name>     cluster name (default seqdb): other clusters on the network are ignored
  --deadline-ms <n>    most time one command may take, retries included (default 5000)
  --inc-block-max <n>  most concurrent plain INCs of one sequence sent as one block
                       (default 1024; 0 sends each INC alone)
  --incs-max <n>       most concurrent plain INCs of different sequences of one bucket sent as
                       one INCS (up to ${INCS_SEQUENCES_MAX} and --inc-block-max; default ${INCS_SEQUENCES_MAX}; 0: only
                       INCs of one sequence merge). A shard runs INCS only once all its nodes
                       can; until then its INCs go one at a time (--inc-block-max 0 turns both off)
  --admin-port <n>     HTTP port for the status page (/), /status.json, /metrics; off unless given
  --admin-host <addr>  address for the admin port (default: --host)
  --log-level <level>  trace|debug|info|warn|error|fatal|silent (default info)
  --shutdown-timeout-ms <n>  most time a graceful stop (SIGTERM/SIGINT) may take before the
                       process ends at once, as a second signal does (default 30000, or
                       --deadline-ms + 2000 if longer: commands in flight are waited for)
  -h, --help           show this help

${SECURITY_USAGE}`;

const FLAGS = {
  host: { type: 'string' },
  port: { type: 'string' },
  join: { type: 'string' },
  cluster: { type: 'string' },
  'deadline-ms': { type: 'string' },
  'inc-block-max': { type: 'string' },
  'incs-max': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...SECURITY_FLAGS,
  ...OPS_FLAGS,
} as const;

/** An optional integer flag in 0..max. */
function countFlag(text: string | undefined, flag: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new CliError(`${flag} must be an integer in 0..${max}`);
  return n;
}

export const router: Subcommand = {
  name: 'router',
  summary: 'run a stateless router in front of a sharded cluster',
  async run(argv) {
    const { values } = parseFlags(argv, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const host = values.host ?? '127.0.0.1';
    const cluster = values.cluster ?? 'seqdb';
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(cluster)) throw new CliError('--cluster must be 1-32 of [a-z0-9-], starting with a letter or digit');
    const join = (values.join ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const a of join) if (!/^[^\s:]+:\d{1,5}$/.test(a)) throw new CliError(`--join: bad address '${a}' (want host:port)`);
    const deadlineText = values['deadline-ms'];
    const deadlineMs = deadlineText === undefined ? undefined : Number(deadlineText);
    if (deadlineMs !== undefined && (!Number.isInteger(deadlineMs) || deadlineMs < 100 || deadlineMs > 600_000)) {
      throw new CliError('--deadline-ms must be an integer in 100..600000');
    }
    const incBlockMax = countFlag(values['inc-block-max'], '--inc-block-max', BLOCK_PARTS_MAX);
    const incsMax = countFlag(values['incs-max'], '--incs-max', INCS_SEQUENCES_MAX);
    const security = cliSecurity(values);
    const adminPort = parseAdminPort(values['admin-port']);
    const shutdownTimeoutMs = parseShutdownTimeout(values['shutdown-timeout-ms'], Math.max(SHUTDOWN_TIMEOUT_MS_DEFAULT, (deadlineMs ?? 0) + 2000));
    const logger = makeLogger(values, { role: 'router' });
    const metrics = new Metrics({ component: 'router' });
    const r = await startRouter({
      log: lineLogger(logger), metrics,
      host, port: parsePort(values.port, 7379), join, cluster, server: security.server,
      forwarder: {
        ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        ...(incBlockMax !== undefined ? { incBlockMax } : {}),
        ...(incsMax !== undefined ? { incsMax } : {}),
      },
    });
    console.log(`seqdb router listening on ${r.address} (cluster ${cluster}, ${join.length > 0 ? `join ${join.join(',')}` : 'mDNS discovery'})`);
    const admin = adminPort === undefined ? null : await stopIfFails(startAdminForRouter(r, { host: values['admin-host'] ?? host, port: adminPort, metrics, cluster }), () => r.close());
    if (admin) console.log(`seqdb router status page on http://${admin.address}/ (metrics: /metrics)`);
    return stopOnSignals({
      close: () => Promise.all([r.close(), admin?.close()]),
      timeoutMs: shutdownTimeoutMs,
      onSignal: (signal) => logger.info({ event: 'shutdown', signal }, `seqdb router: ${signal}, shutting down`),
      onTimeout: (ms) => logger.error({ event: 'shutdown_timeout', ms }, `seqdb router: shutdown did not finish within ${ms} ms; exiting now`),
      onError: (err) => console.error(`seqdb router: shutdown failed: ${err.message}`),
    });
  },
};

function cliSecurity(values: Parameters<typeof securityFromFlags>[0]): ReturnType<typeof securityFromFlags> {
  try {
    return securityFromFlags(values);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

export default router;
