/**
 * What every `seqdb` subcommand shares: the Subcommand shape, strict flag parsing with one-line
 * errors, and value checks. A CliError's message is printed as `seqdb <cmd>: <message>` and the
 * process exits 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Subcommand {
  readonly name: string;
  /** One line for `seqdb --help`. */
  readonly summary: string;
  /** Runs with the arguments after the subcommand name; resolves with the exit code. */
  run(argv: readonly string[]): Promise<number>;
}

export class CliError extends Error {
  override readonly name = 'CliError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode; any parse failure becomes a one-line CliError. */
export function parseFlags<T extends Options>(argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new CliError(firstLine((error as Error).message));
  }
}

export function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!/^[0-9]+$/.test(text) || port > 65535) throw new CliError(`--port must be 0..65535, got '${text}'`);
  return port;
}

export function parsePositiveInt(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new CliError(`--${flag} must be a positive integer, got '${text}'`);
  }
  return value;
}

/** Most MiB `--disk-reserve-mb` may ask for (1 TiB). */
export const DISK_RESERVE_MB_MAX = 1 << 20;

/** `--disk-reserve-mb <n>` as bytes: 0 turns the guard off; undefined when not given. */
/** An integer flag in [min, max], or undefined when absent. */
export function parseIntInRange(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new CliError(`--${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

export function parseDiskReserve(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !(value <= DISK_RESERVE_MB_MAX)) {
    throw new CliError(`--disk-reserve-mb must be an integer in 0..${DISK_RESERVE_MB_MAX}, got '${text}'`);
  }
  return value * 1024 * 1024;
}

/** The usage line of --disk-reserve-mb, shared by `seqdb node` and `seqdb dev`. */
export const DISK_RESERVE_USAGE = `  --disk-reserve-mb <n>      free space (MiB) of the data dir's file system under which writes
                             get -NOSPACE (nothing taken) until twice as much is free again;
                             a shard's node also stops taking log entries and hands its
                             leadership over (default 64; 0 off)`;

/** The usage line of --move-idle-ms, shared by `seqdb node` and `seqdb dev`. */
export const MOVE_IDLE_USAGE = `  --move-idle-ms <n>         the catalog shard's leader finishes or rolls back a slot move whose
                             record has not changed this long (its coordinator died; default 30000)`;

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
