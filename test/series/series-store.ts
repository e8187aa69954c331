/**
 * A real LMDB state store for the series tests, with `run(timeMs, ...args)`: each command parsed
 * from its words and applied through the log encoding, as a replica applies it under Raft.
 */
import { join } from 'node:path';
import { LmdbStore, StateMachine, decodeCommand, encodeCommand, parseCommand, type CommandResult } from '../../node/state-machine/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';

export type Runner = (timeMs: number, ...args: string[]) => Promise<CommandResult>;

export async function openStore(t: Parameters<typeof tempDir>[0], name = 'db'): Promise<{ store: LmdbStore; run: Runner }> {
  const store = LmdbStore.open({ path: join(await tempDir(t), name) });
  t.teardown(() => store.close());
  const machine = new StateMachine();
  const run: Runner = (timeMs, ...args) => {
    const logged = decodeCommand(encodeCommand(parseCommand(args.map((a) => Buffer.from(a, 'latin1'))), timeMs));
    return store.write((txn) => machine.apply(txn, logged.command, logged.timeMs));
  };
  return { store, run };
}

export const T0 = 1_700_000_000_000;

export function int(result: CommandResult): bigint {
  if (result.type !== 'int') throw new Error(`expected int, got ${JSON.stringify(result)}`);
  return result.value;
}
