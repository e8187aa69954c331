/**
 * What the client-protocol server (node/server/) asks before running a command: is this
 * connection authenticated (AUTH with --requirepass), and is it internal (it proved the cluster
 * secret)? It also answers the commands that change that state:
 *
 *   AUTH <password> | AUTH default <password>   (Redis forms: redis-cli -a, ioredis, node-redis)
 *   HELLO [2 [AUTH default <password>] [SETNAME n]]   (Redis 6 form, RESP2 only: hello.ts)
 *   SEQDB.HELLO <clientNonce>   -> [serverNonce, serverProof]   internal handshake, step 1
 *   SEQDB.PROVE <clientProof>   -> +OK, the connection is internal (and authenticated)
 *
 * Until authenticated, every command but AUTH, HELLO, QUIT and the internal handshake gets
 * -NOAUTH, as on Redis. With a cluster secret, CLUSTER and SEQDB.* admin commands need an
 * internal connection (-NOPERM otherwise): a client, even one with the password, cannot change
 * the catalog, ownership or membership. Without a secret they stay open (single-process setups).
 */
import { LogThrottle } from './log-throttle.ts';
import { ErrorCode, SeqError } from '../errors.ts';
import { OK, array, bulk, errorReply, type Encoded } from '../protocol/index.ts';
import { ClusterSecret, HEX_TOKEN, newNonce } from './cluster-proof.ts';
import { answerHello, type HelloClient } from './hello.ts';
import { Password } from './password.ts';

export interface ServerSecurityOptions {
  /** Clients must `AUTH` with it first (`--requirepass`, SEQDB_PASSWORD). Default: none. */
  readonly password?: string;
  /** Routers and nodes prove it on internal connections (`--cluster-secret`). Default: none. */
  readonly clusterSecret?: string;
  /** Where refused attempts are logged (never with the password). Default: stderr. */
  readonly log?: (line: string) => void;
}

export interface GateClient extends HelloClient {
  readonly id: number;
  readonly remote?: string;
}

interface ClientState {
  authenticated: boolean;
  internal: boolean;
  /** Nonces of a SEQDB.HELLO awaiting its SEQDB.PROVE. */
  challenge: { clientNonce: string; serverNonce: string } | null;
}

/** Context string of the RESP internal handshake (the peer handshake binds its hello line). */
export const INTERNAL_CONTEXT = 'seqdb-internal-resp';

const BEFORE_AUTH = new Set(['auth', 'hello', 'quit', 'seqdb.hello', 'seqdb.prove']);
const INTERNAL_ONLY = new Set(['cluster', 'seqdb.transfer', 'seqdb.remove', 'seqdb.snapshot', 'seqdb.movealive']);

export const NOAUTH = new SeqError(ErrorCode.AUTH_REQUIRED, 'Authentication required.');
export const WRONGPASS = new SeqError(ErrorCode.AUTH_FAILED, 'invalid username-password pair or user is disabled.');

export class ServerGate {
  private readonly password: Password | null;
  private readonly secret: ClusterSecret | null;
  private readonly log: (line: string) => void;
  /** Failed AUTHs and refused proofs: a few lines per second, the rest counted. */
  private readonly refusals: LogThrottle;
  private readonly states = new WeakMap<GateClient, ClientState>();
  /** Counters INFO shows. */
  readonly counters = { authFailures: 0, noauthRejections: 0, clusterAuthFailures: 0, internalConnections: 0 };

  constructor(o: ServerSecurityOptions) {
    this.password = o.password === undefined ? null : new Password(o.password);
    this.secret = o.clusterSecret === undefined ? null : new ClusterSecret(o.clusterSecret);
    this.log = o.log ?? ((line) => process.stderr.write(`[security] ${line}\n`));
    this.refusals = new LogThrottle(this.log);
  }

  get requiresPassword(): boolean {
    return this.password !== null;
  }

  /** Whether the connection proved the cluster secret (exempt from the idle timeout). */
  isInternal(client: GateClient): boolean {
    return this.states.get(client)?.internal === true;
  }

  /**
   * Called for every request with its lower-case name. A reply to send instead of running the
   * command (the handshake commands' answers, or a refusal), or undefined to run it.
   */
  intercept(name: string, args: readonly Buffer[], client: GateClient): Encoded | undefined {
    const state = this.state(client);
    switch (name) {
      case 'auth':
        return this.auth(args, client, state);
      case 'hello': {
        const reply = answerHello(args, client, {
          authenticated: state.authenticated,
          authenticate: (user, password) => this.checkPassword(user, password, client, state),
        });
        if (!state.authenticated && typeof reply === 'string' && reply.startsWith('-NOAUTH')) this.counters.noauthRejections++;
        return reply;
      }
      case 'seqdb.hello':
        return this.hello(args, state);
      case 'seqdb.prove':
        return this.prove(args, client, state);
    }
    if (!state.authenticated && !BEFORE_AUTH.has(name)) {
      this.counters.noauthRejections++;
      return errorReply(NOAUTH);
    }
    if (this.secret !== null && !state.internal && INTERNAL_ONLY.has(name)) {
      return errorReply(new SeqError(ErrorCode.NO_PERMISSION, 'internal command: needs a connection that proved the cluster secret'));
    }
    return undefined;
  }

  info(): Record<string, number> {
    return {
      auth_required: this.password === null ? 0 : 1,
      cluster_secret: this.secret === null ? 0 : 1,
      auth_failures: this.counters.authFailures,
      noauth_rejections: this.counters.noauthRejections,
      cluster_auth_failures: this.counters.clusterAuthFailures,
      internal_connections_total: this.counters.internalConnections,
    };
  }

  private state(client: GateClient): ClientState {
    let s = this.states.get(client);
    if (s === undefined) {
      s = { authenticated: this.password === null, internal: false, challenge: null };
      this.states.set(client, s);
    }
    return s;
  }

  private auth(args: readonly Buffer[], client: GateClient, state: ClientState): Encoded {
    if (args.length !== 2 && args.length !== 3) {
      return errorReply(new SeqError(ErrorCode.WRONG_ARITY, "wrong number of arguments for 'auth' command"));
    }
    if (this.password === null) {
      // Redis 7's nopass default user: `AUTH default <anything>` passes.
      if (args.length === 3 && args[1]!.toString('latin1') === 'default') return OK;
      return errorReply(new SeqError(ErrorCode.SYNTAX,
        'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?'));
    }
    return this.checkPassword(args.length === 3 ? args[1]! : 'default', args[args.length - 1]!, client, state) ?? OK;
  }

  /** AUTH's and HELLO AUTH's check: null when it passed (the connection is now authenticated). */
  private checkPassword(userArg: Buffer | string, password: Buffer, client: GateClient, state: ClientState): Encoded | null {
    const user = typeof userArg === 'string' ? userArg : userArg.toString('latin1');
    if (this.password === null) {
      // HELLO AUTH without --requirepass: the default user has no password (AUTH itself errors above).
      if (user === 'default') return null;
    } else {
      // The password is checked even for an unknown user, so the reply time does not tell them apart.
      const ok = this.password.matches(password) && user === 'default';
      if (ok) {
        state.authenticated = true;
        return null;
      }
    }
    this.counters.authFailures++;
    this.refusals.write(`AUTH failed for client ${client.id} from ${client.remote ?? '?'} (failures so far: ${this.counters.authFailures})`);
    return errorReply(WRONGPASS);
  }

  private hello(args: readonly Buffer[], state: ClientState): Encoded {
    if (this.secret === null) return errorReply(new SeqError(ErrorCode.NO_PERMISSION, 'no cluster secret configured on this process'));
    const clientNonce = args[1]?.toString('latin1') ?? '';
    if (args.length !== 2 || !HEX_TOKEN.test(clientNonce)) {
      return errorReply(new SeqError(ErrorCode.SYNTAX, 'SEQDB.HELLO needs a hex nonce'));
    }
    const serverNonce = newNonce();
    state.challenge = { clientNonce, serverNonce };
    return array([bulk(serverNonce), bulk(this.secret.proof('server', INTERNAL_CONTEXT, clientNonce, serverNonce))]);
  }

  private prove(args: readonly Buffer[], client: GateClient, state: ClientState): Encoded {
    const challenge = state.challenge;
    state.challenge = null; // one attempt per challenge
    const proof = args[1]?.toString('latin1') ?? '';
    if (this.secret === null || challenge === null || args.length !== 2 ||
      !this.secret.verify('client', INTERNAL_CONTEXT, challenge.clientNonce, challenge.serverNonce, proof)) {
      this.counters.clusterAuthFailures++;
      this.refusals.write(`cluster secret proof refused from client ${client.id} at ${client.remote ?? '?'}`);
      return errorReply(new SeqError(ErrorCode.AUTH_FAILED, 'cluster secret proof refused'));
    }
    state.internal = true;
    state.authenticated = true;
    this.counters.internalConnections++;
    return OK;
  }
}
