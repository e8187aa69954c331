/**
 * How a server process (`seqdb node`, `router`, `dev`) stops on SIGTERM or SIGINT: the first
 * signal starts the graceful stop, a second ends the process at once, and so does a graceful stop
 * still running after `--shutdown-timeout-ms`. A stop can wait forever on a disk that no longer
 * answers (a leader's log write in flight on a hard-mounted NFS server that went away: its stop
 * waits for that write, test/disk/io-stall.test.ts); ending then is what a crash does, which the
 * log and stores are built for. A follower blocked inside such a write runs no code at all, this
 * included: only SIGKILL ends it (the README says so).
 */
import { exitNow } from '../shared/exit-now.ts';
import { CliError } from './cli.ts';

/** Default most time a graceful stop may take before the process ends anyway. */
export const SHUTDOWN_TIMEOUT_MS_DEFAULT = 30_000;

export const SHUTDOWN_FLAGS = { 'shutdown-timeout-ms': { type: 'string' } } as const;

export const SHUTDOWN_USAGE = `  --shutdown-timeout-ms <n>  most time a graceful stop (SIGTERM/SIGINT) may take before the
                             process ends at once, as a second signal does (default ${SHUTDOWN_TIMEOUT_MS_DEFAULT})`;

export function parseShutdownTimeout(text: string | undefined, defaultMs = SHUTDOWN_TIMEOUT_MS_DEFAULT): number {
  if (text === undefined) return defaultMs;
  const ms = Number(text);
  if (!/^[0-9]+$/.test(text) || ms < 1 || ms > 3_600_000) throw new CliError(`--shutdown-timeout-ms must be 1..3600000, got '${text}'`);
  return ms;
}

export interface StopOnSignals {
  /** The graceful stop; its rejection makes the exit code 1. */
  readonly close: () => Promise<unknown>;
  readonly timeoutMs: number;
  /** Told of the signal before the stop starts. */
  readonly onSignal: (signal: NodeJS.Signals) => void;
  /** Told of a stop that ran out of time, just before the process ends itself. */
  readonly onTimeout: (timeoutMs: number) => void;
  /** Told why the graceful stop failed (the exit code is then 1). */
  readonly onError: (err: Error) => void;
}

/** Resolves with the exit code once a signal's graceful stop ended (0, or 1 if it failed). */
export function stopOnSignals(o: StopOnSignals): Promise<number> {
  return new Promise((resolveExit) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) exitNow();
      stopping = true;
      o.onSignal(signal);
      const deadline = setTimeout(() => {
        o.onTimeout(o.timeoutMs);
        exitNow();
      }, o.timeoutMs);
      o.close().then(
        () => (clearTimeout(deadline), resolveExit(0)),
        (err: Error) => (clearTimeout(deadline), o.onError(err), resolveExit(1)),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
