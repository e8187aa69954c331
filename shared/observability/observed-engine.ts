/**
 * An Engine decorator: times and counts every command into Metrics, and adds the internal
 * SEQDB.EXPORT command (`seqdb backup` asks each shard's leader for a consistent image).
 * Everything else is passed through unchanged, so the server cannot tell it is there.
 */
import type { Engine } from '../../node/server/engine.ts';
import type { Command, CommandResult } from '../../node/state-machine/index.ts';
import type { Metrics } from './metrics.ts';

export interface ObservedEngineOptions {
  readonly metrics?: Metrics;
  /** SEQDB.EXPORT (node/backup/export.ts); absent: no such command. */
  readonly exporter?: { handle(args: readonly Buffer[]): Promise<CommandResult> };
}

export const EXPORT_COMMAND = 'seqdb.export';

export function observeEngine(inner: Engine, o: ObservedEngineOptions): Engine {
  const metrics = o.metrics;
  const execute = metrics === undefined
    ? (command: Command) => inner.execute(command)
    : async (command: Command): Promise<CommandResult> => {
        const startedMs = performance.now(); // a double, no BigInt per command
        const result = await inner.execute(command);
        metrics.observeCommand(command.type, result.type === 'error' ? result.code : 'ok', (performance.now() - startedMs) / 1000);
        return result;
      };
  return {
    execute,
    info: () => inner.info(),
    close: () => inner.close(),
    extraCommand(name) {
      if (name === EXPORT_COMMAND && o.exporter !== undefined) {
        const exporter = o.exporter;
        return (args) => exporter.handle(args);
      }
      return inner.extraCommand?.(name);
    },
  };
}
