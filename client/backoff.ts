/**
 * Bounded exponential backoff with jitter. The ceiling doubles per retry from baseMs up to maxMs;
 * the delay is drawn from [ceiling/2, ceiling] so that clients that failed together (a router or
 * leader died under all of them) spread out, while none retries at once in a hot loop.
 * Pure: the random source is injected.
 */
export function backoffDelayMs(
  retryIndex: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  // 2^30 bounds the exponent; beyond it maxMs has long been reached.
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(retryIndex, 30));
  return Math.floor(ceilingMs / 2 + random() * (ceilingMs / 2));
}
