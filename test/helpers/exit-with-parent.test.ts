import test from 'ava';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { alive } from './process-state.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('seqdb processes started by the test helpers end when their test process dies without teardown', async (t) => {
  const scenario = spawn(process.execPath, ['--import=./test/loader/register.mjs', 'test/helpers/exit-with-parent-scenario.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  scenario.stdout.on('data', (d: Buffer) => (out += d.toString()));
  scenario.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => scenario.once('exit', (c) => r(c)));
  const pids = (/pids ([\d ]+)/.exec(out)?.[1] ?? '').split(' ').map(Number).filter((pid) => pid > 0);
  const dirs = (/dirs (\S+) (\S+)/.exec(out) ?? []).slice(1);
  t.teardown(() => {
    pids.forEach((pid) => alive(pid) && process.kill(pid, 'SIGKILL'));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  t.not(code, 0);
  t.regex(out, /worker dies/);
  t.is(pids.length, 3, out);
  t.is(dirs.length, 2, out);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(pids.filter(alive), [], 'still running after their parent died');
});
