/**
 * `p`, or null if it has not settled within `ms`. The timer is cleared as soon as `p` settles:
 * a router waits like this for every command held behind another or behind a catalog refresh,
 * and timers left to run out their `ms` (up to a command's 5 s deadline) piled up with the load
 * (a review). Unref'd, so it never holds the process open either.
 */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms).unref();
  });
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}
