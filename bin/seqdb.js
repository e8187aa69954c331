#!/usr/bin/env node
// The published entry point. It runs a cached JavaScript bundle of the TypeScript sources
// (bin/bundle.js); SEQDB_TSX=1 runs the sources through tsx instead (stack traces point at the
// .ts lines), as does a package directory the bundle cannot be written to.
import { pathToFileURL } from 'node:url';

// The bundle runs from the cache, whose real path may lie in another checkout (a symlinked
// node_modules/): it finds this package through this, not through its own location.
globalThis[Symbol.for('seqdb.packageRoot')] = new URL('../', import.meta.url).href;

async function entry() {
  if (process.env.SEQDB_TSX !== '1') {
    const { bundledEntry } = await import('./bundle.js');
    try {
      return pathToFileURL(await bundledEntry()).href;
    } catch (err) {
      if (!['EACCES', 'EROFS', 'EPERM', 'ENOTDIR'].includes(err?.code)) throw err;
      process.stderr.write(`seqdb: cannot cache the bundle (${err.code}); running through tsx\n`);
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return new URL('./seqdb.ts', import.meta.url).href;
}

let main;
try {
  main = await entry();
} catch (err) {
  // A launcher problem (say SEQDB_CACHE_DIR outside the package) is a one-line reason, exit 2.
  process.stderr.write(`seqdb: ${err?.message ?? err}\n`);
  process.exit(2);
}
await import(main);
