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

/** Whether a process of that pid exists (a zombie not yet reaped counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
