/** Runs a range of seeds inside an ava test; a violation fails it with the seed and the trace. */
import type { ExecutionContext } from 'ava';
import { runSeed, type SimOptions } from './simulator.ts';

export function runSeedRange(t: ExecutionContext, first: number, count: number, opts: Omit<SimOptions, 'seed'> = {}): void {
  let commits = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = runSeed({ ...opts, seed });
    commits += r.stats.commits;
    if (!r.ok) {
      t.log(r.trace.join('\n'));
      t.fail(`seed ${seed} (${opts.nodes ?? 3} nodes): ${r.property}: ${r.detail}\nreplay: npm run sim -- --seed ${seed} --nodes ${opts.nodes ?? 3}${opts.asyncLeaderWrites ? ' --async-writes' : ''} --verbose`);
      return;
    }
  }
  t.log(`${count} seeds from ${first}: ${commits} commits, no violation`);
  t.pass();
}

/** Seed ranges can be moved with SIM_SEED_START (CI may rotate them). */
export function seedStart(): number {
  const v = Number(process.env['SIM_SEED_START'] ?? '1');
  return Number.isSafeInteger(v) ? v : 1;
}
