/**
 * A review's token rules 2 fuzz (seeded: the test title is the seed), extended from test/node/token-rules-fuzz.test.ts: log-time steps
 * around the 10 s keep window, retention often shorter than 10 s, tokens 0-15 s behind, slot-free.
 * Checks under rules 2 (switched at entry 0): a timed token never gets two numbers; the fence
 * stays >= 10 s behind the clock; a NEW timed token at most 5 s behind the clock is never refused
 * TOKEN_EXPIRED when retention >= 5 s; batching through CachedTxn gives the same replies and state.
 */
import test from 'ava';
import { decodeCommand } from '../../node/state-machine/index.ts';
import { getMeta } from '../../node/state-machine/meta.ts';
import { T0, applyBatched, dump, fuzzReplica, rng, show, tokenRecords, fuzzSeeds } from '../helpers/token-log.ts';


function makeLog(seed: number) {
  const r = rng(seed);
  let now = 0;
  const log: { args: string[]; timeMs: number; key?: string; timed?: boolean; fresh?: boolean; tokenMs?: number }[] = [];
  const sent: { args: string[]; timed: boolean; key: string }[] = [];
  log.push({ args: ['CLUSTER', 'TOKENRULES', '2'], timeMs: T0 });
  for (let i = 0; i < 500; i++) {
    const step = r(5);
    now += step === 0 ? r(12_000) : step === 1 ? 9_990 + r(20) : r(40);
    const clock = T0 + now;
    if (r(10) < 3 && sent.length > 0) {
      const s = sent[r(sent.length)]!;
      log.push({ args: s.args, timeMs: clock, key: s.key, timed: s.timed });
      continue;
    }
    let token: string;
    let timed = true;
    let tokenMs: number | undefined;
    const flavour = r(6);
    if (flavour === 0) tokenMs = clock + 1 + r(59_000);
    else if (flavour === 1) tokenMs = clock - r(50);
    else if (flavour === 2) tokenMs = clock - r(5000);
    else if (flavour === 3) tokenMs = clock - r(15_000);
    else if (flavour === 4) tokenMs = clock - 9_990 - r(20);
    if (tokenMs === undefined) { token = `opaque${i}`; timed = false; } else token = `${tokenMs}-t${i}`;
    const cmd = r(6);
    let args: string[];
    if (cmd === 0) args = ['RESERVE', 'b', `r${r(2)}`, 'TTL', '30', 'ID', token];
    else if (cmd === 1 && timed) args = ['INCS', 'b', `${tokenMs}-${`k${i}`.padEnd(16, 'q')}+2`, 'x', 'y'];
    else if (cmd === 2) args = ['INC', 'b', `s${r(3)}`, 'COUNT', '3', 'ID', token];
    else args = ['INC', 'b', `s${r(3)}`, 'ID', token];
    const key = args.join(' ');
    sent.push({ args, timed, key });
    log.push({ args, timeMs: clock, key, timed, fresh: true, tokenMs });
  }
  return { log, tokensMax: 1 + r(6), retentionMs: 500 + r(15_000), evictionsMax: 1 + r(6) };
}

const seeds = fuzzSeeds(100);
for (const seed of seeds) {
  test(`window seed ${seed} (TOKEN_RULES_SEED=${seed} to replay)`, (t) => {
    const { log, tokensMax, retentionMs, evictionsMax } = makeLog(seed);
    const { entries, opts, kv: a, machine: ma } = fuzzReplica(log, { tokensMax, retentionMs, evictionsMax });
    const ra: string[] = [];
    const firstNumber = new Map<string, string>();
    const params = `(tokensMax ${tokensMax}, retention ${retentionMs}, evict ${evictionsMax})`;
    for (let i = 0; i < entries.length; i++) {
      const d = decodeCommand(entries[i]!);
      const clockBefore = Math.max(Number(getMeta(a, 'clockMs')), d.timeMs);
      const res = show(ma.apply(a, d.command, d.timeMs));
      ra.push(res);
      const l = log[i]!;
      if (l.key !== undefined && l.timed === true) {
        const was = firstNumber.get(l.key);
        if (/^[[0-9]/.test(res)) {
          if (was !== undefined && was !== res) t.fail(`entry ${i} ${l.args.join(' ')}: got ${res}, earlier ${was} ${params}`);
          firstNumber.set(l.key, res);
        } else if (res === 'TOKEN_EXPIRED' && was !== undefined) {
          const age = clockBefore - Number(l.args.find((x) => /^\d+-/.test(x))!.split('-')[0]);
          if (age < 9_000 && age < retentionMs) t.fail(`entry ${i} ${l.args.join(' ')}: TOKEN_EXPIRED ${age} ms behind after its number ${was} was taken ${params}`);
        }
      }
      if (l.fresh === true && res === 'TOKEN_EXPIRED' && l.tokenMs !== undefined && clockBefore - l.tokenMs <= 5_000 && retentionMs >= 5_000) {
        t.fail(`entry ${i} ${l.args.join(' ')}: a new token ${clockBefore - l.tokenMs} ms behind refused ${params}`);
      }
      const fence = Number(getMeta(a, 'evictedTimedMaxMs'));
      if (fence > Number(getMeta(a, 'clockMs')) - 10_000 && fence !== 0) t.fail(`entry ${i}: fence ${fence - Number(getMeta(a, 'clockMs'))} ms from clock ${params}`);
    }
    t.is(Number(getMeta(a, 'tokens')), tokenRecords(a), 'token count meta matches records');
    // (b) random batches through CachedTxn with tiny windows
    const { replies: rb, kv: b } = applyBatched(entries, opts, { tokenRetentionMs: retentionMs, tokensMax }, seed * 7919);
    t.deepEqual(rb, ra);
    t.is(dump(b), dump(a));
  });
}
