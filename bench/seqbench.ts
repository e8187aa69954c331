/**
 * ../shared/tools/seqbench for the bench scripts: a private copy with its dependencies (shared/
 * is read-only), and one run of it as a child process whose JSON result line is returned.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoDir } from './dev-cluster.ts';

/** Where seqbench runs from: `SEQBENCH_DIR` or ../shared/tools/seqbench, copied once to tmp. */
export function seqbenchDir(): string {
  const source = process.env.SEQBENCH_DIR ?? join(repoDir, '..', 'shared', 'tools', 'seqbench');
  if (!existsSync(join(source, 'seqbench.mjs'))) throw new Error(`seqbench not found at ${source} (set SEQBENCH_DIR)`);
  // shared/ is read-only: install seqbench's two dependencies into a private copy once.
  const copy = join(tmpdir(), 'seqdb-seqbench');
  if (!existsSync(join(copy, 'node_modules'))) {
    mkdirSync(copy, { recursive: true });
    cpSync(source, copy, { recursive: true });
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: copy, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm ci for seqbench failed');
  }
  return copy;
}

/** Runs `node seqbench.mjs ...args` (give it --quiet) and resolves with its last line as JSON. */
export function runSeqbench(dir: string, args: readonly string[]): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['seqbench.mjs', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', () => {
      const line = out.trim().split('\n').pop() ?? '';
      try { resolve(JSON.parse(line)); } catch { reject(new Error(`seqbench printed no result: ${out.slice(0, 300)}`)); }
    });
  });
}
