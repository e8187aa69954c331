/**
 * The `seqdb` command: dispatches to a subcommand from bin/commands/. To add one, write
 * bin/commands/<name>.ts exporting a Subcommand and add it to SUBCOMMANDS.
 */
import { CliError, type Subcommand } from './cli.ts';
import { dev } from './commands/dev.ts';
import { node } from './commands/node.ts';
import { inc } from './commands/inc.ts';
import { get } from './commands/get.ts';
import { set } from './commands/set.ts';
import { cli } from './commands/cli.ts';
import { status } from './commands/status.ts';
import { router } from './commands/router.ts';
import { rebalanceCommand } from './commands/rebalance.ts';
import { shard } from './commands/shard.ts';
import { backup } from './commands/backup.ts';
import { restore } from './commands/restore.ts';
import { audit } from './commands/audit.ts';

const SUBCOMMANDS: readonly Subcommand[] = [dev, node, router, inc, get, set, cli, status, rebalanceCommand, shard, backup, restore, audit];

function usage(): string {
  const width = Math.max(...SUBCOMMANDS.map((s) => s.name.length));
  const lines = SUBCOMMANDS.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`);
  return `Usage: seqdb <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'seqdb <command> --help' for a command's options.`;
}

function ignoreClosedOutput(): void {
  // A reader of our stdout/stderr that went away (a dead dev process, a closed pipe) made the
  // next log line an uncaught EPIPE, and a node ended by exitNow instead of its shutdown.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
}

/**
 * Node processes of `seqdb dev --nodes/--shards` must not outlive the dev process, even one killed
 * with -9 (which runs no cleanup): their stdin is a pipe from it, so EOF there means it is gone.
 */
function exitWithParent(): () => void {
  if (process.env.SEQDB_EXIT_WITH_PARENT !== '1') return () => {};
  process.stdin.on('error', () => {});
  process.stdin.once('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
  // Once the command is done the open pipe must not hold the event loop (it did, until the 2 s
  // fallback below: ~2 s more for every stop of a dev cluster's node).
  return () => process.stdin.destroy();
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const subcommand = SUBCOMMANDS.find((s) => s.name === name);
  if (subcommand === undefined) {
    console.error(`seqdb: unknown command '${name}' (run 'seqdb --help')`);
    return 2;
  }
  try {
    return await subcommand.run(rest);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    console.error(`seqdb ${name}: ${error.message}`);
    return 2;
  }
}

ignoreClosedOutput();
const stopWatchingParent = exitWithParent();
process.exitCode = await main(process.argv.slice(2)).catch((error: Error) => {
  console.error(`seqdb: ${error.message}`);
  return 1;
});
stopWatchingParent();
// Anything still holding the event loop open after a clean finish must not keep us alive; said
// on stderr, since whatever it is should have been closed (a test asserts a stop never needs it).
setTimeout(() => {
  console.error('seqdb: still running 2 s after finishing (an open handle); exiting');
  process.exit();
}, 2000).unref();
