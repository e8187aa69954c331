/**
 * A C file of test/helpers built once into a shared library for LD_PRELOAD (io-fault.c,
 * net-flip.c), with the system's C compiler, cached in the temp dir by a hash of its source.
 * Null where it cannot be built (no C compiler): the tests that need it skip with a note; CI
 * installs one (.ci/run).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const built = new Map<string, string | null>();

export function preloadLibrary(source: string): string | null {
  if (!built.has(source)) built.set(source, buildLibrary(source));
  return built.get(source)!;
}

function buildLibrary(source: string): string | null {
  const text = readFileSync(source);
  const lib = join(tmpdir(), `seqdb-${basename(source, '.c')}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.so`);
  if (existsSync(lib)) return lib;
  // Built under a private name and renamed: concurrent test files never load a half-written one.
  const building = `${lib}.${process.pid}`;
  const r = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-o', building, source, '-ldl'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    rmSync(building, { force: true });
    return null;
  }
  renameSync(building, lib);
  return lib;
}
