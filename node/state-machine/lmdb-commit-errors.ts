/**
 * lmdb-js and a failed commit (ENOSPC on a full disk). Inside an async transaction, each write
 * registers a promise of its own that `putSync` discards; when the commit fails, lmdb-js rejects
 * every one of them with `Commit failed (see commitError for details)`, plus the `commitError`
 * promise they carry. The transaction's own promise already reports the failure to its caller
 * (which answers STORAGE, or stops the node); the discarded ones, unhandled, made Node end the
 * process instead (a full disk under `seqdb dev` exited; found by a review).
 *
 * So a process that opens an LMDB store ignores exactly those rejections: an Error carrying a
 * `commitError` promise. Any other unhandled rejection is thrown again, as Node's default does.
 */

/** Marks a failed commit's `commitError` promise handled; returns `err`. */
export function commitErrorHandled(err: unknown): unknown {
  const commitError = (err as { commitError?: unknown } | null)?.commitError;
  if (commitError instanceof Promise) commitError.catch(() => {});
  return err;
}

let installed = false;

/** Installs the process-wide handler once (LmdbStore.open, LmdbRaftStorage.open call it). */
export function ignoreDiscardedCommitRejections(): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    if (reason instanceof Error && (reason as { commitError?: unknown }).commitError instanceof Promise) {
      commitErrorHandled(reason);
      return;
    }
    throw reason;
  });
}
