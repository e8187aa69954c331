/**
 * Ending a process that holds LMDB stores at once, when it must stop (a failed disk write, a
 * crash in its own code, a second Ctrl-C).
 *
 * Not process.exit: on exit Node joins its thread pool, and lmdb-js runs every async write
 * transaction on a pool thread that waits for the main thread to run the transaction's callback.
 * Exiting while one is queued hangs forever (a standalone script: 16 exits of 30 during writes
 * hung; lmdb-js issue 336), and so does Node's default end of an uncaught exception. A node
 * whose disk failed then neither served nor exited, and nothing restarted it (a CI run caught a
 * follower doing so for 25 s). SIGKILL to ourselves cannot hang and leaves the data as any crash
 * does, which the log and the stores are built for. The exit status is the signal's (137 from a
 * shell); the FATAL line logged before says why.
 */

/** Ends this process now; nothing after the call runs. The caller has logged why. */
export function exitNow(): never {
  process.kill(process.pid, 'SIGKILL');
  // kill(2) to ourselves delivers SIGKILL before it returns: this is never reached.
  throw new Error('SIGKILL to this process returned');
}

let installed = false;

/**
 * A server process's uncaught exception (or unhandled rejection) is printed, then ends the
 * process with exitNow instead of Node's default exit, which can hang (above). Installed once,
 * by the commands that run servers, never in a test runner's process.
 */
export function exitNowOnUncaught(): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (err) => {
    // Synchronous on Linux for files and pipes: the line is written before the kill.
    process.stderr.write(`FATAL uncaught: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exitNow();
  });
}
