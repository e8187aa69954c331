import { DEADLINE_MS_MAX } from '../options.ts';
import { ClientErrorCode, ClientError, FORGOTTEN_TOKEN_ADVICE, OutcomeUnknownError, ServerError, invalidArgument } from '../errors.ts';

/**
 * Exit codes of `seqdb inc|get|set|status`, for scripts:
 * 0 success; 1 the server answered with an error (syntax, range, token expired …; or `status`
 * found something unhealthy); 2 usage error (bad flags or arguments, nothing sent);
 * 3 outcome unknown or unreachable (deadline passed; an INC prints the token to retry with).
 */
export const Exit = { OK: 0, SERVER: 1, USAGE: 2, UNKNOWN: 3 } as const;
export type Exit = (typeof Exit)[keyof typeof Exit];

export const DEFAULT_ROUTER = '127.0.0.1:7379';

/** --router flags (repeatable, or comma-separated), else $SEQDB_ROUTERS, else 127.0.0.1:7379. */
export function routersFrom(flags: readonly string[] | undefined): string[] {
  const entries = (flags ?? []).flatMap((f) => f.split(',')).map((s) => s.trim());
  // An empty flag (`--router "$UNSET"`, `--router ,`) went to $SEQDB_ROUTERS or the default
  // router: a SET meant for one cluster rewound another's sequence (a review).
  if (entries.some((s) => s === '')) throw invalidArgument('--router must name host:port addresses, got an empty one');
  const given = entries;
  if (given.length > 0) return given;
  const fromEnv = (process.env.SEQDB_ROUTERS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  return fromEnv.length > 0 ? fromEnv : [DEFAULT_ROUTER];
}

/** Why a `--timeout` flag is not a deadline in 1..DEADLINE_MS_MAX ms, or null when it is. */
export function timeoutFlagProblem(value: string | undefined): string | null {
  if (value === undefined || (/^[1-9]\d{0,6}$/.test(value) && Number(value) <= DEADLINE_MS_MAX)) return null;
  return `--timeout must be an integer number of ms in 1..${DEADLINE_MS_MAX}`;
}

/** The exit code for an error a client call rejected with. */
export function exitCodeFor(err: unknown): Exit {
  if (!(err instanceof ClientError)) return Exit.UNKNOWN;
  switch (err.code) {
    case ClientErrorCode.SERVER:
    case ClientErrorCode.TOKEN_EXPIRED:
      return Exit.SERVER;
    case ClientErrorCode.INVALID_ARGUMENT:
      return Exit.USAGE;
    default:
      return Exit.UNKNOWN;
  }
}

/** One line for stderr; an unknown INC outcome names the token to finish it with. */
export function describeError(err: unknown, retryCommand?: (token: string) => string): string {
  if (err instanceof OutcomeUnknownError && err.retryable && retryCommand !== undefined) {
    return `outcome unknown (${causeText(err)}); retry with the same token: ${retryCommand(err.token!)}`;
  }
  if (err instanceof OutcomeUnknownError && err.token !== undefined && !err.retryable) {
    return `outcome unknown (${causeText(err)}); ${FORGOTTEN_TOKEN_ADVICE}`;
  }
  if (err instanceof ServerError) return `(${err.code}) ${err.message}`;
  if (err instanceof ClientError) return `(${err.code}) ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function causeText(err: Error): string {
  const cause = err.cause;
  return cause instanceof Error ? cause.message : 'no reply before the deadline';
}

/** Quotes a shell word only when needed (for retry hints). */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_.,:@%+=\/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
