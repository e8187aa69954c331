/**
 * Closes an mDNS socket (bonjour-service's `destroy`) without waiting on it forever. Its callback
 * comes from the socket's close, which a socket wedged in a send may never report: a node's
 * shutdown waited on it without bound. Resolves on the callback, a throw, or after `waitMs`.
 */
export function destroyBounded(target: { destroy(callback?: () => void): void }, waitMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const guard = setTimeout(resolve, waitMs);
    const done = (): void => {
      clearTimeout(guard);
      resolve();
    };
    try {
      target.destroy(done);
    } catch {
      done();
    }
  });
}
