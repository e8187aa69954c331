/** The stamp a leader puts on writes: the voters' median clock (node/replication/peer-clocks.ts). */
import test from 'ava';
import fc from 'fast-check';
import { PeerClocks } from '../../node/replication/peer-clocks.ts';

function clocks(ownOffsetMs: number) {
  let mono = 1_000;
  const trueWall = (): number => 1_700_000_000_000 + mono;
  const c = new PeerClocks({ selfId: 'a', wallMs: () => trueWall() + ownOffsetMs, monoMs: () => mono });
  const read = (id: string, offsetMs: number, roundTripMs = 2): void => {
    const sent = c.sent();
    mono += roundTripMs / 2;
    const wall = trueWall() + offsetMs;
    mono += roundTripMs / 2;
    c.read(id, wall, sent);
  };
  return { c, read, trueWall, pass: (ms: number) => { mono += ms; } };
}

test('one clock off among three voters, ahead or behind, the leader\'s own or a follower\'s: the stamp is the true time', (t) => {
  for (const [own, b, cc] of [[2 * 86_400_000, 0, 0], [-300_000, 0, 0], [0, 86_400_000, 0], [0, 0, -300_000]] as const) {
    const { c, read, trueWall, pass } = clocks(own);
    read('b', b);
    read('c', cc);
    pass(30_000); // readings are carried forward by the monotonic clock
    t.true(Math.abs(c.stampMs(['a', 'b', 'c']) - trueWall()) <= 2, `offsets ${own}/${b}/${cc}`);
  }
});

test('too few readings (fewer than a majority with this node), stale ones, slow round trips: this node\'s clock alone', (t) => {
  const { c, read, trueWall, pass } = clocks(5_000);
  t.is(c.stampMs(['a', 'b', 'c']), trueWall() + 5_000, 'no readings');
  read('b', 0, 1_500);
  t.is(c.stampMs(['a', 'b', 'c']), trueWall() + 5_000, 'a round trip over 1 s says too little');
  read('b', 0);
  t.is(c.stampMs(['a', 'b', 'c']), trueWall() + 5_000, 'two of three: its own (two clocks cannot tell which is wrong)');
  t.is(c.stampMs(['a', 'b', 'c', 'd', 'e']), trueWall() + 5_000, 'two of five is not a majority');
  pass(61_000);
  t.is(c.stampMs(['a', 'b', 'c']), trueWall() + 5_000, 'a reading older than 60 s is not used');
  t.is(c.stampMs(['a']), trueWall() + 5_000, 'a single voter');
});

test('an even count: its own clock kept within the middle pair (a follower behind does not freeze the shard; a wrong leader among four clocks is outvoted)', (t) => {
  const behind = clocks(0);
  behind.read('b', -300_000);
  t.is(behind.c.stampMs(['a', 'b', 'c']), behind.trueWall(), 'a correct leader, one follower 5 minutes behind, one down');
  const ahead = clocks(2 * 86_400_000);
  ahead.read('b', 0);
  ahead.read('c', 0);
  ahead.read('d', 3);
  t.true(Math.abs(ahead.c.stampMs(['a', 'b', 'c', 'd', 'e']) - ahead.trueWall()) <= 5, 'a leader 2 days ahead, three right, one down');
});

test('readings of this node, of non-numbers, and of non-voters are not counted', (t) => {
  const { c, read, trueWall } = clocks(-10_000);
  const sent = c.sent();
  c.read('a', trueWall() + 999_999, sent);
  c.read('b', 'soon', sent);
  c.read('b', -1, sent);
  read('x', 0);
  read('y', 0);
  t.is(c.stampMs(['a', 'b', 'c']), trueWall() - 10_000);
  t.is(c.offsetMs(['a', 'b', 'c']), 0);
});

/** The rule as first written (an array sorted per call): the reference for the scratch-array version. */
function referenceStamp(own: number, others: readonly (number | undefined)[], voters: number): number {
  const estimates = [own, ...others.filter((e): e is number => e !== undefined)];
  if (voters < 2 || estimates.length <= voters / 2) return own;
  estimates.sort((a, b) => a - b);
  const lower = estimates[Math.floor((estimates.length - 1) / 2)]!;
  if (estimates.length % 2 === 1) return lower;
  return Math.min(Math.max(own, lower), estimates[estimates.length / 2]!);
}

test('the stamp equals the reference median over random voter sets, readings, ages and offsets (seeded, reused scratch)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ offsetMs: fc.integer({ min: -1e9, max: 1e9 }), ageMs: fc.integer({ min: 0, max: 90_000 }), read: fc.boolean() }), { maxLength: 11 }),
      fc.integer({ min: -1e9, max: 1e9 }),
      (peers, ownOffsetMs) => {
        const { c, read, trueWall, pass } = clocks(ownOffsetMs);
        const byAge = peers.map((p, i) => ({ ...p, id: `p${i}` })).sort((x, y) => y.ageMs - x.ageMs);
        let elapsed = 0;
        const maxAge = byAge[0]?.ageMs ?? 0;
        for (const p of byAge) {
          pass(maxAge - p.ageMs - elapsed); // read it p.ageMs before the end
          elapsed = maxAge - p.ageMs;
          if (p.read) read(p.id, p.offsetMs, 0);
        }
        pass(maxAge - elapsed);
        const others = peers.map((p) => (p.read && p.ageMs <= 60_000 ? trueWall() + p.offsetMs : undefined));
        const voters = ['a', ...peers.map((_, i) => `p${i}`)];
        // Twice: the second call reuses the scratch array the first filled.
        const want = referenceStamp(trueWall() + ownOffsetMs, others, voters.length);
        return c.stampMs(voters) === want && c.stampMs(voters) === want;
      },
    ),
    { numRuns: 3000, seed: 11 },
  );
  t.pass();
});
