/**
 * Commands applied as a replica applies them: through the log encoding, with a log time that
 * moves on by 1 ms per command (one StateMachine per test file), plus builders of the commands
 * the slot-move and backup tests send.
 */
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { StateMachine, decodeCommand, encodeCommand, type Command, type CommandResult, type KvTxn } from '../../node/state-machine/index.ts';

const machine = new StateMachine();
let clockMs = 1_000;

export function apply(kv: KvTxn, c: Command): CommandResult {
  const d = decodeCommand(encodeCommand(c, clockMs++));
  return machine.apply(kv, d.command, d.timeMs);
}

/** `CLUSTER <args>` as a command. */
export function cluster(...args: string[]): Command {
  return parseClusterCommand(['CLUSTER', ...args].map((x) => Buffer.from(x)));
}

/** `INC <bucket> s [ID <id>]`. */
export function inc(bucket: string, id?: string): Command {
  return { type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from('s'), count: 1, ...(id ? { token: Buffer.from(id) } : {}) };
}
