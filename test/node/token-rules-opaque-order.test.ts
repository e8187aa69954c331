/**
 * A review of token rules 2's second version: recent timed tokens at the front of the eviction
 * order were moved behind newer tokens, so an OPAQUE token (never "recent") reached the front
 * early and was evicted by the count bound after only ~tokensMax/2 later writes, while older timed
 * tokens stayed remembered; a retry within tokensMax later writes then took a second number.
 * Under rules 1 an opaque token survives tokensMax later writes; now under rules 2 too (recent
 * tokens are held off the order instead: tokens.ts).
 */
import test from 'ava';
import { MemoryKv, StateMachine, decodeCommand } from '../../node/state-machine/index.ts';
import { setTokenOptions } from '../../node/state-machine/token-options.ts';
import { T0, entry, show } from '../helpers/token-log.ts';

const TOKENS_MAX = 10;

/** How many later writes an opaque token survives (its retry still gets its own number). */
function survival(rules: 1 | 2, xToken: (ms: number) => string = () => 'opaque-X'): { later: number; firstNumber: string; retry: string } {
  const kv = new MemoryKv();
  setTokenOptions(kv, { tokenRetentionMs: 86_400_000, tokensMax: TOKENS_MAX });
  const machine = new StateMachine({});
  const apply = (e: Uint8Array): string => {
    const d = decodeCommand(e);
    return show(machine.apply(kv, d.command, d.timeMs));
  };
  if (rules === 2) apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  let ms = 1;
  // One correct client (its clock = the log clock), 1 write per ms, timed and opaque tokens alternating.
  const write = (i: number) => {
    ms++;
    const token = i % 2 === 0 ? `${T0 + ms}-t${i}` : `o${i}`;
    return apply(entry(ms, 'INC', 'b', 'other', 'ID', token));
  };
  let i = 0;
  for (; i < TOKENS_MAX; i++) write(i);
  ms++;
  const x = xToken(ms);
  const firstNumber = apply(entry(ms, 'INC', 'b', 's', 'ID', x));
  for (let later = 1; later <= 3 * TOKENS_MAX; later++) {
    write(i++);
    ms++;
    const retry = apply(entry(ms, 'INC', 'b', 's', 'ID', x));
    if (retry !== firstNumber) return { later, firstNumber, retry };
  }
  return { later: Infinity, firstNumber, retry: firstNumber };
}

for (const rules of [1, 2] as const) {
  test(`rules ${rules}: an opaque token is remembered for tokensMax (${TOKENS_MAX}) later writes`, (t) => {
    const s = survival(rules);
    t.log(`rules ${rules}: opaque token forgotten after ${s.later} later writes (first ${s.firstNumber}, retry ${s.retry})`);
    t.true(s.later >= TOKENS_MAX, `forgotten after ${s.later} later writes: its retry took number ${s.retry} (first ${s.firstNumber})`);
  });
}

for (const rules of [1, 2] as const) {
  test(`rules ${rules}: a timed token of a clock 12 s slow is remembered for tokensMax (${TOKENS_MAX}) later writes`, (t) => {
    const s = survival(rules, (ms) => `${T0 + ms - 12_000}-slow`);
    t.log(`rules ${rules}: slow token forgotten after ${s.later} later writes (first ${s.firstNumber}, retry ${s.retry})`);
    t.true(s.later >= TOKENS_MAX, `forgotten after ${s.later} later writes: its retry got ${s.retry} (first ${s.firstNumber})`);
  });
}
