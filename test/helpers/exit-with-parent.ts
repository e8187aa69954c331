/**
 * Spawn options that make a long-lived `seqdb` process (node, router, dev) end when the test or
 * bench process that started it ends, however it ends. Teardowns do not run when an ava worker
 * dies of an uncaught exception (or is killed): a run of test/rebalance/ left two `seqdb dev`
 * clusters running that way, and a bench killed mid-run left its cluster on its fixed port. The
 * product's own guard does it (bin/seqdb.ts exitWithParent, which `seqdb dev` uses for its
 * nodes): stdin is a pipe from us, and its EOF is a SIGTERM.
 */
import type { SpawnOptions } from 'node:child_process';

const LONG_LIVED = new Set(['node', 'router', 'dev']);

/**
 * `options` with stdin a pipe and SEQDB_EXIT_WITH_PARENT=1 when `command` is long-lived. Typed as
 * the options given, so spawn still types stdout and stderr; stdin is then typed as given
 * although it is a pipe: nothing writes to it, it only has to stay open while we live.
 */
export function exitWithParent<O extends SpawnOptions>(command: string | undefined, options: O): O {
  if (command === undefined || !LONG_LIVED.has(command)) return options;
  const given = options.stdio ?? 'pipe';
  const stdio = Array.isArray(given) ? ['pipe', ...given.slice(1)] : ['pipe', given, given];
  return { ...options, stdio, env: { ...(options.env ?? process.env), SEQDB_EXIT_WITH_PARENT: '1' } } as O;
}
