// Loads the TypeScript sources of tests without tsx: `node --import=./test/loader/register.mjs`.
// Why not tsx: every ava worker (one process per test file) and helper script paid ~0.3 s more CPU
// to start with tsx (~50 CPU-s of a fresh-clone CI run, measured); this hook only strips types
// (esbuild, as tsx does) and keeps the output in a cache, so a warm start costs a file read per
// module. Source maps are inline, so with
// --enable-source-maps stack traces point at the .ts lines.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
