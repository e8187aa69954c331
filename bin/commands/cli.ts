/** `seqdb cli`: an interactive prompt like redis-cli (client/cli/repl.ts). */
import { parseArgs } from 'node:util';
import { createClient } from '../../client/index.ts';
import { CLIENT_SECURITY_USAGE, DATA_CLIENT_SECURITY_FLAGS, clientAuthFromFlags } from '../../shared/security/client-security.ts';
import { Exit, routersFrom, timeoutFlagProblem } from '../../client/cli/common.ts';
import { defaultHistoryFile } from '../../client/cli/history.ts';
import { runRepl } from '../../client/cli/repl.ts';
import type { Subcommand } from '../cli.ts';

const USAGE = `Usage: seqdb cli [--router H:P]... [--timeout MS]

An interactive prompt: type commands (INC, GET, SET, PING, INFO), "help" or "help <command>",
"quit" or Ctrl-D to leave. Replies read as in redis-cli: (integer) 5, (nil), (error) ….
INC lines without ID get a fresh token, so automatic retries never leave a gap.
History: ~/.seqdb_history ($SEQDB_HISTFILE overrides; empty disables), newest 1000 lines.
With input that is not a terminal, runs each line and prints its reply.
--timeout: each command's overall deadline, retries included (default 15000 ms).
Routers: --router H:P (repeatable or comma-separated), else $SEQDB_ROUTERS, else 127.0.0.1:7379.
${CLIENT_SECURITY_USAGE}`;

export const cli: Subcommand = {
  name: 'cli',
  summary: 'interactive prompt (like redis-cli)',
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: [...argv],
        options: { ...DATA_CLIENT_SECURITY_FLAGS, router: { type: 'string', multiple: true }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
        strict: true,
      }));
    } catch (err) {
      console.error(`seqdb cli: ${(err as Error).message.split('\n')[0]}\n${USAGE}`);
      return Exit.USAGE;
    }
    if (values.help) {
      console.log(USAGE);
      return Exit.OK;
    }
    const timeoutProblem = timeoutFlagProblem(values.timeout);
    if (timeoutProblem !== null) {
      console.error(`seqdb cli: ${timeoutProblem}`);
      return Exit.USAGE;
    }
    let routers;
    let options;
    let client;
    try {
      routers = routersFrom(values.router);
      options = { routers, ...(values.timeout === undefined ? {} : { deadlineMs: Number(values.timeout) }), ...clientAuthFromFlags(values) };
      client = createClient(options);
    } catch (err) {
      console.error(`seqdb cli: ${(err as Error).message}`);
      return Exit.USAGE;
    }
    try {
      // A password typed at the prompt (AUTH) holds for the connections the session makes later too.
      const withPassword = (password: string) => createClient({ ...options, password });
      await runRepl({ client, withPassword, label: routers[0]!, input: process.stdin, output: process.stdout, historyFile: defaultHistoryFile() });
    } finally {
      client.destroy();
    }
    return Exit.OK;
  },
};
