/**
 * A review: one client 50 s ahead (within the 60 s a token may be ahead) whose tokens the count
 * bound evicted raised the TOKEN_EXPIRED fence 50 s into the future, and every plain INC through
 * a router (router-made tokens carry the router's clock) was refused TOKEN_EXPIRED for ~50 s.
 * Token rules 2 (node/state-machine/options.ts) keep a token ahead of the log clock instead of
 * evicting it; a replicated shard switches to them through the log once every member has them
 * (node/replication/token-options-sync.ts), a single node uses them at once. (A leader-side
 * refusal of such tokens was tried first and reverted: the leader's applied state may not yet
 * hold an earlier attempt of the same token, so a retry could be told "nothing taken" after a
 * number was taken.)
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevCluster } from '../../router/dev-cluster.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An INC reply as a kind: a number, TOKEN_AHEAD or TOKEN_EXPIRED (both -ERR on the wire), or itself. */
function kind(reply: string): string {
  const r = reply.trim();
  if (/^:\d+$/.test(r)) return 'number';
  if (/^-ERR ID token time is .* ahead/.test(r)) return 'ahead';
  if (/^-ERR ID token expired/.test(r)) return 'expired';
  return r;
}

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
  // The shard's leader switches it to token rules 2 through the log within a second or so.
  const node = await RespClient.connect(port + 1);
  t.teardown(() => node.close());
  for (let i = 0; !/token_rules:2/.test(await node.call('INFO')); i++) {
    if (i > 100) throw new Error(`token rules never switched: ${await node.call('INFO')}`);
    await sleep(100);
  }
  for (let i = 0; i < 60; i++) await c.call('INC', 'other', 's'); // tokens at the bound
  await skewedThenPlain(t, port, c);
});

test('a single node (--tokens-max 50): plain INCs with router-style tokens keep working after a client 50 s ahead', async (t) => {
  const node = await startTestNode(t, { stateMachine: { tokensMax: 50 } });
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  t.regex(await c.call('INFO'), /token_rules:2/, 'a single node has no replicas to wait for');
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
