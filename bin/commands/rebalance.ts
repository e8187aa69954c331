/** `seqdb rebalance`: moves slots so the placement matches the ring over the committed shards. */
import { formatReport, rebalance, type RebalanceOptions } from '../../node/rebalance/rebalance.ts';
import { progressSink } from '../../node/rebalance/progress.ts';
import type { MoveSpec, MoveStep } from '../../node/rebalance/mover.ts';
import { CliError, parseFlags, parsePositiveInt, type Subcommand } from '../cli.ts';
import { securityFromFlags, type SecurityFlagValues } from '../../shared/security/cli-flags.ts';
import { internalDialOptions, type InternalDialOptions } from '../../shared/security/internal-options.ts';

/** How to reach a cluster that uses a secret and/or TLS (the same values as its nodes'). */
export const DIAL_FLAGS = {
  'cluster-secret': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
} as const;

export const DIAL_USAGE = `  --cluster-secret <s> the cluster's secret, if it has one (or env SEQDB_CLUSTER_SECRET)
  --tls-cert <file>    with --tls-key, --tls-ca: the cluster's TLS material, if it uses TLS
  --tls-key <file>
  --tls-ca <file>`;

export function dialFromFlags(values: SecurityFlagValues): InternalDialOptions {
  try {
    return internalDialOptions(securityFromFlags(values).server);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

const USAGE = `Usage: seqdb rebalance --router H:P [--dry-run] [--batch-slots N]

Places new (registered, slot-less) shards in the plan and moves slots until every slot lives
where the ring over the committed shards puts it (about 1/N of the slots when the N-th shard
is added). Each move freezes a batch of slots on its source (writes wait, routers retry), copies
their sequences and exactly-once tokens to the target, flips the owner in the catalog and
releases the source. Safe to interrupt: running it again finishes or rolls back the move in
progress.

Options:
  --router <h:p>       a router of the cluster (the catalog is found through it)
  --dry-run            print the plan, change nothing
  --batch-slots <n>    slots per move (default 1024)
${DIAL_USAGE}
  -h, --help           show this help`;

const FLAGS = {
  ...DIAL_FLAGS,
  router: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'batch-slots': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function routerFlag(text: string | undefined): string {
  if (text === undefined) throw new CliError('--router H:P is required');
  if (!/^[^\s:]+:\d{1,5}$/.test(text)) throw new CliError(`--router: bad address '${text}' (want host:port)`);
  return text;
}

/** Refusals of access: running again does not help, the secret or password does. */
const ACCESS_REFUSED = /\b(NOPERM|NOAUTH|WRONGPASS)\b/;

/** Runs a rebalance with progress on stdout; shared with `seqdb shard remove`. */
export async function runRebalance(options: Omit<RebalanceOptions, 'log' | 'progress'>): Promise<number> {
  const progress = progressSink(process.stdout);
  const exitAfter = process.env.SEQDB_TEST_REBALANCE_EXIT_AFTER;
  // Test hook: `<step>` or `<step>@<source shard>`: die like a killed process (no cleanup)
  // right after that step of a move committed.
  const [exitStep, exitFrom] = (exitAfter ?? '').split('@');
  const afterStep = exitAfter === undefined ? undefined : (step: MoveStep, move: MoveSpec): void => {
    if (step === exitStep && (exitFrom === undefined || move.from === exitFrom)) process.exit(9);
  };
  try {
    const report = await rebalance({
      ...options,
      progress,
      log: (line) => {
        progress.finish();
        console.log(line);
      },
      ...(afterStep ? { afterStep } : {}),
    });
    progress.finish();
    if (!options.dryRun) console.log(formatReport(report));
    return 0;
  } catch (err) {
    progress.finish();
    const message = (err as Error).message;
    console.error(`seqdb rebalance: ${message}`);
    // Only a run that may have begun a move leaves one to finish: not a dry run, not one refused
    // its access (the dry run without the secret told of a move in progress that did not exist).
    if (!options.dryRun && !ACCESS_REFUSED.test(message)) console.error('run it again to finish or roll back the move in progress');
    return 1;
  }
}

export const rebalanceCommand: Subcommand = {
  name: 'rebalance',
  summary: 'move slots onto new shards (online, resumable)',
  async run(argv) {
    const { values } = parseFlags(argv, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const batchSlotsMax = parsePositiveInt('batch-slots', values['batch-slots']);
    if (batchSlotsMax !== undefined && batchSlotsMax > 16384) throw new CliError('--batch-slots must be at most 16384');
    return runRebalance({
      router: routerFlag(values.router),
      dial: dialFromFlags(values),
      dryRun: values['dry-run'] ?? false,
      ...(batchSlotsMax !== undefined ? { batchSlotsMax } : {}),
    });
  },
};

export default rebalanceCommand;
