/**
 * The whole project type-checks (`tsc --noEmit`, strict): run as a test so that its ~25 s of
 * one core overlap the other test files instead of running before them (`npm test` = `ava`).
 * `npm run typecheck` runs it alone.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/netns.ts';

test('tsc --noEmit finds no error in the project', async (t) => {
  t.timeout(240_000);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.json'), '--noEmit'], { cwd: REPO_ROOT, timeout: 230_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: `${stdout}${stderr}` }));
  });
  t.is(r.code, 0, r.out.slice(0, 8000));
});
