/** `seqdb inc`: see client/cli/data-commands.ts for flags and exit codes. */
import { runDataCommand } from '../../client/cli/data-commands.ts';
import type { Subcommand } from '../cli.ts';

export const inc: Subcommand = {
  name: 'inc',
  summary: 'take the next number of a sequence, exactly once',
  run: (argv) => runDataCommand('inc', argv),
};
