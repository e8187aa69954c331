import { parseArgs } from 'node:util';
import { createClient } from '../index.ts';
import { CLIENT_SECURITY_USAGE, DATA_CLIENT_SECURITY_FLAGS, clientAuthFromFlags } from '../../shared/security/client-security.ts';
import { describeError, Exit, exitCodeFor, routersFrom, shellWord, timeoutFlagProblem } from './common.ts';

type Kind = 'inc' | 'get' | 'set';

const SYNTAX: Record<Kind, string> = {
  inc: 'seqdb inc BUCKET SEQUENCE [--count N] [--id TOKEN] [--router H:P]... [--timeout MS]',
  get: 'seqdb get BUCKET SEQUENCE [--router H:P]... [--timeout MS]',
  set: 'seqdb set BUCKET SEQUENCE VALUE [--router H:P]... [--timeout MS]',
};

const ABOUT: Record<Kind, string> = {
  inc: 'Takes the next number (or N numbers, printing the last) exactly once: retried with one token\n' +
    'until it succeeds or the deadline passes; then exit 3 and the token to retry with.',
  get: 'Prints the current value, or nothing (empty output, exit 0) if the sequence does not exist.',
  set: 'Sets the sequence to VALUE (0..9223372036854775807) and prints OK.',
};

export const EXIT_CODES_HELP = `--timeout MS: overall deadline, retries included (default 15000).
Exit codes: 0 ok; 1 server error (the server refused: syntax, range, token expired);
  2 usage (bad arguments, nothing sent); 3 outcome unknown or no router reachable before the deadline.
Routers: --router H:P (repeatable or comma-separated), else $SEQDB_ROUTERS, else 127.0.0.1:7379.
${CLIENT_SECURITY_USAGE}`;

export function dataUsage(kind: Kind): string {
  return `Usage: ${SYNTAX[kind]}\n\n${ABOUT[kind]}\n\n${EXIT_CODES_HELP}`;
}

const FLAGS = {
  ...DATA_CLIENT_SECURITY_FLAGS,
  router: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  count: { type: 'string' },
  id: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `seqdb inc|get|set …`: prints the bare value on stdout, reasons on stderr; see Exit. */
export async function runDataCommand(kind: Kind, argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: true });
  } catch (err) {
    return usage(kind, (err as Error).message.split('\n')[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(dataUsage(kind));
    return Exit.OK;
  }
  const arity = kind === 'set' ? 3 : 2;
  if (positionals.length !== arity) return usage(kind, `expected ${arity} arguments, got ${positionals.length}`);
  if (kind !== 'inc' && (values.count !== undefined || values.id !== undefined)) {
    return usage(kind, '--count and --id apply to inc only');
  }
  const timeoutProblem = timeoutFlagProblem(values.timeout);
  if (timeoutProblem !== null) return usage(kind, timeoutProblem);
  const count = values.count === undefined ? undefined : Number(values.count);
  if (values.count !== undefined && !/^\d+$/.test(values.count)) return usage(kind, '--count must be a positive integer');
  const value = positionals[2];
  if (kind === 'set' && !/^\d{1,19}$/.test(value!)) return usage(kind, 'VALUE must be a decimal integer 0..9223372036854775807');

  let client;
  try {
    const deadline = values.timeout === undefined ? {} : { deadlineMs: Number(values.timeout) };
    client = createClient({ routers: routersFrom(values.router), ...deadline, ...clientAuthFromFlags(values) });
  } catch (err) {
    return usage(kind, describeError(err));
  }
  const [bucket, sequence] = positionals as [string, string];
  try {
    if (kind === 'inc') {
      console.log(String(await client.inc(bucket, sequence, { ...(count === undefined ? {} : { count }), ...(values.id === undefined ? {} : { id: values.id }) })));
    } else if (kind === 'get') {
      const current = await client.get(bucket, sequence);
      if (current !== null) console.log(String(current));
    } else {
      await client.set(bucket, sequence, BigInt(value!));
      console.log('OK');
    }
    return Exit.OK;
  } catch (err) {
    const retry = (token: string): string =>
      `seqdb inc ${shellWord(bucket)} ${shellWord(sequence)}${count === undefined ? '' : ` --count ${count}`} --id ${shellWord(token)}`;
    console.error(`seqdb ${kind}: ${describeError(err, retry)}`);
    return exitCodeFor(err);
  } finally {
    client.destroy();
  }
}

function usage(kind: Kind, reason: string): number {
  console.error(`seqdb ${kind}: ${reason}\nUsage: ${SYNTAX[kind]}`);
  return Exit.USAGE;
}
