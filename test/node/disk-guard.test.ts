import test from 'ava';
import { DiskGuard, growsState } from '../../node/disk/disk-guard.ts';
import { parseCommand } from '../../node/state-machine/index.ts';

const MiB = 1024 * 1024;

function guard(free: { bytes: number }, clock: { ms: number }, changes: boolean[] = [], reserveBytes = 10 * MiB): DiskGuard {
  return new DiskGuard({ path: '/x', reserveBytes, checkMs: 100, freeBytes: () => free.bytes, nowMs: () => clock.ms, onChange: (low) => changes.push(low) });
}

test('low under the reserve, normal again only at twice it; one change reported per crossing', (t) => {
  const free = { bytes: 50 * MiB };
  const clock = { ms: 0 };
  const changes: boolean[] = [];
  const g = guard(free, clock, changes);
  t.false(g.low());
  for (const [bytes, low] of [[9 * MiB, true], [15 * MiB, true], [19.9 * MiB, true], [20 * MiB, false], [11 * MiB, false], [9.99 * MiB, true]] as const) {
    free.bytes = bytes;
    clock.ms += 100;
    t.is(g.low(), low, `${bytes / MiB} MiB free`);
  }
  t.deepEqual(changes, [true, false, true]);
  t.deepEqual(g.info(), { disk_free_bytes: 9.99 * MiB, disk_reserve_bytes: 10 * MiB, disk_low: 1 });
});

test('the file system is read at most every checkMs; a failed read keeps the last state', (t) => {
  let reads = 0;
  const clock = { ms: 0 };
  let fail = false;
  const g = new DiskGuard({ path: '/x', reserveBytes: MiB, checkMs: 100, nowMs: () => clock.ms, freeBytes: () => {
    reads++;
    if (fail) throw new Error('EIO');
    return 0;
  } });
  t.true(g.low());
  t.true(g.low());
  clock.ms = 99;
  t.true(g.low());
  t.is(reads, 1);
  clock.ms = 100;
  fail = true;
  t.true(g.low());
  t.is(reads, 2);
});

test('a reserve of 0 is off: never low, the file system never read', (t) => {
  const g = new DiskGuard({ path: '/x', reserveBytes: 0, freeBytes: () => t.fail('read') as never });
  t.false(g.low());
  t.throws(() => new DiskGuard({ path: '/x', reserveBytes: -1 }), { instanceOf: RangeError });
});

test('what a low disk refuses: every write but slot-move steps that add no data; never reads', (t) => {
  const cmd = (...args: string[]) => parseCommand(args.map((a) => Buffer.from(a)));
  t.true(growsState(cmd('INC', 'b', 's')));
  t.true(growsState(cmd('SET', 'b', 's', '5')));
  t.false(growsState(cmd('GET', 'b', 's')));
});
