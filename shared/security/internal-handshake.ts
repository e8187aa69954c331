/**
 * The dialer's half of the internal RESP handshake (the server's half is in server-gate.ts), for
 * connections that routers and shard agents open to nodes on the client port:
 *
 *   -> SEQDB.HELLO <clientNonce>      <- [serverNonce, serverProof]   the node proves the secret
 *   -> SEQDB.PROVE <clientProof>      <- +OK                          we prove it; now internal
 *
 * Nothing else is written before the node's proof checks out, so a process without the secret
 * (an impostor announcing itself over mDNS) never receives a forwarded command.
 */
import type { Reply } from '../protocol/index.ts';
import { ClusterSecret, HEX_TOKEN, newNonce } from './cluster-proof.ts';
import { INTERNAL_CONTEXT } from './server-gate.ts';

export class InternalHandshake {
  private readonly clientNonce = newNonce();

  constructor(private readonly secret: ClusterSecret) {}

  helloArgs(): string[] {
    return ['SEQDB.HELLO', this.clientNonce];
  }

  /** SEQDB.PROVE's arguments, given the reply to SEQDB.HELLO; throws with a reason to log. */
  proveArgs(reply: Reply): string[] {
    if (reply.kind === 'error') throw new Error(`refused the cluster handshake: ${reply.word} ${reply.message}`);
    const items = reply.kind === 'array' ? reply.items : null;
    const text = (r: Reply | undefined): string => (r?.kind === 'string' ? r.value.toString('latin1') : '');
    const serverNonce = text(items?.[0]);
    if (items === null || items.length !== 2 || !HEX_TOKEN.test(serverNonce)) throw new Error('malformed cluster handshake reply');
    if (!this.secret.verify('server', INTERNAL_CONTEXT, this.clientNonce, serverNonce, text(items[1]))) {
      throw new Error('failed to prove the cluster secret');
    }
    return ['SEQDB.PROVE', this.secret.proof('client', INTERNAL_CONTEXT, this.clientNonce, serverNonce)];
  }

  /** Checks the reply to SEQDB.PROVE; throws with a reason to log. */
  static accepted(reply: Reply): void {
    if (reply.kind === 'error') throw new Error(`refused our cluster secret proof: ${reply.word} ${reply.message}`);
  }
}
