/** `seqdb restore --in FILE --data DIR`: a data directory that continues where the backup stood. */
import { resolve } from 'node:path';
import { restore as runRestore } from '../../node/backup/restore.ts';
import { CliError, parseFlags, type Subcommand } from '../cli.ts';
import { exitNowOnUncaught } from '../../shared/exit-now.ts';

const USAGE = `Usage: seqdb restore --in FILE --data DIR [--shard ID,...]

Prepares DIR (which must be new or empty) from a 'seqdb backup' file: start it with
'seqdb dev --data DIR', or as the first node of a new shard with
'seqdb node --data DIR --bootstrap-expect 1 ...' (later nodes --join it and receive the state).
The chosen shards (default: all) are merged into one state that owns every bucket; every
sequence continues exactly where the backup stood.

Options:
  --in <file>           backup file
  --data <dir>          data directory to create
  --shard <id,...>      restore only these shards of the backup
  -h, --help            show this help`;

const FLAGS = {
  in: { type: 'string' },
  data: { type: 'string' },
  shard: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const restore: Subcommand = {
  name: 'restore',
  summary: 'prepare a data directory from a backup file',
  async run(argv) {
    const { values } = parseFlags(argv, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    // It writes LMDB: a crash must end it even with a write in flight (shared/exit-now.ts).
    exitNowOnUncaught();
    if (!values.in) throw new CliError('--in FILE is required');
    if (!values.data) throw new CliError('--data DIR is required');
    const shards = values.shard?.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const r = await runRestore({ in: resolve(values.in), dataDir: resolve(values.data), ...(shards ? { shards } : {}) });
    console.log(`seqdb restore: shard(s) ${r.shards.join(', ')} -> ${resolve(values.data)}: ${r.sequences} sequences, ${r.tokens} tokens (backup of ${r.manifest.createdAt})`);
    return 0;
  },
};

export default restore;
