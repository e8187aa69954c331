/** The stamp a leader puts on writes: the voters' median clock (node/replication/peer-clocks.ts). */
import test from 'ava';
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
