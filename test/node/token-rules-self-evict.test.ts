/**
 * A review of token rules 2's first version: when every remembered token was ahead of the log
 * clock (a client up to 60 s fast at the count bound), the count bound evicted the token the
 * command had just remembered, in the same apply. Its retry (a lost reply) then got a second
 * number (opaque token) or TOKEN_EXPIRED with the number already taken (timed token), and the
 * fence sat at the newest correct token, so a correct token from a clock a few ms behind was
 * refused on its first try. Rules 1 never did (each case also runs under rules 1).
 */
import test from 'ava';
import { MemoryKv, StateMachine, decodeCommand } from '../../node/state-machine/index.ts';
import { setTokenOptions } from '../../node/state-machine/token-options.ts';
import { T0, entry, show } from '../helpers/token-log.ts';

const AHEAD_MS = 50_000;

function shard(tokensMax: number, rules: 1 | 2) {
  const kv = new MemoryKv();
  setTokenOptions(kv, { tokenRetentionMs: 86_400_000, tokensMax });
  const machine = new StateMachine({});
  const apply = (e: Uint8Array): string => {
    const d = decodeCommand(e);
    return show(machine.apply(kv, d.command, d.timeMs));
  };
  if (rules === 2) apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  // A client 50 s fast fills the bound (3) with tokens ahead of the clock.
  for (let i = 0; i < 3; i++) apply(entry(1 + i, 'INC', 'b', 'fast', 'ID', `${T0 + 1 + i + AHEAD_MS}-fast${i}`));
  return apply;
}

for (const rules of [1, 2] as const) {
  test(`rules ${rules}: an opaque-token INC retried at once gets its own number, not a second one`, (t) => {
    const apply = shard(3, rules);
    const first = apply(entry(100, 'INC', 'b', 's', 'ID', 'opaque-token-1'));
    const retry = apply(entry(101, 'INC', 'b', 's', 'ID', 'opaque-token-1'));
    t.is(first, '1');
    t.is(retry, first, 'the retry of the token just answered got a second number');
  });

  test(`rules ${rules}: an opaque-token RESERVE retried at once gets its own number, not a second reservation`, (t) => {
    const apply = shard(3, rules);
    const first = apply(entry(100, 'RESERVE', 'b', 'r', 'TTL', '60', 'ID', 'opaque-token-2'));
    const retry = apply(entry(101, 'RESERVE', 'b', 'r', 'TTL', '60', 'ID', 'opaque-token-2'));
    t.is(first, '1');
    t.is(retry, first, 'the retry reserved a second number');
  });

  test(`rules ${rules}: a correct timed token retried at once gets its number (not TOKEN_EXPIRED)`, (t) => {
    const apply = shard(3, rules);
    const token = `${T0 + 100}-router-a`;
    t.is(apply(entry(100, 'INC', 'b', 's', 'ID', token)), '1');
    t.is(apply(entry(101, 'INC', 'b', 's', 'ID', token)), '1', 'the number was taken but its retry is refused');
  });

  // Under rules 1 this fails for the reason the commit fixed (the fence 50 s ahead); rules 2 only.
  if (rules === 2) test(`rules ${rules}: a correct new token from a clock 5 ms behind another correct one is served on its first try`, (t) => {
    const apply = shard(3, rules);
    t.is(apply(entry(100, 'INC', 'b', 's', 'ID', `${T0 + 100}-router-a`)), '1');
    // Router B's clock is 5 ms behind router A's (both well within any NTP bound).
    t.is(apply(entry(101, 'INC', 'b', 's', 'ID', `${T0 + 96}-router-b`)), '2', 'a new, never-seen token was refused');
  });
}

test('rules 2: a router INCS block at a bound held by tokens ahead: the PART retry of a member finds its number', (t) => {
  const apply = shard(3, 2);
  const token = `${T0 + 100}-abcdefghijklmnop+2`;
  t.is(apply(entry(100, 'INCS', 'b', token, 'x', 'y')), '[1,1]');
  t.is(apply(entry(101, 'INC', 'b', 'y', 'ID', token, 'PART', '1/2')), '1', 'the block took y=1 but the part retry is refused');
});
