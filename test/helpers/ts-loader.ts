import { fileURLToPath } from 'node:url';

/**
 * The node argument that lets a child process run a .ts script: the same type-stripping loader
 * the test workers use (test/loader/register.mjs), a third of tsx's start-up CPU. An absolute
 * path, so a child started in another directory or network namespace finds it.
 */
export const TS_LOADER_ARG = `--import=${fileURLToPath(new URL('../loader/register.mjs', import.meta.url))}`;
