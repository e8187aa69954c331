import { randomBytes } from 'node:crypto';

/**
 * The exactly-once token a router attaches to an INC that has none: `<decimal unix ms>-<random>`
 * (the timed format the state machine recognizes for expiry), 96 random bits. The router reuses
 * it for every retry of that INC, so a retry after a timeout or a lost connection can never take
 * a second number.
 */
export function routerToken(nowMs: number = Date.now()): Buffer {
  return Buffer.from(`${nowMs}-${randomBytes(12).toString('base64url')}`);
}
