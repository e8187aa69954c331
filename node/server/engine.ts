/**
 * What the TCP server needs from whatever executes commands: the single-node executor
 * (node/single/) today, a Raft-replicated node later. The server never touches storage.
 */
import type { Command, CommandResult, IncCommand } from '../state-machine/index.ts';

/**
 * Told of every command the server ran through the engine, with its latency from dispatch to
 * result (e.g. Metrics.observeCommand). Called inside the step that encodes the reply, so
 * observing adds no promise hop per command.
 */
export type CommandObserver = (command: Command, result: CommandResult, seconds: number) => void;

export interface Engine {
  /**
   * Executes one command. Commands submitted in order are applied in that order; the promise
   * resolves only once the result is durable (writes) or reflects every write acknowledged
   * before the call (reads). Never rejects: failures are `error` results.
   */
  execute(command: Command): Promise<CommandResult>;
  /**
   * A plain INC (no ID, no COUNT) without a promise hop: `done` gets its result, later or at
   * once, exactly once, and never throws. The command's buffers are views into the client's
   * socket chunks, valid only during this call: the engine copies what it keeps. Optional (the
   * router has it: most of its per-INC cost was allocations and promise hops); without it the
   * server uses execute().
   */
  executeInc?(command: IncCommand, done: (result: CommandResult) => void): void;
  /** Extra `key:value` lines for INFO (e.g. role, sequences). */
  info(): Readonly<Record<string, string | number>>;
  /** Stops accepting, finishes what was accepted, releases storage. */
  close(): Promise<void>;
  /**
   * Commands this engine adds to the table (e.g. SEQDB.TRANSFER on a replicated node): given the
   * lower-case command name, a handler, or undefined when the engine has no such command.
   */
  extraCommand?(name: string): ((args: readonly Buffer[]) => Promise<CommandResult>) | undefined;
}
