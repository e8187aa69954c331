import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { splitInlineArgs } from '../../shared/protocol/inline-args.ts';
import type { SeqClient } from '../client.ts';
import { ClientError, OutcomeUnknownError, ServerError } from '../errors.ts';
import { timedToken } from '../token.ts';
import { formatError, formatReply } from './format.ts';
import { COMMAND_HELP, helpText } from './help.ts';
import { appendHistory, HISTORY_LINES_MAX, loadHistory, trimHistory } from './history.ts';

export interface ReplOptions {
  readonly client: SeqClient;
  /**
   * A client like `client` that sends `AUTH <password>` on every new connection: after an AUTH
   * typed at the prompt succeeds, the session goes on with it, so a reconnect stays authenticated
   * (a typed AUTH went over one socket only; a review). Default: none (the AUTH holds for the
   * current connection only).
   */
  readonly withPassword?: (password: string) => SeqClient;
  /** Shown in the prompt, `127.0.0.1:7379> ` as redis-cli does. */
  readonly label: string;
  readonly input: Readable;
  readonly output: Writable;
  /** Where history persists; null for none. */
  readonly historyFile: string | null;
  /** Prompt and line editing; default: input is a TTY. Without it, lines are run as read. */
  readonly terminal?: boolean;
}

/**
 * The interactive prompt of `seqdb cli`: reads a line, splits it like redis-cli (quotes, escapes),
 * runs `help`/`quit` locally and sends anything else, printing redis-cli style replies.
 * Resolves when input ends or the user quits.
 */
export async function runRepl(options: ReplOptions): Promise<void> {
  const terminal = options.terminal ?? Boolean((options.input as { isTTY?: boolean }).isTTY);
  const history = loadHistory(options.historyFile).reverse(); // readline wants newest first
  const rl = readline.createInterface({
    input: options.input,
    output: options.output,
    terminal,
    history,
    historySize: HISTORY_LINES_MAX,
    removeHistoryDuplicates: true,
    prompt: `${options.label}> `,
    completer: (line: string) => complete(line),
  });
  const print = (text: string): void => {
    options.output.write(`${text}\n`);
  };
  // Without a listener readline merely pauses on Ctrl-C; leave as redis-cli does.
  rl.on('SIGINT', () => rl.close());
  if (terminal) rl.prompt();
  let client = options.client;
  try {
    for await (const line of rl) {
      const trimmed = line.trim();
      if (trimmed !== '') appendHistory(options.historyFile, trimmed);
      const outcome = await runLine(trimmed, client);
      const password = typedPassword(trimmed);
      if (outcome === 'OK' && password !== null && options.withPassword !== undefined) {
        if (client !== options.client) client.destroy();
        client = options.withPassword(password);
      }
      if (outcome === 'quit') break;
      if (outcome !== '') print(outcome);
      if (terminal) rl.prompt();
    }
  } finally {
    rl.close();
    trimHistory(options.historyFile);
    if (client !== options.client) client.destroy();
  }
}

/** The password of an `AUTH <password>` line (no user name: one password per server), or null. */
function typedPassword(line: string): string | null {
  const args = splitInlineArgs(Buffer.from(line, 'utf8'));
  if (args === null || args.length !== 2 || args[0]!.toString('utf8').toLowerCase() !== 'auth') return null;
  return args[1]!.toString('utf8');
}

/** Runs one line; returns what to print, or 'quit'. Exported for tests. */
export async function runLine(line: string, client: SeqClient): Promise<string> {
  if (line === '') return '';
  const args = splitInlineArgs(Buffer.from(line, 'utf8'));
  if (args === null) return 'Invalid argument(s): unbalanced quotes';
  if (args.length === 0) return '';
  const name = args[0]!.toString('utf8').toLowerCase();
  if (name === 'quit' || name === 'exit') return 'quit';
  if (name === 'help' || name === '?') return helpText(args[1]?.toString('utf8'));
  const { send, token } = name === 'inc' ? withToken(args) : { send: args, token: undefined };
  try {
    const reply = await client.sendCommand(send, {
      idempotent: token !== undefined,
      readOnly: name === 'get' || name === 'ping' || name === 'info',
      ...(token === undefined ? {} : { token }),
    });
    return formatReply(reply);
  } catch (err) {
    return formatFailure(err, send);
  }
}

/**
 * Adds `ID <fresh token>` to a well-formed INC that has none, so that the client may retry it
 * safely. An INC whose options look malformed is sent as typed, for the server to judge.
 */
function withToken(args: Buffer[]): { send: Buffer[]; token: string | undefined } {
  if (args.length < 3 || (args.length - 3) % 2 !== 0) return { send: args, token: undefined };
  for (let i = 3; i < args.length; i += 2) {
    if (args[i]!.toString('latin1').toLowerCase() === 'id') return { send: args, token: args[i + 1]!.toString('utf8') };
  }
  const token = timedToken();
  return { send: [...args, Buffer.from('ID'), Buffer.from(token)], token };
}

/** `sent`: the command as sent (with the ID it was given), which is what a retry must repeat. */
function formatFailure(err: unknown, sent: Buffer[]): string {
  if (err instanceof ServerError) return formatError(err.serverCode, err.serverMessage);
  if (err instanceof OutcomeUnknownError && err.token !== undefined && err.retryable) {
    // The whole command, COUNT and PART included: its ID alone would take one number, not a block.
    return `(error) outcome unknown; retry with: ${sent.map((a) => a.toString('utf8')).join(' ')}`;
  }
  if (err instanceof ClientError) return `(error) ${err.code} ${err.message}`;
  return `(error) ${err instanceof Error ? err.message : String(err)}`;
}

function complete(line: string): [string[], string] {
  const names = COMMAND_HELP.map((c) => c.name.toLowerCase());
  if (line.includes(' ')) return [[], line];
  const hits = names.filter((n) => n.startsWith(line.toLowerCase()));
  return [hits.length > 0 ? hits : names, line];
}
