// The load hook behind register.mjs (it runs on Node's loader thread). Only file: URLs ending in
// .ts are ours; the sources import each other with explicit .ts extensions, so Node's own
// resolution finds them and no resolve hook is needed.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const esbuildVersion = JSON.parse(readFileSync(new URL('../../node_modules/esbuild/package.json', import.meta.url), 'utf8')).version;
const options = { loader: 'ts', format: 'esm', target: 'es2022', sourcemap: 'inline' };
// Keyed by path, source, esbuild version and options: a changed file gets a new entry, ~1 KB-40 KB
// (a day of work on this repository left ~4,000 of them, 65 MB). So a process that writes one
// also removes, at most once an hour for everyone (a marker file's time), the entries written
// more than KEEP_MS ago: one still in use is transformed again, a few ms.
const KEEP_MS = 3 * 24 * 3600 * 1000;
const PRUNE_EVERY_MS = 3600 * 1000;
const cacheDir = join(tmpdir(), `seqdb-ts-cache-${process.getuid?.() ?? 'u'}`);
const salt = `${esbuildVersion}\0${JSON.stringify(options)}`;
let esbuild;

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const source = readFileSync(path, 'utf8');
  const key = createHash('sha1').update(salt).update('\0').update(path).update('\0').update(source).digest('hex');
  const cached = join(cacheDir, `${key}.mjs`);
  try {
    return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  } catch {
    // Not cached yet: transform below.
  }
  esbuild ??= await import('esbuild');
  const { code } = esbuild.transformSync(source, { ...options, sourcefile: path });
  store(cached, code);
  return { format: 'module', source: code, shortCircuit: true };
}

/**
 * Best effort: a child under `ulimit -f 0` or a disk-fault library must still run. Written whole
 * then renamed, so a worker loading the same file at once never reads half of it.
 */
function store(cached, code) {
  const tmp = `${cached}.${process.pid}.tmp`;
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(tmp, code);
    renameSync(tmp, cached);
  } catch {
    rmSync(tmp, { force: true });
    return;
  }
  pruneSometimes();
}

/** Best effort too: several workers may prune at once, and a reader that loses its entry transforms. */
function pruneSometimes() {
  const marker = join(cacheDir, '.pruned');
  const now = Date.now();
  try {
    if (now - statSync(marker).mtimeMs < PRUNE_EVERY_MS) return;
  } catch {
    // no marker yet: prune
  }
  try {
    writeFileSync(marker, '');
    for (const name of readdirSync(cacheDir)) {
      if (!name.endsWith('.mjs') && !name.endsWith('.tmp')) continue;
      const path = join(cacheDir, name);
      try {
        if (now - statSync(path).mtimeMs > KEEP_MS) rmSync(path, { force: true });
      } catch {
        // gone already
      }
    }
  } catch {
    // not ours to prune (permissions, a full disk)
  }
}
