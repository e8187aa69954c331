/** `seqdb shard list|remove`: the committed shard list, and draining a shard out of it. */
import { CATALOG_SHARD_ID } from '../../node/ownership/catalog.ts';
import { isValidShardId } from '../../node/ownership/cluster-command.ts';
import { CliError, parseFlags, parsePositiveInt, type Subcommand } from '../cli.ts';
import { DIAL_FLAGS, DIAL_USAGE, dialFromFlags, routerFlag, runRebalance } from './rebalance.ts';

const USAGE = `Usage: seqdb shard remove --router H:P --shard ID [--dry-run] [--batch-slots N]

remove: moves every slot of the shard to the others (the same online, resumable moves as
'seqdb rebalance'), then takes it off the committed shard list. Its id cannot register again;
stop its nodes afterwards. Shard ${CATALOG_SHARD_ID} holds the catalog and cannot be removed.

Options:
  --router <h:p>       a router of the cluster
  --shard <id>         the shard to remove
  --dry-run            print the plan, change nothing
  --batch-slots <n>    slots per move (default 1024)
${DIAL_USAGE}
  -h, --help           show this help`;

const FLAGS = {
  ...DIAL_FLAGS,
  router: { type: 'string' },
  shard: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'batch-slots': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const shard: Subcommand = {
  name: 'shard',
  summary: 'remove a shard (drains its slots online first)',
  async run(argv) {
    const [action, ...rest] = argv;
    if (action === '--help' || action === '-h' || action === undefined) {
      console.log(USAGE);
      return action === undefined ? 2 : 0;
    }
    if (action !== 'remove') throw new CliError(`unknown action '${action}' (want: remove)`);
    const { values } = parseFlags(rest, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const id = values.shard;
    if (id === undefined || !isValidShardId(id)) throw new CliError('--shard ID is required (1-64 of [A-Za-z0-9_.-])');
    if (id === CATALOG_SHARD_ID) throw new CliError(`shard ${CATALOG_SHARD_ID} holds the catalog and cannot be removed`);
    const batchSlotsMax = parsePositiveInt('batch-slots', values['batch-slots']);
    return runRebalance({
      router: routerFlag(values.router),
      dial: dialFromFlags(values),
      remove: id,
      dryRun: values['dry-run'] ?? false,
      ...(batchSlotsMax !== undefined ? { batchSlotsMax } : {}),
    });
  },
};

export default shard;
