/**
 * The rebalance plan (pure), the progress output (bar on a TTY, lines otherwise), and the CLI's
 * argument checks.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { planSlots } from '../../shared/placement/ring.ts';
import { slotCount } from '../../shared/placement/slot.ts';
import type { CatalogView } from '../../node/ownership/catalog.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { formatPlan, planRebalance } from '../../node/rebalance/plan.ts';
import { formatBar, formatLine, progressSink } from '../../node/rebalance/progress.ts';
import { percentile } from '../../node/rebalance/rebalance.ts';
import { REPO_ROOT } from '../helpers/netns.ts';

function viewOf(owners: readonly string[], extra: readonly string[] = []): CatalogView {
  const ids = [...new Set([...owners, ...extra])].sort();
  return {
    epoch: 1,
    shards: ids.map((id) => ({ id, addrs: [], slots: SlotSet.of(owners.flatMap((o, slot) => (o === id ? [slot] : []))) })),
  };
}

test('adding a third shard moves exactly the slots the ring gives it, in bounded batches, each with one source', (t) => {
  const view = viewOf(planSlots(['1', '2']), ['3']);
  const plan = planRebalance(view, [], 500);
  const target = planSlots(['1', '2', '3']);
  t.is(plan.moving, target.filter((o) => o === '3').length);
  t.true(plan.moving > slotCount * 0.25 && plan.moving < slotCount * 0.42, `about 1/3 moves (${plan.moving})`);
  t.deepEqual(plan.pairs.map((p) => p.to).sort(), ['3', '3']);
  const moved = new Set<number>();
  for (const b of plan.batches) {
    t.true(b.slots.length <= 500);
    t.is(b.to, '3');
    for (const slot of b.slots) {
      t.is(target[slot], '3');
      t.false(moved.has(slot));
      moved.add(slot);
    }
  }
  t.is(moved.size, plan.moving);
  t.is(plan.batches[0]!.from === plan.batches[1]!.from, false, 'sources alternate');
  t.deepEqual(plan.shares.find((s) => s.id === '3'), { id: '3', now: 0, after: plan.moving });
  t.regex(formatPlan(plan), /^plan: \d+ of 16384 slots move/);
});

test('a placement that matches the ring plans nothing; a draining shard plans everything away', (t) => {
  const view = viewOf(planSlots(['1', '2', '3']));
  t.is(planRebalance(view, []).moving, 0);
  const drain = planRebalance(view, ['2']);
  t.is(drain.moving, view.shards.find((s) => s.id === '2')!.slots.size);
  t.true(drain.batches.every((b) => b.from === '2' && b.to !== '2'));
  t.deepEqual(drain.shares.find((s) => s.id === '2'), { id: '2', now: drain.moving, after: 0 });
  t.throws(() => planRebalance(view, ['1', '2', '3']), { instanceOf: RangeError });
});

test('progress: a redrawn bar on a terminal, one plain line per update otherwise', (t) => {
  const state = { moved: 512, total: 2048, elapsedMs: 1000, note: 'moved 512 slots shard 1 -> 3' };
  t.is(formatBar(state), `[${'#'.repeat(8)}${'.'.repeat(22)}] 512/2048 slots 25%  512 slots/s  ETA 3s`);
  t.is(formatLine(state), 'moved 512 slots shard 1 -> 3: 512/2048 slots moved, 512 slots/s, ETA 3 s');
  const tty: string[] = [];
  const sink = progressSink({ isTTY: true, write: (s: string) => tty.push(s) });
  sink.update(state);
  sink.update({ ...state, moved: 2048 });
  sink.finish();
  t.true(tty[0]!.startsWith('\r\x1b[2K['));
  t.true(tty[1]!.includes('2048/2048 slots 100%'));
  t.is(tty[2], '\n');
  const plain: string[] = [];
  progressSink({ write: (s: string) => plain.push(s) }).update(state);
  t.deepEqual(plain, [`${formatLine(state)}\n`]);
});

test('percentile: nearest rank', (t) => {
  t.is(percentile([], 50), null);
  t.is(percentile([5], 99), 5);
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  t.is(percentile(values, 50), 50);
  t.is(percentile(values, 99), 99);
});

test('CLI: seqdb rebalance and seqdb shard remove check their arguments', (t) => {
  const run = (...args: string[]): { status: number | null; err: string } => {
    const r = spawnSync(process.execPath, ['bin/seqdb.js', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, err: r.stderr };
  };
  const noRouter = run('rebalance');
  t.is(noRouter.status, 2);
  t.regex(noRouter.err, /--router H:P is required/);
  t.is(run('rebalance', '--router', 'nonsense').status, 2);
  t.is(run('shard', 'remove', '--router', '127.0.0.1:1', '--shard', '1').status, 2, 'shard 1 holds the catalog');
  const unreachable = run('rebalance', '--router', '127.0.0.1:1', '--dry-run');
  t.is(unreachable.status, 1);
  t.regex(unreachable.err, /no INFO from router/);
  t.notRegex(unreachable.err, /move in progress/, 'a dry run begins no move');
});
