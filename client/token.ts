import { randomBytes } from 'node:crypto';

/**
 * A timed exactly-once token: `<decimal unix ms>-<16 base64url chars>` (30 bytes today, within the
 * server's 64-byte limit). The time prefix lets a server recognize a token older than its
 * retention window and answer TOKEN_EXPIRED instead of mistaking it for a new INC; the 96 random
 * bits make collisions between clients negligible.
 */
export function timedToken(nowMs: number = Date.now()): string {
  return `${nowMs}-${randomBytes(12).toString('base64url')}`;
}

/** Tokens are 1..64 bytes (the server's TOKEN_BYTES_MAX). */
export const TOKEN_BYTES_MAX = 64;
