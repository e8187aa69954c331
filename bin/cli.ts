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

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
