// The `seqdb` command runs one JavaScript bundle of its TypeScript sources, built by esbuild on
// first use and cached by content hash in node_modules/.cache/seqdb/. Why not tsx at run time:
// its module hooks run on a second V8 isolate for the life of the process, ~35 MB of resident
// memory per node and router (bench/README.md, "Failover, memory, restart").
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Everything the command imports lives under these; tests and benches never do. */
const SOURCE_DIRS = ['bin', 'node', 'router', 'shared', 'client'];
/** SEQDB_CACHE_DIR moves the cache (a read-only package directory, tests). */
const CACHE_DIR = process.env.SEQDB_CACHE_DIR || join(ROOT, 'node_modules', '.cache', 'seqdb');
/** Bundles of older sources are removed once this old (a process may still be importing one). */
const STALE_MS = 24 * 3600 * 1000;

function sourceFiles(dir, out) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, ent.name);
    if (ent.isDirectory()) sourceFiles(path, out);
    else if (ent.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Hash of every source file's path and bytes, and of the build's own inputs. */
function sourceHash() {
  const h = createHash('sha256');
  const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d), [])).sort();
  for (const f of files) h.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  h.update(readFileSync(join(ROOT, 'tsconfig.json')));
  h.update(readFileSync(new URL('./bundle.js', import.meta.url)));
  return h.digest('hex').slice(0, 20);
}

function removeStale(keep) {
  for (const name of readdirSync(CACHE_DIR)) {
    const path = join(CACHE_DIR, name);
    if (name !== keep && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { force: true });
  }
}

async function build(target) {
  const esbuild = await import('esbuild');
  const tmp = `${target}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [join(ROOT, 'bin', 'seqdb.ts')],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dependencies stay imports: lmdb is native, and node_modules/ resolves them from here.
    packages: 'external',
    logLevel: 'error',
  });
  // Atomic: processes started together may build at once; each reader sees a whole file.
  renameSync(tmp, target);
}

/** Path of the bundle for the current sources, built first when there is none. */
export async function bundledEntry() {
  const name = `seqdb-${sourceHash()}.mjs`;
  const target = join(CACHE_DIR, name);
  try {
    statSync(target);
  } catch {
    mkdirSync(CACHE_DIR, { recursive: true });
    await build(target);
    removeStale(name);
  }
  return target;
}
