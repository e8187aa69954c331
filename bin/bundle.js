// The `seqdb` command runs one JavaScript bundle of its TypeScript sources, built by esbuild on
// first use and cached by content hash in node_modules/.cache/seqdb/. Why not tsx at run time:
// its module hooks run on a second V8 isolate for the life of the process, ~35 MB of resident
// memory per node and router (node/DESIGN.md, "How the process runs").
import { randomBytes, createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Everything the command imports lives under these; tests and benches never do. */
const SOURCE_DIRS = ['bin', 'node', 'router', 'shared', 'client'];
/** Bundles of older sources are removed once this old (a process may still be importing one). */
const STALE_MS = 24 * 3600 * 1000;
/** A build whose sources changed while esbuild read them is retried this many times. */
const BUILD_ATTEMPTS_MAX = 3;

/**
 * SEQDB_CACHE_DIR moves the cache (tests). It must stay inside the package: the bundle imports
 * its dependencies by name, resolved from the node_modules/ above it.
 */
function cacheDir() {
  const dir = resolve(process.env.SEQDB_CACHE_DIR || join(ROOT, 'node_modules', '.cache', 'seqdb'));
  if (!dir.startsWith(ROOT)) throw new Error(`SEQDB_CACHE_DIR ${dir} is outside the package directory ${ROOT}`);
  return dir;
}

function sourceFiles(dir, out) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, ent.name);
    if (ent.isDirectory()) sourceFiles(path, out);
    else if (ent.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Hash of every source file's path and bytes, and of the build's own inputs. */
function sourceHash(esbuildVersion) {
  const h = createHash('sha256');
  const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d), [])).sort();
  for (const f of files) h.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  for (const f of ['tsconfig.json', 'package.json', 'bin/bundle.js']) h.update(readFileSync(join(ROOT, f)));
  h.update(esbuildVersion);
  return h.digest('hex').slice(0, 20);
}

/** The last line of every bundle: a file cut short (a crash right after the build) lacks it. */
const trailer = (hash) => `\n//# seqdb-bundle ${hash}\n`;

function isWhole(path, hash) {
  const want = Buffer.from(trailer(hash));
  let fd;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    if (size < want.length) return false;
    const got = Buffer.alloc(want.length);
    readSync(fd, got, 0, want.length, size - want.length);
    return got.equals(want);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Best effort: another process may be removing or renaming the same files. */
function removeStale(dir, keep) {
  for (const name of readdirSync(dir)) {
    if (name === keep) continue;
    const path = join(dir, name);
    try {
      const ageMs = Date.now() - statSync(path).mtimeMs;
      if (ageMs > STALE_MS) rmSync(path, { force: true });
    } catch {
      // gone already, or not ours to remove
    }
  }
}

/** fsync of a file or a directory (a rename is durable once its directory is). */
function fsyncPath(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function bundleText(esbuild) {
  const out = await esbuild.build({
    entryPoints: [join(ROOT, 'bin', 'seqdb.ts')],
    write: false,
    outfile: 'seqdb.mjs',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dependencies stay imports: lmdb is native, and node_modules/ resolves them from here.
    packages: 'external',
    logLevel: 'error',
  });
  return out.outputFiles[0].text;
}

/** Path of the bundle for the current sources, built first when there is none (or a cut one). */
export async function bundledEntry() {
  const dir = cacheDir();
  let esbuild = null;
  // Resolved as Node resolves the import: installed as a dependency, npm hoists esbuild beside
  // this package, not inside it (a review: every command failed ENOENT there).
  const version = () => esbuild?.version ?? JSON.parse(readFileSync(createRequire(import.meta.url).resolve('esbuild/package.json'), 'utf8')).version;
  for (let attempt = 1; attempt <= BUILD_ATTEMPTS_MAX; attempt++) {
    const hash = sourceHash(version());
    const name = `seqdb-${hash}.mjs`;
    const target = join(dir, name);
    if (isWhole(target, hash)) return target;
    mkdirSync(dir, { recursive: true });
    esbuild ??= await import('esbuild');
    const text = await bundleText(esbuild);
    // A source saved while esbuild read it: this text may mix versions, so it is not cached.
    if (sourceHash(version()) !== hash) continue;
    const tmp = join(dir, `${name}.${randomBytes(6).toString('hex')}.tmp`);
    // fs errors carry codes (EACCES, EROFS...): the launcher falls back to tsx on those.
    writeFileSync(tmp, text + trailer(hash));
    fsyncPath(tmp);
    // Atomic: processes started together may build at once; each reader sees a whole file.
    renameSync(tmp, target);
    fsyncPath(dir);
    removeStale(dir, name);
    return target;
  }
  throw new Error(`the sources kept changing while they were bundled (${BUILD_ATTEMPTS_MAX} attempts)`);
}
