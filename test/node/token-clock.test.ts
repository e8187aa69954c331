/**
 * Timed tokens and clocks that run fast (cases a review found): a new timed token more than
 * tokenFutureMsMax ahead of the log's clock is refused with nothing taken (TOKEN_AHEAD), so it can
 * neither raise the expiry fence into the future (which refused every correct clock's new token)
 * nor be stored as opaque and, once forgotten, be retried as new (a second number). And a router
 * that gives up on `INC ... COUNT n` names the COUNT in its retry hint. Real state machine over
 * LMDB; the router test runs the real Forwarder against a scripted node that never answers INC.
 */
import test from 'ava';
import { ErrorCode } from '../../shared/errors.ts';
import { LmdbStore, StateMachine, parseCommand, type Command, type CommandResult, type StateMachineOptions } from '../../node/state-machine/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { fakeNode, forwarderFor } from '../router/fake-node.ts';

const cmd = (...args: string[]): Command => parseCommand(args.map((a) => Buffer.from(a, 'latin1')));
const show = (r: CommandResult): string => (r.type === 'error' ? r.code : r.type === 'int' ? `int ${r.value}` : r.type);

async function runner(t: Parameters<typeof tempDir>[0], options?: StateMachineOptions) {
  const store = LmdbStore.open({ path: await tempDir(t) });
  t.teardown(() => store.close());
  const machine = new StateMachine(options);
  return (timeMs: number, ...args: string[]) => store.write((txn) => machine.apply(txn, cmd(...args), timeMs)).then(show);
}

const t0 = 1_700_000_000_000;
const MIN = 60_000;

test('a token from a clock minutes fast is refused, nothing taken; an evicted one within the bound cannot lock out correct clocks', async (t) => {
  const run = await runner(t, { tokensMax: 2 });
  t.is(await run(t0, 'INC', 'b', 's', 'ID', `${t0 + 30 * MIN}-fastclock`), ErrorCode.TOKEN_AHEAD);
  t.is(await run(t0, 'INC', 'b', 's'), 'int 1', 'the refused token took nothing');
  // Within the bound (60 s): accepted, and once evicted the fence moves at most that far ahead.
  t.is(await run(t0 + 1, 'INC', 'b', 's', 'ID', `${t0 + 50_000}-a-bit-fast`), 'int 2');
  t.is(await run(t0 + 2, 'INC', 'b', 's', 'ID', `${t0 + 2}-a`), 'int 3');
  t.is(await run(t0 + 3, 'INC', 'b', 's', 'ID', `${t0 + 3}-b`), 'int 4'); // evicts the fast one
  t.is(await run(t0 + 60_000, 'INC', 'b', 's', 'ID', `${t0 + 60_000}-new`), 'int 5', 'a correct clock a minute on');
  t.is(await run(t0 + 60_001, 'INC', 'b', 's', 'ID', `${t0 + 50_000}-a-bit-fast`), ErrorCode.TOKEN_EXPIRED, 'the evicted one never renumbered');
});

test('a token hours ahead is never kept as opaque: its retry later is refused or answered, never renumbered', async (t) => {
  const run = await runner(t, { tokensMax: 1 });
  const T = t0 + 2 * 60 * MIN;
  t.is(await run(t0, 'INC', 'b', 's', 'ID', `${T}-r`), ErrorCode.TOKEN_AHEAD);
  t.is(await run(t0 + 1, 'INC', 'b', 's', 'ID', `${t0 + 1}-x`), 'int 1');
  const retry = await run(t0 + 90 * MIN, 'INC', 'b', 's', 'ID', `${T}-r`);
  t.is(retry, ErrorCode.TOKEN_AHEAD, 'still ahead at its retry: refused again');
  t.is(await run(T, 'INC', 'b', 's', 'ID', `${T}-r`), 'int 2', 'its first acceptance, once the clock got there');
  t.is(await run(T + 1, 'INC', 'b', 's', 'ID', `${T}-r`), 'int 2');
});

test('INCS and RESERVE refuse a token far ahead the same way', async (t) => {
  const run = await runner(t);
  const ahead = `${t0 + 10 * MIN}-x`;
  t.is(await run(t0, 'INCS', 'b', `${t0 + 10 * MIN}-AAAAAAAAAAAAAAAA+2`, 's1', 's2'), ErrorCode.TOKEN_AHEAD);
  t.is(await run(t0, 'RESERVE', 'b', 'inv', 'TTL', '60', 'ID', ahead), ErrorCode.TOKEN_AHEAD);
  t.is(await run(t0, 'INC', 'b', 's1'), 'int 1', 'nothing was taken');
});

test('a router that gives up on INC ... COUNT n names the COUNT in its retry hint', async (t) => {
  const a = await fakeNode((args) => (args[0] === 'INC' ? 'ignore' : '+OK\r\n'));
  const { forwarder } = await forwarderFor(t, [a], { deadlineMs: 400, attemptTimeoutMs: 150 });
  const r = await forwarder.execute(cmd('INC', 'b', 's', 'COUNT', '5'));
  const message = r.type === 'error' ? r.message : '';
  const hint = /retry with (.*)$/.exec(message)?.[1] ?? '';
  t.regex(hint, /^ID \S+ COUNT 5$/, message);
  const run = await runner(t);
  t.is(await run(Number(hint.split(' ')[1]!.split('-')[0]), 'INC', 'b', 's', ...hint.split(' ')), 'int 5', 'following it takes the block of 5');
});
