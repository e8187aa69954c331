/**
 * Resolves in a later turn of the event loop, after the I/O callbacks already due (setImmediate,
 * not a microtask): long background work (a snapshot image, a state digest, a backup export)
 * awaits it between slices, so requests, replies and heartbeats run between them instead of
 * waiting out the whole job.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
