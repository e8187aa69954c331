/**
 * CLUSTER EXPORTPAGE on a replicated shard is a read on its leader (node/replication/
 * export-page-read.ts), not a log entry: a page cost a Raft round and every follower a scan.
 * On a 3-node shard of real processes: the leader answers it with no entry appended, a follower
 * redirects it like any read. On a frozen state: the read's pages are byte for byte the applied
 * entry's, and the read barrier's GET ignores a frozen bucket that a client's GET is refused on.
 */
import test from 'ava';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { TOKEN_RULES_LATEST } from '../../node/state-machine/options.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { slotOf } from '../../shared/placement/slot.ts';
import { exportPageFromState } from '../../node/ownership/apply-cluster.ts';
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { slotTable } from '../../node/ownership/catalog.ts';
import { read } from '../../node/state-machine/index.ts';
import { BARRIER_GET } from '../../node/replication/read-barrier.ts';
import { apply, cluster, inc, threeShards } from '../helpers/logged-apply.ts';

test('EXPORTPAGE is served by the leader without a log entry; a follower answers NOTLEADER', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  const follower = c.nodes.find((n) => n.index !== leader)!.index;
  for (let i = 0; i < 5; i++) t.regex(await command(c.nodes[leader]!.port, ['INC', 'b', `s${i}`], 5000), /^:1/);
  // A fresh shard's leader proposes its token options and rules once it has heard every member
  // (token-options-sync.ts): wait for those entries, or one may land inside the window below.
  for (const until = Date.now() + 15_000; Date.now() < until && (await c.infoSoon(leader)).token_rules !== String(TOKEN_RULES_LATEST); ) await sleep(100);
  const slots = SlotSet.of([1, 2, 3]).toBase64();
  const lastIndex = async (): Promise<number> => Number((await c.infoSoon(leader)).last_index);
  const before = await lastIndex();
  const replies: string[] = [];
  for (let i = 0; i < 5; i++) replies.push((await command(c.nodes[leader]!.port, ['CLUSTER', 'EXPORTPAGE', '7', slots, '-'], 5000)).trim());
  // A standalone shard has no move: the refusal applying it gave, now from a read.
  for (const r of replies) t.regex(r, /^-CLUSTERDOWN this node is not part of a sharded cluster/, r);
  t.is(await lastIndex(), before, 'EXPORTPAGE appended log entries');
  t.regex((await command(c.nodes[follower]!.port, ['CLUSTER', 'EXPORTPAGE', '7', slots, '-'], 5000)).trim(), /^-NOTLEADER /);
});

test('a page read from a frozen state is byte for byte the page applying EXPORTPAGE gives; the barrier GET skips ownership', (t) => {
  const s = threeShards();
  const table = slotTable(s[1]!);
  const buckets: string[] = [];
  for (let i = 0; buckets.length < 3; i++) if (table[slotOf(`p${i}`)] === '2') buckets.push(`p${i}`);
  for (const [n, b] of buckets.entries()) for (let k = 0; k < 400 * (n + 1); k++) apply(s[2]!, inc(b, `1000-${b}-${k}`));
  const slots = SlotSet.of(buckets.map((b) => slotOf(b))).toBase64();
  const begun = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', slots));
  if (begun.type !== 'bulk') throw new Error(JSON.stringify(begun));
  const m = String((JSON.parse(begun.value.toString()) as { epoch: number }).epoch);
  const page = (cursor: string) => parseClusterCommand(['CLUSTER', 'EXPORTPAGE', m, slots, cursor].map((a) => Buffer.from(a, 'latin1')));
  // Before FREEZE: both refuse alike.
  t.deepEqual(exportPageFromState(s[2]!, page('-') as never), apply(s[2]!, page('-')));
  t.is(apply(s[2]!, cluster('FREEZE', m, slots)).type, 'ok');
  let cursor = '-';
  let pages = 0;
  for (;;) {
    const read = exportPageFromState(s[2]!, page(cursor) as never);
    const applied = apply(s[2]!, page(cursor));
    t.deepEqual(read, applied, `page ${pages}`);
    if (applied.type !== 'array') break;
    pages++;
    if (applied.value[3] === 1n) break;
    cursor = (applied.value[2] as Buffer).toString('base64');
  }
  t.true(pages >= 3, `${pages} pages`);
  const frozenGet = { type: 'get' as const, bucket: Buffer.from(buckets[0]!), sequence: Buffer.from('s') };
  const got = read(s[2]!, frozenGet);
  t.is(got.type === 'error' ? got.code : got.type, 'TRY_AGAIN', 'a client GET of a frozen bucket');
  t.deepEqual(read(s[2]!, { ...frozenGet, barrier: true }), read(s[2]!, BARRIER_GET as typeof frozenGet), 'the barrier reads nothing');
  t.is(read(s[2]!, { ...frozenGet, barrier: true }).type, 'nil');
});
