/** Small helpers shared by discovery scenarios (scripts run inside a test namespace). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PeerInfo } from '../../shared/discovery/index.ts';

export { sleep };

/** Polls `predicate` every 20 ms; returns whether it held within `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (predicate()) return true;
    await sleep(20);
  }
  return predicate();
}

/** The stable part of a peer, for comparing in tests (drops timing). */
export function summary(p: PeerInfo): Omit<PeerInfo, 'lastSeenMs'> {
  const { lastSeenMs: _unused, ...rest } = p;
  return rest;
}

/** Run a scenario's main; print the error and exit 1 on failure so the test shows it. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/** `SeqError.code` of what `fn` rejects with, or 'resolved'. */
export async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    const value = await fn();
    const stop = (value as { stop?: () => Promise<void> } | null)?.stop;
    if (typeof stop === 'function') await stop.call(value);
    return 'resolved';
  } catch (err) {
    return String((err as { code?: unknown }).code ?? err);
  }
}
