/**
 * Redis 6's `HELLO [protover [AUTH username password] [SETNAME clientname]]`, answered in RESP2:
 * clients that send it on connect (node-redis with `RESP: 2`, redis-cli `-2`, Redis 6+ clients
 * authenticating with a user name) get the server facts, clients asking for RESP3 get -NOPROTO
 * and stay on RESP2, as they do against a server that cannot speak RESP3.
 *
 * Pure: the caller (the server gate, or the command table when no gate is configured) supplies
 * the password check and the connection's authentication state.
 */
import { ErrorCode, SeqError } from '../errors.ts';
import { array, bulk, errorLine, errorReply, integer, type Encoded } from '../protocol/index.ts';
import { VERSION } from '../../node/server/version.ts';

export interface HelloClient {
  readonly id: number;
  name?: Buffer | null;
}

export interface HelloAuth {
  /** Whether the connection may run commands before this HELLO. */
  readonly authenticated: boolean;
  /**
   * Checks `AUTH username password`: null on success (the connection is then authenticated),
   * else the error reply to send.
   */
  readonly authenticate: (user: Buffer, password: Buffer) => Encoded | null;
}

/** The one protocol version SeqDB speaks. */
const PROTOVER = 2;

/** Redis's own words, so clients that fall back to RESP2 on NOPROTO recognise it. */
export const NOPROTO = errorLine('NOPROTO', 'sorry, this protocol version is not supported');

const NOAUTH_HELLO = new SeqError(ErrorCode.AUTH_REQUIRED,
  'HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');

/** Answers one HELLO request (`args[0]` is the command name). */
export function answerHello(args: readonly Buffer[], client: HelloClient, auth: HelloAuth): Encoded {
  if (args.length >= 2) {
    const text = args[1]!.toString('latin1');
    if (!/^-?[0-9]{1,18}$/.test(text)) {
      return errorReply(new SeqError(ErrorCode.NOT_INTEGER, 'Protocol version is not an integer or out of range'));
    }
    if (Number(text) !== PROTOVER) return NOPROTO;
  }
  let credentials: { user: Buffer; password: Buffer } | null = null;
  let name: Buffer | null = null;
  for (let i = 2; i < args.length; i++) {
    const option = args[i]!.toString('latin1').toLowerCase();
    const more = args.length - i - 1;
    if (option === 'auth' && more >= 2) {
      credentials = { user: args[i + 1]!, password: args[i + 2]! };
      i += 2;
    } else if (option === 'setname' && more >= 1) {
      name = args[i + 1]!;
      i += 1;
    } else {
      return errorReply(new SeqError(ErrorCode.SYNTAX, `Syntax error in HELLO option '${printable(args[i]!)}'`));
    }
  }
  let authenticated = auth.authenticated;
  if (credentials !== null) {
    const refused = auth.authenticate(credentials.user, credentials.password);
    if (refused !== null) return refused;
    authenticated = true;
  }
  if (!authenticated) return errorReply(NOAUTH_HELLO);
  if (name !== null) client.name = Buffer.from(name);
  return array([
    bulk('server'), bulk('seqdb'),
    bulk('version'), bulk(VERSION),
    bulk('proto'), integer(PROTOVER),
    bulk('id'), integer(client.id),
    // What Redis clients expect of a plain server: they must not switch to cluster mode.
    bulk('mode'), bulk('standalone'),
    bulk('role'), bulk('master'),
    bulk('modules'), array([]),
  ]);
}

/** HELLO on a server without a password: only the default user exists, and any password opens it. */
export const OPEN_HELLO_AUTH: HelloAuth = {
  authenticated: true,
  authenticate: (user) => (user.toString('latin1') === 'default' ? null : errorReply(
    new SeqError(ErrorCode.AUTH_FAILED, 'invalid username-password pair or user is disabled.'))),
};

function printable(arg: Buffer): string {
  return arg.subarray(0, 64).toString('latin1').replace(/[\x00-\x1f\x7f-\xff']/g, '?');
}
