// Builds what `seqdb/client` resolves to for users (package.json "exports"): JavaScript and
// type declarations in dist/, compiled from client/ and the shared/ modules it imports
// (tsconfig.build.json). Node.js 20 does not run TypeScript, so without this an app had to load
// the sources through tsx. Run by `npm install` / `npm ci` (the "prepare" script). The server
// and the `seqdb` command do not use dist/ (bin/bundle.js builds its own bundle).
//
//   node client/build-package.mjs [--out DIR]   (DIR must not exist yet: the package test's)
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const outAt = process.argv.indexOf('--out');
const out = outAt === -1 ? resolve(root, 'dist') : resolve(process.argv[outAt + 1] ?? '');
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without devDependencies (--omit=dev) has no compiler: the server still runs.
  console.warn('seqdb: typescript is not installed, so dist/ (the JavaScript of seqdb/client) is not built');
  process.exit(0);
}
if (outAt === -1) {
  // Emptied first: a source renamed or removed must not leave its old output importable. Only
  // this fixed directory is ever removed.
  rmSync(out, { recursive: true, force: true });
} else if (existsSync(out)) {
  console.error(`seqdb: ${out} exists; --out takes a directory that does not`);
  process.exit(2);
}
const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', out], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
