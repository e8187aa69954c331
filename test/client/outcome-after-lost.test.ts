/**
 * After an attempt that may have applied (its reply was lost), a retry's final error proves
 * nothing (had the first attempt applied, the retry would get its original reply): the call ends
 * OUTCOME_UNKNOWN with its token, never as a plain refusal that hides the number it took (cases
 * a review found: `-ERR storage failed`, `-NOAUTH`, a merged block). And `seqdb cli` names the
 * whole command to retry, COUNT included. The real client against a scripted server (the client
 * is what is under test).
 */
import test from 'ava';
import { createClient, ClientErrorCode, OutcomeUnknownError } from '../../client/index.ts';
import { runLine } from '../../client/cli/repl.ts';
import { FAST_RETRIES, startFake } from './fake-server.ts';

for (const errorLine of ['-ERR storage failed: MDB_MAP_FULL\r\n', '-NOAUTH Authentication required.\r\n']) {
  test(`a lost reply (the INC applied), then ${errorLine.trim()}: OUTCOME_UNKNOWN with the token`, async (t) => {
    const server = await startFake(t);
    server.script = (args, i) => (args[0] !== 'inc' ? undefined : i === 0 ? { drop: 'after' } : { reply: errorLine });
    const client = createClient({ routers: [server.address], ...FAST_RETRIES, deadlineMs: 2000 });
    t.teardown(() => client.destroy());
    const err = await t.throwsAsync(client.inc('b', 's'));
    t.is(server.values.get('b\u0000s'), 1n, 'the first attempt took a number');
    t.true(err instanceof OutcomeUnknownError, `${err?.constructor.name}: ${err?.message}`);
    t.is((err as OutcomeUnknownError).code, ClientErrorCode.OUTCOME_UNKNOWN);
    t.truthy((err as OutcomeUnknownError).token);
  });
}

test('a merged block whose reply was lost, then -ERR storage failed: every member OUTCOME_UNKNOWN', async (t) => {
  const server = await startFake(t);
  server.script = (args, i) => (args[0] !== 'inc' ? undefined : i === 0 ? { drop: 'after' } : { reply: '-ERR storage failed: disk\r\n' });
  const client = createClient({ routers: [server.address], ...FAST_RETRIES, deadlineMs: 2000, mergeIncs: true });
  t.teardown(() => client.destroy());
  const results = await Promise.allSettled([client.inc('b', 's'), client.inc('b', 's'), client.inc('b', 's')]);
  for (const r of results) t.true(r.status === 'rejected' && r.reason instanceof OutcomeUnknownError, JSON.stringify(r.status === 'rejected' ? (r.reason as Error).message : r));
});

test('seqdb cli: the retry hint of an unknown INC ... COUNT 5 is the whole command with its ID', async (t) => {
  const server = await startFake(t);
  server.script = (args) => (args[0] === 'inc' ? { drop: 'after' } : undefined);
  const client = createClient({ routers: [server.address], ...FAST_RETRIES, deadlineMs: 600 });
  t.teardown(() => client.destroy());
  t.regex(await runLine('INC b s COUNT 5', client), /retry with: INC b s COUNT 5 ID \S+$/);
});
