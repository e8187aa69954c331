/** The server's `CLUSTER ...` handler: parse, then execute through the engine (i.e. the log). */
import type { Encoded } from '../../shared/protocol/index.ts';
import type { CommandResult } from '../state-machine/command.ts';
import type { Engine } from '../server/engine.ts';
import { parseClusterCommand } from './cluster-command.ts';

export function clusterHandler(
  args: readonly Buffer[],
  engine: Engine,
  toReply: (result: CommandResult) => Encoded,
): { reply: Promise<Encoded> } {
  const command = parseClusterCommand(args.map((arg) => Buffer.from(arg)));
  return { reply: engine.execute(command).then(toReply) };
}
