/**
 * The cluster-secret handshake on node-to-node (peer) connections, right after the peer hello
 * line (node/replication/peer-hello.ts) and before any Raft or control frame:
 *
 *   dialer   -> `SEQDB-AUTH <clientNonce>\n`
 *   acceptor -> `SEQDB-AUTH <serverNonce> <serverProof>\n`   (or SEQDB-PEER-REFUSED ...)
 *   dialer   -> `SEQDB-PROOF <clientProof>\n`                then frames
 *
 * Both proofs are HMACs over the hello line and both nonces (cluster-proof.ts): the acceptor
 * proves itself before the dialer sends anything of value, and the dialer proves itself before
 * the acceptor reads a frame. A process without the secret gets no further than the first line.
 */
import type { Socket } from 'node:net';
import { ClusterSecret, HEX_TOKEN, newNonce } from './cluster-proof.ts';
import { LINE_TOO_LONG, readLine } from './line-reader.ts';

/** Longest handshake line accepted. */
const LINE_BYTES_MAX = 256;
/** Default time the other side has to answer each step. */
export const PEER_AUTH_TIMEOUT_MS = 5000;
/** What an acceptor with a secret says of a dialer without one (both logs read it). */
const NO_OFFER = 'no cluster-secret handshake: the dialing node runs without a cluster secret and this one with one (every node and router needs the same)';

/**
 * Dialer side; call right after writing the hello line `context` (without its LF). Resolves once
 * the acceptor proved the secret and our proof is written; rejects (the caller destroys the
 * socket) on a refusal, a wrong proof, a timeout or a closed connection.
 */
export async function offerPeerAuth(socket: Socket, secret: ClusterSecret, context: string, timeoutMs = PEER_AUTH_TIMEOUT_MS): Promise<void> {
  const clientNonce = newNonce();
  socket.write(`SEQDB-AUTH ${clientNonce}\n`);
  const { line } = await readLine(socket, Buffer.alloc(0), { bytesMax: LINE_BYTES_MAX, timeoutMs, pauseAfter: false });
  if (line.startsWith('SEQDB-PEER-REFUSED')) throw new Error(line);
  const parts = line.split(' ');
  if (parts.length !== 3 || parts[0] !== 'SEQDB-AUTH' || !HEX_TOKEN.test(parts[1]!)) {
    throw new Error('the peer does not speak the cluster-secret handshake (no cluster secret configured there?)');
  }
  const serverNonce = parts[1]!;
  if (!secret.verify('server', context, clientNonce, serverNonce, parts[2]!)) {
    throw new Error('the peer failed to prove the cluster secret');
  }
  socket.write(`SEQDB-PROOF ${secret.proof('client', context, clientNonce, serverNonce)}\n`);
}

/**
 * Acceptor side, after the hello line `context` was read; `head` holds the bytes that followed
 * it. Resolves with the bytes after the dialer's proof line (the first frames), socket paused.
 * Rejects with a reason to log and to send in a refusal line.
 */
export async function acceptPeerAuth(
  socket: Socket,
  secret: ClusterSecret,
  context: string,
  head: Buffer,
  timeoutMs = PEER_AUTH_TIMEOUT_MS,
): Promise<Buffer> {
  const first = await readLine(socket, head, { bytesMax: LINE_BYTES_MAX, timeoutMs, pauseAfter: true }).catch((err: Error) => {
    // A node without a secret sends its binary frames right after the hello: no line comes.
    throw err.message === LINE_TOO_LONG ? new Error(NO_OFFER) : err;
  });
  const offer = first.line.split(' ');
  if (offer.length !== 2 || offer[0] !== 'SEQDB-AUTH' || !HEX_TOKEN.test(offer[1]!)) throw new Error(NO_OFFER);
  const clientNonce = offer[1]!;
  const serverNonce = newNonce();
  socket.write(`SEQDB-AUTH ${serverNonce} ${secret.proof('server', context, clientNonce, serverNonce)}\n`);
  const second = await readLine(socket, first.rest, { bytesMax: LINE_BYTES_MAX, timeoutMs, pauseAfter: true });
  const proof = second.line.split(' ');
  if (proof.length !== 2 || proof[0] !== 'SEQDB-PROOF' || !secret.verify('client', context, clientNonce, serverNonce, proof[1]!)) {
    throw new Error('wrong cluster secret');
  }
  return second.rest;
}
