/**
 * A token timed ahead that the shard would forget before its time is refused up front
 * (node/state-machine/future-tokens.ts). A review: one client 50 s ahead (within the 60 s a token
 * may be ahead) whose tokens the count bound evicted raised the TOKEN_EXPIRED fence 50 s into the
 * future, and every plain INC through a router (router-made tokens carry the router's clock) was
 * refused TOKEN_EXPIRED for ~50 s. Real state machine over LMDB; real router and node processes.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../shared/errors.ts';
import { LmdbStore, StateMachine, parseCommand, type Command } from '../../node/state-machine/index.ts';
import { evictionTurnoverMs, futureTokenRefusal } from '../../node/state-machine/future-tokens.ts';
import { startDevCluster } from '../../router/dev-cluster.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';

const cmd = (...args: string[]): Command => parseCommand(args.map((a) => Buffer.from(a, 'latin1')));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = 1_700_000_000_000;

/** An INC reply as a kind: a number, TOKEN_AHEAD or TOKEN_EXPIRED (both -ERR on the wire), or itself. */
function kind(reply: string): string {
  const r = reply.trim();
  if (/^:\d+$/.test(r)) return 'number';
  if (/^-ERR ID token time is .* ahead/.test(r)) return 'ahead';
  if (/^-ERR ID token expired/.test(r)) return 'expired';
  return r;
}

/** A store holding `count` tokens remembered `everyMs` apart from t0; returns the time of the last. */
async function withTokens(t: Parameters<typeof tempDir>[0], tokensMax: number, count: number, everyMs: number) {
  const store = LmdbStore.open({ path: await tempDir(t) });
  t.teardown(() => store.close());
  const machine = new StateMachine({ tokensMax });
  for (let i = 0; i < count; i++) {
    const at = t0 + i * everyMs;
    await store.write((txn) => machine.apply(txn, cmd('INC', 'b', 's', 'ID', `${at}-r${i}`), at));
  }
  const nowMs = t0 + (count - 1) * everyMs;
  const refusal = (aheadMs: number, token = `${nowMs + aheadMs}-x`) => {
    const r = store.read((kv) => futureTokenRefusal(kv, cmd('INC', 'b', 's', 'ID', token), aheadMs, nowMs, tokensMax));
    return r === null ? 'accepted' : r.type === 'error' ? r.code : r.type;
  };
  return { store, machine, nowMs, refusal, turnoverMs: () => store.read((kv) => evictionTurnoverMs(kv, nowMs, tokensMax)) };
}

test('steady state at the bound: the turnover is the age of the oldest token; ahead by less than half of it passes, more is refused', async (t) => {
  // 100 tokens kept, one every 500 ms for 100 s: a token stays ~50 s.
  const s = await withTokens(t, 100, 200, 500);
  const turnover = s.turnoverMs();
  t.true(turnover > 45_000 && turnover < 55_000, `turnover ${turnover}`);
  t.is(s.refusal(1_500), 'accepted', 'within the grace');
  t.is(s.refusal(20_000), 'accepted', '2 x 20 s + 5 s < ~50 s');
  t.is(s.refusal(25_000), ErrorCode.TOKEN_AHEAD, '2 x 25 s + 5 s > ~50 s');
});

test('few tokens for the bound (a quiet shard): a token ahead within the 60 s passes', async (t) => {
  const s = await withTokens(t, 1_000_000, 20, 50);
  t.is(s.refusal(55_000), 'accepted');
});

test('a token already remembered is never refused here: its retry gets its own number', async (t) => {
  const s = await withTokens(t, 10, 10, 1);
  const ahead = `${s.nowMs + 40_000}-known`;
  t.is(s.refusal(40_000, ahead), ErrorCode.TOKEN_AHEAD);
  // Remembered anyway (a leader of an older build let it through): its retry is answered.
  const r = await s.store.write((txn) => s.machine.apply(txn, cmd('INC', 'b', 's', 'ID', ahead), s.nowMs));
  t.is(r.type, 'int');
  t.is(s.refusal(40_000, ahead), 'accepted');
});

/** INCs timed 50 s ahead, then plain INCs: no plain INC may fail, and no skewed one is TOKEN_EXPIRED. */
async function skewedThenPlain(t: ExecutionContext, port: number, plainVia: RespClient): Promise<void> {
  const c = await RespClient.connect(port);
  const ahead = Date.now() + 50_000;
  const skewed = new Set<string>();
  for (let i = 0; i < 60; i++) skewed.add(kind(await c.call('INC', 'skewed', 's', 'ID', `${ahead}-skewed${i}`)));
  c.close();
  t.log(`the skewed client's answers: ${[...skewed].join(', ')}`);
  t.false(skewed.has('expired'), 'never TOKEN_EXPIRED: its tokens are refused as ahead instead');
  const after: string[] = [];
  for (let i = 0; i < 20; i++) after.push((await plainVia.call('INC', 'other', 's')).trim());
  t.deepEqual(after.filter((r) => !r.startsWith(':')), [], 'every plain INC after it is served');
}

test('through a router to a replicated shard (--tokens-max 50): plain INCs keep working after a client 50 s ahead', async (t) => {
  t.timeout(120_000);
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-future-token-'));
  const port = await freePortRange(2);
  const cluster = await startDevCluster({ host: '127.0.0.1', port, dataDir: dir, shards: 1, nodes: 1, nodeArgs: ['--tokens-max', '50'], log: () => {} });
  t.teardown(async () => {
    await cluster.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const c = await RespClient.connect(port);
  t.teardown(() => c.close());
  for (let i = 0; !(await c.call('INC', 'warm', 's')).startsWith(':'); i++) {
    if (i > 150) throw new Error('never served');
    await sleep(200);
  }
  for (let i = 0; i < 60; i++) await c.call('INC', 'other', 's'); // tokens at the bound
  await skewedThenPlain(t, port, c);
});

test('a single node (--tokens-max 50): plain INCs with router-style tokens keep working after a client 50 s ahead', async (t) => {
  const node = await startTestNode(t, { stateMachine: { tokensMax: 50 } });
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  const now = (): string => `${Date.now()}-r${Math.random().toString(36).slice(2)}`;
  for (let i = 0; i < 60; i++) await c.call('INC', 'other', 's', 'ID', now());
  const skewed = await RespClient.connect(node.address.port);
  const ahead = Date.now() + 50_000;
  const answers = new Set<string>();
  for (let i = 0; i < 60; i++) answers.add(kind(await skewed.call('INC', 'skewed', 's', 'ID', `${ahead}-skewed${i}`)));
  skewed.close();
  t.false(answers.has('expired'), [...answers].join(', '));
  const after: string[] = [];
  for (let i = 0; i < 20; i++) after.push((await c.call('INC', 'other', 's', 'ID', now())).trim());
  t.deepEqual(after.filter((r) => !r.startsWith(':')), []);
});
