import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Lines of history kept, in memory and on disk. */
export const HISTORY_LINES_MAX = 1000;
/** Longest line stored: keeps one paste from bloating the file. */
const HISTORY_LINE_CHARS_MAX = 4096;

/** ~/.seqdb_history, or $SEQDB_HISTFILE (empty string: no history file). */
export function defaultHistoryFile(): string | null {
  const fromEnv = process.env.SEQDB_HISTFILE;
  if (fromEnv !== undefined) return fromEnv === '' ? null : fromEnv;
  return join(homedir(), '.seqdb_history');
}

/** Oldest first, at most HISTORY_LINES_MAX; a missing or unreadable file is an empty history. */
export function loadHistory(file: string | null): string[] {
  if (file === null) return [];
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').slice(-HISTORY_LINES_MAX);
  } catch {
    return [];
  }
}

/** Appends one line now, so history survives a crash or kill; errors are ignored (history is a
 * convenience, never a reason to fail a command). */
export function appendHistory(file: string | null, line: string): void {
  if (file === null || line === '' || line.length > HISTORY_LINE_CHARS_MAX || line.includes('\n') || holdsPassword(line)) return;
  try {
    appendFileSync(file, `${line}\n`, { mode: 0o600 });
  } catch {
    // unwritable home: carry on without history
  }
}

/** Rewrites the file with only its newest HISTORY_LINES_MAX lines, bounding its size. */
export function trimHistory(file: string | null): void {
  if (file === null) return;
  const lines = loadHistory(file);
  try {
    writeFileSync(file, lines.length === 0 ? '' : `${lines.join('\n')}\n`, { mode: 0o600 });
  } catch {
    // as above
  }
}

/**
 * `AUTH ...` and `HELLO ... AUTH ...` carry a password: never written to the history file, as
 * redis-cli does (a review found passwords in clear text there).
 */
export function holdsPassword(line: string): boolean {
  return /^\s*auth(\s|$)/i.test(line) || /^\s*hello\s.*\bauth\b/i.test(line);
}
