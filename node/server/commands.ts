/**
 * The server's command table: the state-machine commands (SET, GET, INC) go to the engine;
 * connection-level commands (PING, ECHO, QUIT, INFO and what Redis clients send on connect)
 * are answered here. Handlers return encoded replies; they never touch the socket.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { NULL_BULK, OK, PONG, array, bulk, errorLine, errorReply, integer, type Encoded } from '../../shared/protocol/index.ts';
import { intResult, parseCommand, parsePlainInc, unknownCommand, wrongArity, type Command, type CommandResult, type IncCommand, type ResultItem } from '../state-machine/index.ts';
import { SERIES_COMMAND_NAMES } from '../state-machine/series-command.ts';
import { partValue } from '../../shared/protocol/part-token.ts';
import type { CommandObserver, Engine } from './engine.ts';
import { clusterHandler } from '../ownership/cluster-handler.ts';
import { commandName, nameIs } from './command-name.ts';
import type { ServerGate } from '../../shared/security/server-gate.ts';
import { OPEN_HELLO_AUTH, answerHello } from '../../shared/security/hello.ts';

/** Per-connection facts a handler may read or change. */
export interface ClientContext {
  readonly id: number;
  name: Buffer | null;
  /** A MULTI was refused: commands up to EXEC/DISCARD are refused unrun (EXEC: -EXECABORT). */
  multiRefused?: boolean;
  /** host:port of the peer, for logs. */
  readonly remote?: string;
}

export interface ServerFacts {
  readonly engine: Engine;
  /** Told of every command run through the engine; absent: nobody is. */
  readonly commandObserver?: CommandObserver | undefined;
  infoText(): string;
  /** AUTH and cluster-secret checks (shared/security/); absent when neither is configured. */
  readonly gate?: ServerGate | undefined;
  /** Limit counters for INFO. */
  readonly stats?: { idleClosed: number; outputBufferClosed: number; requestErrors: number; commandsProcessed: number };
  /** The cluster this server is of, for SEQDB.IDENT; absent: any name is accepted. */
  readonly cluster?: string | undefined;
}

/** A reply, and whether the connection closes once it is written (QUIT). */
export interface Outcome {
  readonly reply: Encoded | Promise<Encoded> | Later;
  readonly close?: boolean;
}

/** A reply handed to `done` once known, exactly once (the engine's executeInc: no promise hop). */
export type Later = (done: (reply: Encoded) => void) => void;

type Handler = (args: readonly Buffer[], client: ClientContext, server: ServerFacts) => Outcome;

export function resultReply(result: CommandResult): Encoded {
  switch (result.type) {
    case 'ok':
      return OK;
    case 'int':
      return integer(result.value);
    case 'nil':
      return NULL_BULK;
    case 'bulk':
      return bulk(result.value);
    case 'error':
      return errorReply(result);
    case 'array':
      return array(result.value.map(itemReply));
  }
}

function itemReply(item: ResultItem): Encoded {
  if (item === null) return NULL_BULK;
  if (typeof item === 'bigint') return integer(item);
  if (Buffer.isBuffer(item)) return bulk(item);
  return array(item.map(itemReply));
}

const dataCommand: Handler = (args, _client, server) => {
  if (args.length === 3 && server.engine.executeInc !== undefined && nameIs(args[0]!, 'inc')) return plainInc(args, server);
  // Decoder arguments may be views into socket chunks: copy what outlives this call.
  const command = parseCommand(args.map((arg) => Buffer.from(arg)));
  if (command.type !== 'inc' || command.part === undefined) return { reply: executeEncoded(server, command, resultReply) };
  const { count, part } = command;
  // PART (shared/protocol/part-token.ts): the block's number `part`, not its last.
  return { reply: executeEncoded(server, command, (r) => resultReply(r.type === 'int' ? intResult(partValue(r.value, count, part)) : r)) };
};

/**
 * A plain INC through the engine's executeInc: no copies here (the engine copies what it keeps)
 * and no promise. Names are checked as parseCommand checks them.
 */
function plainInc(args: readonly Buffer[], server: ServerFacts): Outcome {
  const command = parsePlainInc(args);
  const engine = server.engine;
  const observer = server.commandObserver;
  // The callback the engine keeps is made in incDone: a closure made here would share this
  // scope's context, and keep `command` (views of the client's socket chunk) until the reply.
  return { reply: (done) => engine.executeInc!(command, incDone(done, observer)) };
}

/** The plain INC's callback: encodes the result and tells the observer (which reads only the type). */
function incDone(done: (reply: Encoded) => void, observer: CommandObserver | undefined): (result: CommandResult) => void {
  if (observer === undefined) return (result) => done(resultReply(result));
  const startedMs = performance.now();
  return (result) => {
    observer(PLAIN_INC, result, (performance.now() - startedMs) / 1000);
    done(resultReply(result));
  };
}

/** What the observer is told a plain INC was (it keeps no client bytes). */
const PLAIN_INC: IncCommand = { type: 'inc', bucket: Buffer.alloc(0), sequence: Buffer.alloc(0), count: 1 };

/** Runs `command` through the engine and encodes its result, telling the observer in the same step. */
function executeEncoded(server: ServerFacts, command: Command, encode: (result: CommandResult) => Encoded): Promise<Encoded> {
  const observer = server.commandObserver;
  if (observer === undefined) return server.engine.execute(command).then(encode);
  const startedMs = performance.now();
  return server.engine.execute(command).then((result) => {
    observer(command, result, (performance.now() - startedMs) / 1000);
    return encode(result);
  });
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  set: dataCommand,
  get: dataCommand,
  inc: dataCommand,
  incs: dataCommand,
  // Issue 12: RESERVE, CONFIRM, VOID, AUDIT, SEQ.INFO, SEQ.RETAIN, SEQ.LIST.
  ...Object.fromEntries(SERIES_COMMAND_NAMES.map((name) => [name, dataCommand])),
  ping: (args) => {
    if (args.length > 2) throw wrongArity('ping');
    return { reply: args.length === 2 ? bulk(args[1]!) : PONG };
  },
  echo: (args) => {
    if (args.length !== 2) throw wrongArity('echo');
    return { reply: bulk(args[1]!) };
  },
  quit: () => ({ reply: OK, close: true }),
  info: (_args, _client, server) => ({ reply: bulk(server.infoText()) }),
  // Clients select database 0 when configured to; there is only database 0.
  select: (args) => {
    if (args.length !== 2) throw wrongArity('select');
    if (args[1]!.toString('latin1') !== '0') throw new SeqError(ErrorCode.SYNTAX, 'DB index is out of range');
    return { reply: OK };
  },
  // redis-cli asks COMMAND DOCS for hints: an empty answer means "no hints".
  command: (args) => {
    const sub = args[1]?.toString('latin1').toLowerCase();
    return { reply: sub === 'count' ? integer(0) : array([]) };
  },
  client: clientCommand,
  // Internal catalog/ownership commands (node/ownership/cluster-command.ts).
  cluster: (args, _client, server) => clusterHandler(args, (command) => executeEncoded(server, command, resultReply)),
  // Routers and shard agents ask first (router/node-connection.ts): a node of another cluster
  // answers -WRONGCLUSTER and closes before any request behind it runs.
  'seqdb.ident': (args, _client, server) => {
    if (args.length !== 2) throw wrongArity('seqdb.ident');
    const asked = args[1]!.toString('latin1');
    if (server.cluster === undefined || asked === server.cluster) return { reply: OK };
    return { reply: errorReply(new SeqError(ErrorCode.IDENTITY_MISMATCH, `this node is of cluster ${server.cluster}, not ${asked}`)), close: true };
  },
  // Without a gate (no password): as Redis 7 with a nopass default user, so that clients
  // configured with a password still connect (ioredis only warns on this exact message).
  auth: (args) => {
    if (args.length !== 2 && args.length !== 3) throw new SeqError(ErrorCode.WRONG_ARITY, "wrong number of arguments for 'auth' command");
    if (args.length === 3 && args[1]!.toString('latin1') === 'default') return { reply: OK };
    if (args.length === 3) return { reply: errorLine('WRONGPASS', 'invalid username-password pair or user is disabled.') };
    return { reply: errorLine('ERR', 'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?') };
  },
  // Without a gate (no password, no secret): HELLO 2 answers, HELLO 3 -NOPROTO (shared/security/hello.ts).
  hello: (args, client) => ({ reply: answerHello(args, client, OPEN_HELLO_AUTH) }),
};

function clientCommand(args: readonly Buffer[], client: ClientContext): Outcome {
  if (args.length < 2) throw wrongArity('client');
  const sub = args[1]!.toString('latin1').toLowerCase();
  switch (sub) {
    case 'setinfo':
      if (args.length !== 4) throw wrongArity('client|setinfo');
      return { reply: OK };
    case 'setname':
      if (args.length !== 3) throw wrongArity('client|setname');
      client.name = Buffer.from(args[2]!);
      return { reply: OK };
    case 'getname':
      return { reply: bulk(client.name) };
    case 'id':
      return { reply: integer(client.id) };
    default:
      throw new SeqError(ErrorCode.UNKNOWN_COMMAND, `unknown subcommand '${printableName(args[1]!)}'`);
  }
}

/** Runs one request; client errors become error replies, the connection stays usable. */
export function dispatch(args: readonly Buffer[], client: ClientContext, server: ServerFacts): Outcome {
  const name = commandName(args[0]!);
  const gated = server.gate?.intercept(name, args, client);
  if (gated !== undefined) return { reply: gated, close: false };
  // MULTI/EXEC are not supported. Clients (ioredis, node-redis multi()) send MULTI, the commands
  // and EXEC in one write: running the commands while the client is told the transaction failed
  // took numbers nobody received. Refuse the whole transaction instead, as Redis does after an
  // error inside MULTI (EXECABORT).
  if (name === 'multi') {
    client.multiRefused = true;
    return { reply: errorLine('ERR', 'MULTI is not supported') };
  }
  if (client.multiRefused === true) {
    if (name === 'exec' || name === 'discard') {
      client.multiRefused = false;
      return { reply: name === 'exec' ? errorLine('EXECABORT', 'Transaction discarded because of previous errors.') : OK };
    }
    if (name !== 'quit') return { reply: errorLine('ERR', 'MULTI is not supported: command not run (send EXEC or DISCARD)') };
  }
  // Own keys only: 'constructor', '__proto__' etc. must not resolve to Object.prototype members.
  const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
  try {
    if (handler === undefined) {
      const extra = server.engine.extraCommand?.(name);
      if (extra !== undefined) return { reply: extra(args).then(resultReply) };
      throw unknownCommand(args[0]!);
    }
    return handler(args, client, server);
  } catch (error) {
    if (error instanceof SeqError) return { reply: errorReply(error) };
    throw error;
  }
}

function printableName(arg: Buffer): string {
  return arg.subarray(0, 64).toString('latin1').replace(/[\x00-\x1f\x7f-\xff']/g, '?');
}
