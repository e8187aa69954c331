import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The directory of SeqDB's package.json: the one bin/seqdb.js names, else found by walking up
 * from this module. Paths inside the package are built from it, never from a module's own
 * location: the `seqdb` command runs a bundle cached elsewhere (bin/bundle.js), where every
 * module shares one URL.
 */
function findPackageRoot(): URL {
  // Set by bin/seqdb.js: the bundle's own (real) path may lie in another checkout.
  const given = (globalThis as Record<symbol, unknown>)[Symbol.for('seqdb.packageRoot')];
  if (typeof given === 'string') return new URL(given);
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 16; i++) {
    const pkg = new URL('package.json', dir);
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'seqdb') return dir;
    const up = new URL('../', dir);
    if (up.href === dir.href) break;
    dir = up;
  }
  throw new Error(`seqdb: no package.json of seqdb above ${import.meta.url}`);
}

/** file:// URL of the package directory, ending in '/'. */
export const PACKAGE_ROOT: URL = findPackageRoot();

/** Path of the `seqdb` command's entry (bin/seqdb.js): what dev clusters start their nodes with. */
export const SEQDB_BIN: string = fileURLToPath(new URL('bin/seqdb.js', PACKAGE_ROOT));
