/**
 * The client library on one hot sequence (or `--sequences N` of one bucket): `--callers`
 * concurrent closed-loop inc() callers in ONE client (as a web service numbering invoices would
 * have), through `seqdb dev --nodes 3` (router + 3-node shard), with ClientOptions.mergeIncs off
 * and on, alternately, on a fresh cluster each. Every number is checked unique per sequence. A
 * script, not a test: it asserts no time.
 *
 *   node --import=tsx bench/client-inc.ts [--callers 50] [--seconds 5] [--rounds 2] [--port 17700] [--sequences 1]
 */
import { toolArgs } from './tool-args.ts';
import { createClient } from '../client/index.ts';
import { startDev } from './dev-cluster.ts';

const USAGE = 'Usage: node --import=tsx bench/client-inc.ts [--callers 50] [--seconds 5] [--rounds 2] [--port 17700] [--sequences 1]';

interface Result { merge: boolean; perSecond: number; p50Ms: number; p99Ms: number; duplicates: number; errors: number }

async function run(port: number, merge: boolean, callers: number, seconds: number, sequences: number): Promise<Result> {
  const cluster = await startDev(port, ['--nodes', '3']);
  const client = createClient({ routers: [`127.0.0.1:${port}`], mergeIncs: merge, pendingCallsMax: Math.max(1024, callers) });
  try {
    // Warm-up: one second, not measured.
    await load(client, callers, 1000, new Set(), [], sequences);
    const seen = new Set<string>();
    const latencies: number[] = [];
    const started = performance.now();
    const { errors, duplicates } = await load(client, callers, seconds * 1000, seen, latencies, sequences);
    const elapsedS = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    return { merge, perSecond: Math.round(latencies.length / elapsedS), p50Ms: at(0.5), p99Ms: at(0.99), duplicates, errors };
  } finally {
    await client.close();
    await cluster.stop();
  }
}

async function load(client: ReturnType<typeof createClient>, callers: number, ms: number, seen: Set<string>, latencies: number[], sequences: number): Promise<{ errors: number; duplicates: number }> {
  const stopAt = performance.now() + ms;
  let errors = 0;
  let duplicates = 0;
  await Promise.all(Array.from({ length: callers }, async (_, caller) => {
    for (let k = 0; performance.now() < stopAt; k++) {
      const sentAt = performance.now();
      // A fixed walk over the sequences (no randomness: runs compare like for like).
      const sequence = sequences === 1 ? 'hot' : `s${(caller * 7919 + k * 104729) % sequences}`;
      try {
        const n = await client.inc('bench', sequence);
        latencies.push(performance.now() - sentAt);
        const id = `${sequence}:${n}`;
        if (seen.has(id)) duplicates++;
        seen.add(id);
      } catch {
        errors++;
      }
    }
  }));
  return { errors, duplicates };
}

const { values } = toolArgs('bench/client-inc.ts', USAGE, { options: { callers: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, port: { type: 'string' }, sequences: { type: 'string' } } });
const sequences = Number(values.sequences ?? 1);
const callers = Number(values.callers ?? 50);
const seconds = Number(values.seconds ?? 5);
const rounds = Number(values.rounds ?? 2);
const port = Number(values.port ?? 17700);
for (const [name, v, max] of [['callers', callers, 4096], ['seconds', seconds, 600], ['rounds', rounds, 20], ['sequences', sequences, 1_000_000]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    console.error(`--${name} must be an integer in 1..${max}`);
    process.exit(2);
  }
}
for (let r = 0; r < rounds; r++) {
  for (const merge of [false, true]) {
    const x = await run(port, merge, callers, seconds, sequences);
    console.log(`mergeIncs ${merge ? 'on ' : 'off'}: ${x.perSecond} INC/s, p50 ${x.p50Ms.toFixed(2)} ms, p99 ${x.p99Ms.toFixed(2)} ms, ${x.duplicates} duplicates, ${x.errors} errors (${callers} callers, ${sequences} sequence(s), ${seconds} s)`);
  }
}
