/** A process's state and wait channel, for a test whose process neither exits nor answers (stopped, blocked or busy). */
import { readFileSync } from 'node:fs';

export function processState(pid: number | undefined): string {
  if (pid === undefined) return 'no pid';
  try {
    const state = /^State:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return `state ${state}, wchan ${readFileSync(`/proc/${pid}/wchan`, 'utf8')}`;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Whether a process of that pid exists (a zombie not yet reaped counts). Never for pid <= 0 or
 * NaN: kill(0) names our own process group, and a teardown that then kills "survivors" would
 * kill ava and the CI run.
 */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
