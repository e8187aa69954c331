import { parseHint, type Address } from './address.ts';

/** How one attempt of a call failed. */
export type AttemptFailure =
  /** Never written to a socket (connect failed, connection lost before the write): not applied. */
  | { readonly kind: 'unsent'; readonly error: Error }
  /** Written, but no reply came (timeout, connection lost, garbage): may have been applied. */
  | { readonly kind: 'lost'; readonly error: Error }
  /** The server answered with an error line. */
  | { readonly kind: 'reply'; readonly word: string; readonly message: string };

export interface Verdict {
  /** Try again (after backoff) or give up with this failure. */
  readonly retry: boolean;
  /** The attempt may have changed state on the server. */
  readonly mayHaveApplied: boolean;
  /** The router seems unwell: send the next attempt elsewhere. */
  readonly failover: boolean;
  /** Where the server says the request belongs (NOTLEADER/MOVED hint), if it said. */
  readonly hint: Address | null;
}

/**
 * Error words after which a retry may succeed. All but CLUSTERDOWN promise that the command was
 * refused before any state changed (LOADING is Redis's word for a server still starting;
 * SHUTDOWN is SeqDB's for one that is stopping).
 * CLUSTERDOWN is what a router answers when its own deadline passed, possibly after forwarding
 * an attempt that was applied and whose reply was lost; so it counts as "may have applied".
 */
export const RETRYABLE_WORDS: ReadonlySet<string> = new Set([
  'TRYAGAIN',
  'CLUSTERDOWN',
  'BUSY',
  'NOTLEADER',
  'MOVED',
  'LOADING',
  'SHUTDOWN',
]);

export const MAY_HAVE_APPLIED_WORDS: ReadonlySet<string> = new Set(['CLUSTERDOWN']);

/**
 * Decides what a failed attempt means. `idempotent` calls (INC with its token, reads) may be
 * retried even when the attempt may have been applied; others (SET, raw commands) only when it
 * certainly was not, because replaying a SET after later INCs would move a sequence back.
 */
export function judge(failure: AttemptFailure, idempotent: boolean): Verdict {
  switch (failure.kind) {
    case 'unsent':
      return { retry: true, mayHaveApplied: false, failover: true, hint: null };
    case 'lost':
      return { retry: idempotent, mayHaveApplied: true, failover: true, hint: null };
    case 'reply': {
      if (isOutcomeUnknown(failure.word, failure.message)) {
        return { retry: idempotent, mayHaveApplied: true, failover: true, hint: null };
      }
      if (!RETRYABLE_WORDS.has(failure.word)) {
        return { retry: false, mayHaveApplied: false, failover: false, hint: null };
      }
      if (MAY_HAVE_APPLIED_WORDS.has(failure.word)) {
        return { retry: idempotent, mayHaveApplied: true, failover: true, hint: null };
      }
      return { retry: true, mayHaveApplied: false, failover: true, hint: hintOf(failure) };
    }
  }
}

/** `NOTLEADER <shard> <host:port|?>` and `MOVED <slot> <host:port> …` carry the address second. */
function hintOf(failure: { word: string; message: string }): Address | null {
  if (failure.word !== 'NOTLEADER' && failure.word !== 'MOVED') return null;
  return parseHint(failure.message.split(' ')[1]);
}

/** True for the server's TOKEN_EXPIRED wording, `-ERR ID token expired: …`. */
export function isTokenExpired(word: string, message: string): boolean {
  return word === 'ERR' && /\btoken expired\b/i.test(message);
}

/**
 * OUTCOME_UNKNOWN (`-AMBIGUOUS ...`): the write was proposed but its fate is unknown (leader lost,
 * node shutting down, timeout; a router's SET whose connection broke). Nodes of before the word
 * answered `-ERR ... retry only with the same ID token`, still recognized during an upgrade.
 */
export function isOutcomeUnknown(word: string, message: string): boolean {
  return word === 'AMBIGUOUS' || (word === 'ERR' && /retry only with the same ID token/.test(message));
}
