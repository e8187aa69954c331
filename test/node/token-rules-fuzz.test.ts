/**
 * Token rules (a review's fuzz, seeded: the test title is the seed, TOKEN_RULES_SEED=<n> runs
 * one): random logs of timed (ahead / plain / behind), opaque, INCS, RESERVE tokens
 * and retries, CLUSTER TOKENRULES 2 at a random point, small bounds; applied (a) one command per
 * transaction on a MemoryKv and (b) in random batches through CachedTxn (first-window, WeakMap),
 * as a leader batching differently from a follower would. Checks: same replies, same state;
 * a timed token never gets two different numbers; the fence never passes the clock under rules 2.
 */
import test from 'ava';
import { decodeCommand } from '../../node/state-machine/index.ts';
import { getMeta } from '../../node/state-machine/meta.ts';
import { T0, applyBatched, dump, fuzzReplica, rng, show, tokenRecords, fuzzSeeds } from '../helpers/token-log.ts';


interface Sent { args: string[]; timed: boolean; key: string }

function makeLog(seed: number) {
  const r = rng(seed);
  let now = 0;
  const log: { args: string[]; timeMs: number; key?: string; timed?: boolean }[] = [];
  const sent: Sent[] = [];
  const switchAt = r(300);
  for (let i = 0; i < 400; i++) {
    if (i === switchAt) log.push({ args: ['CLUSTER', 'TOKENRULES', '2'], timeMs: T0 + now });
    now += r(4) === 0 ? r(20_000) : r(30);
    const clock = T0 + now;
    const kind = r(10);
    if (kind < 3 && sent.length > 0) {
      const s = sent[r(sent.length)]!;
      log.push({ args: s.args, timeMs: clock, key: s.key, timed: s.timed });
      continue;
    }
    const seq = `s${r(3)}`;
    let token: string;
    let timed = true;
    const flavour = r(5);
    if (flavour === 0) token = `${clock + 1 + r(59_000)}-ahead${i}`;
    else if (flavour === 1) token = `${clock - r(50)}-plain${i}`;
    else if (flavour === 2) token = `${clock + r(3000)}-near${i}`;
    else if (flavour === 3) token = `${clock - r(5000)}-behind${i}`;
    else { token = `opaque${i}`; timed = false; }
    let args: string[];
    const cmd = r(6);
    if (cmd === 0) args = ['RESERVE', 'b', `r${r(2)}`, 'TTL', '30', 'ID', token];
    else if (cmd === 1 && timed) args = ['INCS', 'b', `${token.split('-')[0]}-${`k${i}`.padEnd(16, 'q')}+2`, 'x', 'y'];
    else if (cmd === 2) args = ['INC', 'b', seq, 'COUNT', '3', 'ID', token];
    else args = ['INC', 'b', seq, 'ID', token];
    const key = args.join(' ');
    const s = { args, timed, key };
    sent.push(s);
    log.push({ args, timeMs: clock, key, timed });
  }
  return { log, tokensMax: 1 + r(6), retentionMs: 500 + r(40_000), evictionsMax: 1 + r(6) };
}

const seeds = fuzzSeeds(100);
for (const seed of seeds) {
  test(`seed ${seed} (TOKEN_RULES_SEED=${seed} to replay)`, (t) => {
    const { log, tokensMax, retentionMs, evictionsMax } = makeLog(seed);
    // (a) one command per transaction
    const { entries, opts, kv: a, machine: ma } = fuzzReplica(log, { tokensMax, retentionMs, evictionsMax });
    const ra: string[] = [];
    const firstNumber = new Map<string, string>();
    for (let i = 0; i < entries.length; i++) {
      const d = decodeCommand(entries[i]!);
      const fenceBefore = getMeta(a, 'evictedTimedMaxMs');
      const rulesBefore = Number(getMeta(a, 'tokenRules'));
      const res = show(ma.apply(a, d.command, d.timeMs));
      ra.push(res);
      const l = log[i]!;
      if (l.key !== undefined && l.timed === true && /^[[0-9]/.test(res)) {
        const was = firstNumber.get(l.key);
        if (was !== undefined && was !== res) t.fail(`entry ${i} ${l.args.join(' ')}: got ${res}, earlier ${was} (tokensMax ${tokensMax}, retention ${retentionMs}, evict ${evictionsMax})`);
        firstNumber.set(l.key, res);
      }
      if (rulesBefore >= 2 && getMeta(a, 'evictedTimedMaxMs') !== fenceBefore && Number(getMeta(a, 'evictedTimedMaxMs')) > Number(getMeta(a, 'clockMs'))) {
        t.fail(`entry ${i}: fence ${getMeta(a, 'evictedTimedMaxMs')} passed clock ${getMeta(a, 'clockMs')}`);
      }
    }
    t.is(Number(getMeta(a, 'tokens')), tokenRecords(a), 'token count meta matches records');
    // (b) random batches through CachedTxn with tiny windows
    const { replies: rb, kv: b } = applyBatched(entries, opts, { tokenRetentionMs: retentionMs, tokensMax }, seed * 7919);
    t.deepEqual(rb, ra);
    t.is(dump(b), dump(a));
  });
}
