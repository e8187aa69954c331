/** `seqdb get`: see client/cli/data-commands.ts for flags and exit codes. */
import { runDataCommand } from '../../client/cli/data-commands.ts';
import type { Subcommand } from '../cli.ts';

export const get: Subcommand = {
  name: 'get',
  summary: 'print the current value of a sequence',
  run: (argv) => runDataCommand('get', argv),
};
