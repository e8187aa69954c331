/**
 * A review: with --token-retention-ms below TOKEN_KEEP_BEHIND_MS (10 s; any value >= 1 is
 * accepted), rules 2 never forget a timed token less than 10 s behind the clock, yet a NEW token
 * of a correct clock a few seconds behind (a router's retry of an INC whose first attempt never
 * reached the log) was refused TOKEN_EXPIRED by the retention test of newTokenRefusal, although
 * it cannot be one already forgotten. Under rules 2 that test uses at least 10 s now.
 */
import test from 'ava';
import { MemoryKv, StateMachine, decodeCommand } from '../../node/state-machine/index.ts';
import { setTokenOptions } from '../../node/state-machine/token-options.ts';
import { T0, entry, show } from '../helpers/token-log.ts';

test('rules 2, retention 3 s: a remembered token 4 s old is kept, and a new one 4 s old is served', (t) => {
  const kv = new MemoryKv();
  setTokenOptions(kv, { tokenRetentionMs: 3_000, tokensMax: 1_000 });
  const m = new StateMachine({});
  const apply = (e: Uint8Array) => { const d = decodeCommand(e); return show(m.apply(kv, d.command, d.timeMs)); };
  apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  t.is(apply(entry(1_000, 'INC', 'b', 's', 'ID', `${T0 + 1_000}-applied`)), '1');
  // 4 s later: the remembered token's retry still gets its number (moved back, not evicted) ...
  t.is(apply(entry(5_000, 'INC', 'b', 's', 'ID', `${T0 + 1_000}-applied`)), '1');
  // ... but a router token minted at the same moment whose first attempt never applied is refused.
  t.is(apply(entry(5_000, 'INC', 'b', 's', 'ID', `${T0 + 1_000}-never-applied`)), '2', 'a new correct token 4 s behind the clock was refused');
});
