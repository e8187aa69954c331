/**
 * The cluster secret's challenge–response, as pure functions. Each side of an internal connection
 * picks a random nonce; each proves knowledge of the secret with an HMAC over both nonces, its
 * role and the connection's context (e.g. the peer hello line, which binds the claimed node ID),
 * so a proof can be neither replayed on another connection nor reflected back to its sender.
 * The secret itself never crosses the wire.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of a nonce (hex on the wire: twice as many characters). */
export const NONCE_BYTES = 16;
/** A nonce or a proof as it appears on the wire. */
export const HEX_TOKEN = /^[0-9a-f]{32,64}$/;
/** Shortest accepted secret, in bytes. */
export const SECRET_BYTES_MIN = 8;

export type ProofRole = 'server' | 'client';

export class ClusterSecret {
  private readonly key: Buffer;

  constructor(secret: string | Buffer) {
    this.key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
    if (this.key.length < SECRET_BYTES_MIN) throw new RangeError(`a cluster secret needs at least ${SECRET_BYTES_MIN} bytes`);
  }

  /**
   * A fresh random secret, as `seqdb dev` makes for its own processes. Hex, never base64url: a
   * secret starting with '-' reads as an option after `--cluster-secret` on a command line.
   */
  static generate(): string {
    return randomBytes(24).toString('hex');
  }

  proof(role: ProofRole, context: string, clientNonce: string, serverNonce: string): string {
    return createHmac('sha256', this.key)
      .update(`seqdb-cluster-proof\n${role}\n${context}\n${clientNonce}\n${serverNonce}`)
      .digest('hex');
  }

  /** Constant-time check of a proof received from the other side. */
  verify(role: ProofRole, context: string, clientNonce: string, serverNonce: string, proof: string): boolean {
    if (!HEX_TOKEN.test(proof)) return false;
    const expected = Buffer.from(this.proof(role, context, clientNonce, serverNonce), 'hex');
    const given = Buffer.from(proof, 'hex');
    return given.length === expected.length && timingSafeEqual(expected, given);
  }
}

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}
