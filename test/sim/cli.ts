/**
 * npm run sim -- [--seeds N] [--start S] [--seed X] [--nodes 3|5] [--ms FAULT_PHASE_MS]
 *                [--mutant NAME] [--verbose] [--keep-going] [--prevote on|off|mixed] [--async-writes]
 *                [--checkquorum on|off|mixed] [--extra FAULT,...]
 * Runs seeds S..S+N-1 (default 100 seeds from 1; cluster size alternates 3/5 unless --nodes)
 * and exits 1 on the first violation with the seed, the property and the last trace events
 * (--keep-going: run them all and summarize the failing seeds by property).
 */
import { toolArgs } from '../../bench/tool-args.ts';
import { MUTANTS, type Mutant } from './sim-node.ts';
import { EXTRA_FAULTS, emptyStats, type SimResult, type SimStats } from './sim-config.ts';
import { runSeed } from './simulator.ts';

const USAGE = 'Usage: npm run sim -- [--seeds N] [--start S] [--seed X] [--nodes 3|5] [--ms FAULT_PHASE_MS]\n    [--mutant NAME] [--verbose] [--keep-going] [--prevote on|off|mixed] [--async-writes]\n    [--checkquorum on|off|mixed] [--extra FAULT,...]';

const PROGRESS_EVERY = 250;

/** A bad argument: one line and the usage, exit 2 (anything else thrown is a bug, with its trace). */
class UsageError extends Error {}

function main(): number {
  const { values } = toolArgs('npm run sim', USAGE, {
    options: {
      seeds: { type: 'string', default: '100' },
      start: { type: 'string', default: '1' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      ms: { type: 'string' },
      mutant: { type: 'string', default: 'none' },
      verbose: { type: 'boolean', default: false },
      'keep-going': { type: 'boolean', default: false },
      prevote: { type: 'string', default: 'mixed' },
      checkquorum: { type: 'string', default: 'mixed' },
      'async-writes': { type: 'boolean', default: false },
      extra: { type: 'string', default: '' },
    },
    strict: true,
  });
  const mutant = values.mutant as Mutant;
  if (!MUTANTS.includes(mutant)) throw new UsageError(`--mutant must be one of ${MUTANTS.join(', ')}`);
  const extra = new Set(values.extra.split(',').filter((x) => x !== ''));
  for (const x of extra) if (!(EXTRA_FAULTS as readonly string[]).includes(x)) throw new UsageError(`--extra takes ${EXTRA_FAULTS.join(', ')}`);
  const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
  if (nodes !== undefined && nodes !== 3 && nodes !== 5) throw new UsageError('--nodes must be 3 or 5');
  const first = Number(values.seed ?? values.start);
  const count = values.seed !== undefined ? 1 : Number(values.seeds);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || count < 1) throw new UsageError('bad --seed/--start/--seeds');
  const faultPhaseMs = values.ms === undefined ? undefined : Number(values.ms);
  const tuning = { ...onOff('prevote', values.prevote, 'preVote'), ...onOff('checkquorum', values.checkquorum, 'checkQuorum') };
  const total = emptyStats();
  const failures: SimResult[] = [];
  const began = performance.now();
  for (let seed = first; seed < first + count; seed++) {
    const r = runSeed({
      seed,
      nodes: (nodes ?? (seed % 2 === 0 ? 5 : 3)) as 3 | 5,
      mutant,
      asyncLeaderWrites: values['async-writes'],
      extra,
      keepTrace: values.verbose,
      tuning,
      ...(faultPhaseMs !== undefined ? { faultPhaseMs } : {}),
    });
    add(total, r.stats);
    if (values.verbose) for (const line of r.trace) console.log(line);
    if (!r.ok && !values['keep-going']) return report(r, replayFlags(nodes, values), values.verbose);
    if (!r.ok) {
      failures.push(r);
      console.log(`seed ${seed}: VIOLATION ${r.property}: ${(r.detail ?? '').slice(0, 300)}`);
    }
    const done = seed - first + 1;
    if (done % PROGRESS_EVERY === 0) {
      const s = (performance.now() - began) / 1000;
      console.log(`... ${done}/${count} seeds ok (${(done / s).toFixed(1)} seeds/s)`);
    }
    if (count === 1) console.log(`seed ${seed}: ok, trace hash ${r.traceHash}, ${JSON.stringify(r.stats)}`);
  }
  const secs = (performance.now() - began) / 1000;
  if (failures.length > 0) {
    const byProperty = new Map<string, number[]>();
    for (const f of failures) byProperty.set(f.property!, [...(byProperty.get(f.property!) ?? []), f.seed]);
    for (const [p, seeds] of byProperty) console.log(`${p}: ${seeds.length} seeds (${seeds.slice(0, 20).join(' ')})`);
    console.log(`sim: ${failures.length} of ${count} seeds FAILED`);
    return 1;
  }
  console.log(
    `sim: ${count} seeds ok in ${secs.toFixed(1)}s (${(count / secs).toFixed(1)} seeds/s): ` +
      `${total.elections} elections, ${total.commits} commits, ${total.faults} faults ` +
      `(${total.crashes} crashes, ${total.partitions} partitions), ${total.confChanges} conf changes, ` +
      `${total.transfers} transfers, ${total.snapshots} snapshots; client ops ok ${total.ok} / fail ${total.fail} / unknown ${total.unknown}, ${total.reads} reads; ` +
      `${total.messages} messages`,
  );
  return 0;
}

function replayFlags(nodes: number | undefined, v: { ms?: string; extra: string; mutant: string; prevote: string; checkquorum: string; 'async-writes': boolean }): string {
  return [
    v['async-writes'] ? ' --async-writes' : '',
    v.extra ? ` --extra ${v.extra}` : '',
    nodes !== undefined ? ` --nodes ${nodes}` : '',
    v.ms !== undefined ? ` --ms ${v.ms}` : '',
    v.mutant !== 'none' ? ` --mutant ${v.mutant}` : '',
    v.prevote !== 'mixed' ? ` --prevote ${v.prevote}` : '',
    v.checkquorum !== 'mixed' ? ` --checkquorum ${v.checkquorum}` : '',
  ].join('');
}

function report(r: SimResult, flags: string, verbose: boolean): number {
  if (!verbose) {
    console.log(`--- last ${r.trace.length} events of seed ${r.seed} ---`);
    for (const line of r.trace) console.log(line);
  }
  console.log(`\nVIOLATION at seed ${r.seed}: ${r.property}\n  ${r.detail}`);
  console.log(`replay: npm run sim -- --seed ${r.seed}${flags} --verbose`);
  return 1;
}

/** --prevote / --checkquorum: on, off, or mixed (drawn per seed, the default). */
function onOff(flag: string, v: string, key: 'preVote' | 'checkQuorum'): Partial<Record<typeof key, boolean>> {
  if (v === 'mixed') return {};
  if (v !== 'on' && v !== 'off') throw new UsageError(`--${flag} must be on, off or mixed`);
  return { [key]: v === 'on' };
}

function add(t: SimStats, s: SimStats): void {
  for (const k of Object.keys(t) as (keyof SimStats)[]) t[k] += s[k];
}

try {
  process.exitCode = main();
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`npm run sim: ${err.message}\n${USAGE}`);
  process.exitCode = 2;
}
