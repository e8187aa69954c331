/** `seqdb set`: see client/cli/data-commands.ts for flags and exit codes. */
import { runDataCommand } from '../../client/cli/data-commands.ts';
import type { Subcommand } from '../cli.ts';

export const set: Subcommand = {
  name: 'set',
  summary: 'set a sequence to a value',
  run: (argv) => runDataCommand('set', argv),
};
