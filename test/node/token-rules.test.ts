/**
 * Token rules 2 (node/state-machine/options.ts TOKEN_RULES_LATEST): a timed token still ahead of
 * the log clock is moved to the back of the eviction order instead of evicted, so the
 * TOKEN_EXPIRED fence never passes the clock. Rules 1 stay exactly as they were until
 * `CLUSTER TOKENRULES 2` is applied, at the same index on every replica, whatever its flags.
 */
import test from 'ava';
import { MemoryKv, StateMachine, decodeCommand, type StateMachineOptions } from '../../node/state-machine/index.ts';
import { setTokenOptions, storedTokenRules, tokenRules } from '../../node/state-machine/token-options.ts';
import { getMeta } from '../../node/state-machine/meta.ts';
import { TOKEN_KEEP_BEHIND_MS, TOKEN_RULES_LATEST, resolveOptions } from '../../node/state-machine/options.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { T0, dump, entry, parse, replica as founded, show } from '../helpers/token-log.ts';

const AHEAD_MS = 50_000;
/** An INC with a timed token made by a clock `skewMs` ahead of the log's, at log time `ms`. */
const timed = (ms: number, skewMs: number, name: string): Uint8Array => entry(ms, 'INC', 'b', 's', 'ID', `${T0 + ms + skewMs}-${name}`);
const replica = (flags: StateMachineOptions, tokensMax: number) => founded(flags, { tokenRetentionMs: 86_400_000, tokensMax });

/** Three tokens of a clock 50 s ahead, then plain-clock tokens at the bound of 3. */
function skewThenPlain(startMs: number): Uint8Array[] {
  return [
    ...[0, 1, 2].map((i) => timed(startMs + i, AHEAD_MS, `skewed${i}`)),
    ...[0, 1, 2, 3, 4].map((i) => timed(startMs + 10 + i, 0, `plain${i}`)),
  ];
}

test('rules 1 (no CLUSTER TOKENRULES applied): kept as they were, the fence moves 50 s ahead and plain tokens are refused', (t) => {
  const r = replica({}, 3);
  const replies = skewThenPlain(0).map((e) => r.apply(e));
  t.deepEqual(replies.slice(0, 3), ['1', '2', '3']);
  t.true(replies.slice(3).includes(ErrorCode.TOKEN_EXPIRED), replies.join(' '));
  t.is(tokenRules(r.kv, resolveOptions()), 1);
});

test('CLUSTER TOKENRULES 2 switches every replica at one entry: tokens ahead are kept, plain ones served, states identical', (t) => {
  const log = [entry(0, 'CLUSTER', 'TOKENRULES', '2'), ...skewThenPlain(1)];
  const replicas = [replica({}, 3), replica({ tokensMax: 1000 }, 3), replica({ evictionsPerCommandMax: 1000 }, 3)];
  const replies = replicas.map((r) => log.map((e) => r.apply(e)).join(' '));
  t.is(replies[0], 'ok 1 2 3 4 5 6 7 8');
  t.deepEqual(replies, [replies[0], replies[0], replies[0]]);
  for (const r of replicas.slice(1)) t.is(dump(r.kv), dump(replicas[0]!.kv));
  const kv = replicas[0]!.kv;
  t.is(storedTokenRules(kv), 2);
  t.true(Number(getMeta(kv, 'evictedTimedMaxMs')) <= Number(getMeta(kv, 'clockMs')) - TOKEN_KEEP_BEHIND_MS, 'the fence stayed TOKEN_KEEP_BEHIND_MS behind the clock');
  // Every token is recent (ahead, or made within the last 10 s): all kept, beyond the bound of 3.
  t.is(Number(getMeta(kv, 'tokens')), 8, 'the three ahead and the five plain ones');
  // skewed1 was made at log time 2 (skewThenPlain(1)): its retry carries the same token.
  t.is(replicas[0]!.apply(entry(20, 'INC', 'b', 's', 'ID', `${T0 + 2 + AHEAD_MS}-skewed1`)), '2', 'a retry of a kept token gets its number');
});

test('a kept token is evicted once the clock is TOKEN_KEEP_BEHIND_MS past its time, and only then moves the fence', (t) => {
  const r = replica({}, 3);
  r.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  for (const e of skewThenPlain(1)) r.apply(e);
  // Just past the skewed tokens' times: still kept (a retry of one still gets its number).
  t.is(r.apply(timed(AHEAD_MS + 5_000, 0, 'soon')), '9');
  t.is(r.apply(entry(AHEAD_MS + 5_001, 'INC', 'b', 's', 'ID', `${T0 + 2 + AHEAD_MS}-skewed1`)), '2');
  // Writes 20 s apart from 70 s on: the skewed and plain tokens are old now, pushed out in turn.
  const later = [0, 1, 2, 3, 4, 5].map((i) => r.apply(timed(70_000 + 20_000 * i, 0, `late${i}`)));
  t.deepEqual(later, ['10', '11', '12', '13', '14', '15']);
  t.is(Number(getMeta(r.kv, 'tokens')), 3);
  const fence = Number(getMeta(r.kv, 'evictedTimedMaxMs'));
  t.true(fence >= T0 + AHEAD_MS, 'the skewed tokens were evicted');
  t.true(fence <= Number(getMeta(r.kv, 'clockMs')) - TOKEN_KEEP_BEHIND_MS);
  t.is(r.apply(entry(200_000, 'INC', 'b', 's', 'ID', `${T0 + 2 + AHEAD_MS}-skewed1`)), ErrorCode.TOKEN_EXPIRED, 'a retry of an evicted one is refused, never given a second number');
});

test('a correct router token made a few ms before its entry is stamped is never refused, however a fast client\'s tokens come due (a review)', (t) => {
  const r = replica({}, 3);
  r.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  t.is(r.apply(entry(1, 'INC', 'b', 'x', 'ID', `${T0 + AHEAD_MS}-fast`)), '1');
  for (let i = 0; i < 3; i++) t.is(r.apply(timed(2 + i, 0, `router-a-${i}`)), `${i + 1}`);
  // The clock passes the fast token's time, and more: router B's tokens are 2 ms older than
  // their stamps (network, batching) or one router retried its token for 4 s.
  const replies: string[] = [];
  for (let ms = AHEAD_MS + 1; ms < AHEAD_MS + TOKEN_KEEP_BEHIND_MS + 20_000; ms += 500) {
    replies.push(r.apply(entry(ms, 'INC', 'b', 's', 'ID', `${T0 + ms - 2}-router-b-${ms}`)));
    replies.push(r.apply(entry(ms + 1, 'INC', 'b', 's', 'ID', `${T0 + ms - 4_000}-router-c-${ms}`)));
  }
  t.deepEqual(replies.filter((x) => !/^\d+$/.test(x)), [], 'every new correct token served');
  t.true(Number(getMeta(r.kv, 'evictedTimedMaxMs')) >= T0 + AHEAD_MS, 'the fast token was evicted meanwhile');
});

test('the retention window keeps a token ahead too (retention shorter than the skew)', (t) => {
  const kv = new MemoryKv();
  setTokenOptions(kv, { tokenRetentionMs: 1000, tokensMax: 100 });
  const machine = new StateMachine({});
  const apply = (e: Uint8Array): string => {
    const d = decodeCommand(e);
    return show(machine.apply(kv, d.command, d.timeMs));
  };
  apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  t.is(apply(timed(1, AHEAD_MS, 'skewed')), '1');
  t.is(apply(timed(5000, 0, 'plain')), '2', 'not refused: the skewed token outlived its retention but was not evicted');
  t.is(apply(timed(5001, AHEAD_MS - 5000, 'skewed')), '1', 'and a retry of it still gets its number');
  t.true(Number(getMeta(kv, 'evictedTimedMaxMs')) <= Number(getMeta(kv, 'clockMs')));
});

test('tokens due while recent are held beyond the bound, each once; the rest stay strictly oldest first', (t) => {
  const r = replica({ evictionsPerCommandMax: 1000 }, 2);
  r.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  for (let i = 0; i < 20; i++) t.is(r.apply(timed(1 + i, AHEAD_MS, `skewed${i}`)), `${i + 1}`);
  t.is(Number(getMeta(r.kv, 'tokensHeld')), 18, 'beyond the bound of 2, the 18 oldest are held');
  const serialBefore = getMeta(r.kv, 'tokenSerial');
  // Opaque tokens (never recent) after them: each is remembered for the bound's later writes.
  const replies = Array.from({ length: 6 }, (_, i) => r.apply(entry(100 + i, 'INC', 'b', 's', 'ID', `opaque${i}`)));
  t.deepEqual(replies, ['21', '22', '23', '24', '25', '26']);
  t.is(getMeta(r.kv, 'tokenSerial') - serialBefore, 6n, 'no serial but its own per INC: nothing moves');
  t.is(r.apply(entry(110, 'INC', 'b', 's', 'ID', 'opaque5')), '26', 'the newest is known');
  t.is(r.apply(entry(111, 'INC', 'b', 's', 'ID', 'opaque4')), '25', 'and the one before it (the bound is 2)');
  t.is(r.apply(entry(112, 'INC', 'b', 's', 'ID', 'opaque3')), '27', 'the third is forgotten, as under rules 1 (an opaque token then takes a new number)');
  t.is(Number(getMeta(r.kv, 'tokens')) - Number(getMeta(r.kv, 'tokensHeld')), 2);
});

test('an INCS token ahead of the clock keeps its parts when held', (t) => {
  const r = replica({}, 1);
  r.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  const token = `${T0 + AHEAD_MS}-abcdefghijklmnop+2`;
  t.is(r.apply(entry(1, 'INCS', 'b', token, 'x', 'y')), '[1,1]');
  t.is(r.apply(timed(2, 0, 'plain')), '1', 'another sequence; at the bound of 1 the INCS token is moved back, this one evicted');
  t.is(r.apply(entry(3, 'INC', 'b', 'y', 'ID', token, 'PART', '1/2')), '1', 'the part retry finds its number');
  t.is(r.apply(entry(4, 'INCS', 'b', token, 'x', 'y')), '[1,1]');
});

test('CLUSTER TOKENRULES: versions 1..latest parse; newer ones are refused at decode; a lower one never lowers it', (t) => {
  t.deepEqual(parse(['CLUSTER', 'TOKENRULES', '2']), { type: 'cluster', op: 'tokenrules', version: 2 });
  for (const bad of [['0'], ['-1'], ['x'], [String(TOKEN_RULES_LATEST + 1)], []]) {
    t.throws(() => parse(['CLUSTER', 'TOKENRULES', ...bad]));
  }
  const r = replica({}, 3);
  t.is(r.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2')), 'ok');
  t.is(r.apply(entry(1, 'CLUSTER', 'TOKENRULES', '1')), 'ok');
  t.is(storedTokenRules(r.kv), 2);
  t.throws(() => resolveOptions({ tokenRules: TOKEN_RULES_LATEST + 1 }), { instanceOf: RangeError });
});

test('bounded work: with 1,000 tokens ahead at the front, an INC moves at most one and rewrites a few records', (t) => {
  const r = replica({ evictionsPerCommandMax: 1000 }, 1000);
  r.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  for (let i = 0; i < 1000; i++) r.apply(timed(1 + i, AHEAD_MS, `skewed${i}`));
  const serialBefore = getMeta(r.kv, 'tokenSerial');
  for (let i = 0; i < 2000; i++) t.regex(r.apply(timed(2000 + i, 0, `plain${i}`)), /^\d+$/);
  // Each INC: its own serial and at most two moves (one per eviction pass); before the fix, every
  // INC moved every token ahead at the front (a review: ~130x the apply cost).
  const serialsPerInc = Number(getMeta(r.kv, 'tokenSerial') - serialBefore) / 2000;
  t.true(serialsPerInc <= 3, `${serialsPerInc} serials per INC`);
  // The bound is exceeded by at most the recent tokens, and comes back once they are old.
  t.true(Number(getMeta(r.kv, 'tokens')) <= 3000, `${getMeta(r.kv, 'tokens')} tokens`);
  // 50 writes a second from well past them: 500 recent ones (10 s worth) beyond the bound at most.
  for (let i = 0; i < 6000; i++) r.apply(timed(AHEAD_MS + 100_000 + 20 * i, 0, `late${i}`));
  t.true(Number(getMeta(r.kv, 'tokens')) <= 1000 + TOKEN_KEEP_BEHIND_MS / 20 + 1, `${getMeta(r.kv, 'tokens')} tokens`);
});
