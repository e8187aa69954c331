/**
 * Limits the request decoder enforces. Every one bounds memory or work per connection, so that a
 * hostile client costs at most about `max(requestBytesMax, inlineBytesMax)` plus one socket chunk.
 */
export interface RequestLimits {
  /** Most arguments in one request, the command name included. More is a non-fatal TOO_MANY_ARGS
   * when the request is otherwise well formed and within `requestBytesMax`. Default 64 (an INCS of
   * INCS_SEQUENCES_MAX sequences fits). */
  argsMax: number;
  /** Most bytes of one RESP request, headers and CRLFs included. A request whose declared lengths
   * exceed it is a fatal protocol error (it cannot be skipped cheaply). Default 65536 (64 KiB). */
  requestBytesMax: number;
  /** Most bytes of one inline line, its CRLF/LF excluded. Longer is a fatal protocol error
   * ("too big inline request"). Default 65536 (64 KiB). */
  inlineBytesMax: number;
  /** Most bytes of one bulk argument; clamped to `requestBytesMax`. A longer argument in a request
   * that still fits `requestBytesMax` is skipped with a non-fatal REQUEST_TOO_LARGE.
   * Default: `requestBytesMax`. */
  bulkBytesMax: number;
}

export const defaultRequestLimits: Readonly<RequestLimits> = Object.freeze({
  argsMax: 64,
  requestBytesMax: 64 * 1024,
  inlineBytesMax: 64 * 1024,
  bulkBytesMax: 64 * 1024,
});

/** Fills defaults and checks the values; throws RangeError on a nonsensical configuration. */
export function resolveRequestLimits(partial: Partial<RequestLimits> = {}): RequestLimits {
  const requestBytesMax = partial.requestBytesMax ?? defaultRequestLimits.requestBytesMax;
  const limits: RequestLimits = {
    argsMax: partial.argsMax ?? defaultRequestLimits.argsMax,
    requestBytesMax,
    inlineBytesMax: partial.inlineBytesMax ?? defaultRequestLimits.inlineBytesMax,
    bulkBytesMax: Math.min(partial.bulkBytesMax ?? requestBytesMax, requestBytesMax),
  };
  for (const [name, value] of Object.entries(limits)) {
    // Lengths are summed as plain numbers: keep them far from 2^53 and from Buffer limits.
    if (!Number.isSafeInteger(value) || value < 1 || value > 2 ** 31) {
      throw new RangeError(`request limit ${name} must be an integer in 1..2^31, got ${value}`);
    }
  }
  return limits;
}
