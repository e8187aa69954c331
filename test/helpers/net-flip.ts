/**
 * Bits flipped on the wire for real processes (net-flip.c, loaded with LD_PRELOAD): while armed
 * with a port, every n-th write of a process to a TCP connection to that port leaves with one bit
 * changed, past TCP's own checksum. Tests skip (with a note) where no C compiler is installed.
 */
import { existsSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preloadLibrary } from './preload-lib.ts';

/** The built library's path, or null when it cannot be built here (no C compiler). */
export function netFlipLibrary(): string | null {
  return preloadLibrary(fileURLToPath(new URL('./net-flip.c', import.meta.url)));
}

export interface NetFlip {
  /** Environment for every process whose writes may be changed (spawn them with it merged in). */
  readonly env: Record<string, string>;
  /** From now on writes to `port` are changed (every n-th, as configured). */
  arm(port: number): void;
  heal(): void;
  /** The flips made so far: bytes written and where the bit was. */
  flips(): { readonly written: number; readonly offset: number; readonly bit: number }[];
}

/**
 * Flips for processes started with `env`: one in every `every` writes of at least `bytesMin`
 * bytes; where is drawn from `seed` (net-flip.c). The trigger file lives in `dir`.
 */
export function netFlip(lib: string, dir: string, o: { every: number; bytesMin: number; seed: number }): NetFlip {
  const trigger = join(dir, 'net-flip-armed');
  return {
    env: { LD_PRELOAD: lib, SEQDB_FLIP_TRIGGER: trigger, SEQDB_FLIP_EVERY: String(o.every), SEQDB_FLIP_MINLEN: String(o.bytesMin), SEQDB_FLIP_SEED: String(o.seed) },
    arm: (port) => {
      // Renamed into place: a process never reads a half-written port.
      writeFileSync(`${trigger}.new`, `${port}\n`);
      renameSync(`${trigger}.new`, trigger);
    },
    heal: () => rmSync(trigger, { force: true }),
    flips: () => {
      if (!existsSync(`${trigger}.flips`)) return [];
      return readFileSync(`${trigger}.flips`, 'utf8').trim().split('\n').filter(Boolean).map((line) => {
        const [written, offset, bit] = line.split(' ').map(Number);
        return { written: written!, offset: offset!, bit: bit! };
      });
    },
  };
}
