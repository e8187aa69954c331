/** The server's `CLUSTER ...` handler: parse, then execute through the engine (i.e. the log). */
import type { Encoded } from '../../shared/protocol/index.ts';
import type { Command } from '../state-machine/command.ts';
import { parseClusterCommand } from './cluster-command.ts';

/** `execute` runs a command through the engine and encodes its result (commands.ts). */
export function clusterHandler(args: readonly Buffer[], execute: (command: Command) => Promise<Encoded>): { reply: Promise<Encoded> } {
  return { reply: execute(parseClusterCommand(args.map((arg) => Buffer.from(arg)))) };
}
