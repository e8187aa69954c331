/**
 * Milliseconds on a clock that never steps (performance.now, from process start, floored): for timeouts,
 * spacing, backoff and liveness, never for a time that leaves the process (token times, write
 * stamps, logs). Waits measured with Date.now lasted as long as a host clock stepped back by NTP
 * (an hour's step held a router's catalog refresh an hour; a clock review).
 */
export function monoNowMs(): number {
  // Whole milliseconds, as Date.now gave: values end up in messages and outputs.
  return Math.floor(performance.now());
}
