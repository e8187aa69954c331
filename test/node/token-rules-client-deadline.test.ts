/**
 * A review: rules 2 kept a timed token only until it was 10 s behind the clock, sized for a
 * router's 5 s deadline; but the client library retries one call with one timed token for its
 * deadline, 15 s by default (client/options.ts). At a busy shard's count bound, a retry 11 s into
 * a call got TOKEN_EXPIRED: the client ended ERR_OUTCOME_UNKNOWN (its number taken but never
 * seen) or, if the first attempt never reached the shard, ERR_TOKEN_EXPIRED for a command that
 * never applied. TOKEN_KEEP_BEHIND_MS is 30 s now: the default deadline plus a router's 5 s of
 * retries of the last attempt, and room for clocks.
 */
import test from 'ava';
import { T0, entry, replica } from '../helpers/token-log.ts';
import { TOKEN_KEEP_BEHIND_MS } from '../../node/state-machine/options.ts';
import { resolveOptions } from '../../client/options.ts';

test('a client retry within its default deadline gets its number (count bound, steady load)', (t) => {
  const deadline = resolveOptions({ routers: ['127.0.0.1:1'] }).deadlineMs;
  t.true(deadline + 5_000 < TOKEN_KEEP_BEHIND_MS, `the client's default deadline (${deadline} ms) and a router's 5 s fit in the keep window (${TOKEN_KEEP_BEHIND_MS} ms)`);
  const s = replica({}, { tokenRetentionMs: 86_400_000, tokensMax: 100 });
  s.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  const mine = `${T0}-mine`;
  const first = s.apply(entry(0, 'INC', 'b', 's', 'ID', mine)); // applied; the reply is lost
  // other clients: 100 INC/s (a 100-token bound holds 1 s of them)
  const lastMs = deadline + 5_000; // the call's last attempt, retried by a router for 5 s
  for (let ms = 10; ms <= lastMs; ms += 10) s.apply(entry(ms, 'INC', 'b', 'o', 'ID', `${T0 + ms}-o${ms}`));
  t.is(s.apply(entry(lastMs, 'INC', 'b', 's', 'ID', mine)), first, 'a retry at the end of a call with the default deadline');
});

test('a client first attempt at the end of its call is not refused (never applied before)', (t) => {
  const lastMs = resolveOptions({ routers: ['127.0.0.1:1'] }).deadlineMs + 5_000;
  const s = replica({}, { tokenRetentionMs: 86_400_000, tokensMax: 100 });
  s.apply(entry(0, 'CLUSTER', 'TOKENRULES', '2'));
  for (let ms = 10; ms <= lastMs; ms += 10) s.apply(entry(ms, 'INC', 'b', 'o', 'ID', `${T0 + ms}-o${ms}`));
  t.regex(s.apply(entry(lastMs, 'INC', 'b', 's', 'ID', `${T0}-late`)), /^\d+$/);
});
