import test from 'ava';
import { Members, STRANGERS_MAX, unwrapSnapshot, unwrapSnapshotChunks, wrapSnapshot } from '../../node/replication/members.ts';
import { encodeConfChange } from '../../node/raft/conf-change-codec.ts';
import { EntryType, type ConfChange, type Entry } from '../../node/raft/types.ts';

const cc = (index: number, c: ConfChange): Entry => ({ index, term: 1, type: EntryType.ConfChange, data: encodeConfChange(c) });

test('addresses come from conf change contexts; removed ids are remembered and never re-added', (t) => {
  const m = new Members('self', '127.0.0.1:1');
  m.applyEntry(cc(2, { type: 'addLearner', nodeId: 'a', context: '127.0.0.1:2' }));
  m.applyEntry(cc(3, { type: 'promote', nodeId: 'a' }));
  m.applyEntry({ index: 4, term: 1, type: EntryType.Normal, data: new Uint8Array([1, 2]) });
  m.applyEntry({ index: 5, term: 1, type: EntryType.ConfChange, data: Buffer.from('not json') });
  t.is(m.addressOf('a'), '127.0.0.1:2');
  t.is(m.addressOf('self'), '127.0.0.1:1');
  m.applyEntry(cc(6, { type: 'remove', nodeId: 'a' }));
  t.true(m.isRemoved('a'));
  t.is(m.addressOf('a'), undefined);
  m.learnAddress('a', '127.0.0.1:9');
  m.applyEntry(cc(7, { type: 'addLearner', nodeId: 'a', context: '127.0.0.1:9' }));
  t.is(m.addressOf('a'), undefined);
  m.learnAddress('b', '127.0.0.1:3');
  t.is(m.addressOf('b'), '127.0.0.1:3');
});

test('the snapshot envelope carries members and the state image', (t) => {
  const m = new Members('self', 'h:1');
  m.applyEntry(cc(2, { type: 'addLearner', nodeId: 'a', context: 'h:2' }));
  m.applyEntry(cc(3, { type: 'remove', nodeId: 'z' }));
  const data = wrapSnapshot(m.image(), [Buffer.from('SEQDB'), Buffer.from('SN1')]);
  const env = unwrapSnapshot(data)!;
  t.is(Buffer.from(env.state).toString(), 'SEQDBSN1');
  const other = new Members('b', 'h:3');
  other.restore(env.members);
  t.is(other.addressOf('a'), 'h:2');
  t.is(other.addressOf('b'), 'h:3', 'own address always wins');
  t.true(other.isRemoved('z'));
  t.is(unwrapSnapshot(Buffer.from('garbage')), null);
  t.is(unwrapSnapshot(Buffer.concat([Buffer.from('SQRS'), Buffer.from([0, 0, 0, 99])])), null);
});

test('an image in chunks unwraps like the whole, wherever the chunks split it', (t) => {
  const m = new Members('a', 'h:1');
  m.applyEntry(cc(2, { type: 'addLearner', nodeId: 'b', context: 'h:2' }));
  const data = Buffer.from(wrapSnapshot(m.image(), [Buffer.from('SEQDBSN1-state-bytes')]));
  const whole = unwrapSnapshot(data)!;
  for (let size = 1; size <= data.length; size++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < data.length; at += size) chunks.push(data.subarray(at, at + size));
    const env = unwrapSnapshotChunks(chunks[Symbol.iterator]())!;
    t.deepEqual(env.members, whole.members, `chunks of ${size}`);
    t.is(Buffer.concat([...env.state]).toString(), 'SEQDBSN1-state-bytes', `chunks of ${size}`);
  }
  t.is(unwrapSnapshotChunks([Buffer.from('garbage')][Symbol.iterator]()), null);
  t.is(unwrapSnapshotChunks([data.subarray(0, 10)][Symbol.iterator]()), null, 'envelope cut short');
});

test('hellos of ids the log never named are kept apart, bounded, and never persisted', (t) => {
  const m = new Members('self', 'h:1');
  m.applyEntry(cc(2, { type: 'addLearner', nodeId: 'a', context: 'h:2' }));
  const version = m.version;
  for (let i = 0; i < STRANGERS_MAX + 100; i++) m.learnAddress(`x${i}`, `h:${1000 + i}`);
  t.is(m.version, version, 'a stranger is not a change to persist');
  t.deepEqual(Object.keys(m.image().members).sort(), ['a', 'self'], 'neither in the records nor in snapshots');
  t.is(m.addressOf('x0'), undefined, 'the oldest stranger went');
  t.is(m.addressOf(`x${STRANGERS_MAX + 99}`), `h:${1000 + STRANGERS_MAX + 99}`, 'a recent one is dialable');
  // Heard again: the newest, so it outlives the others.
  m.learnAddress('x150', 'h:7');
  for (let i = 0; i < STRANGERS_MAX - 1; i++) m.learnAddress(`y${i}`, 'h:8');
  t.is(m.addressOf('x150'), 'h:7');
  t.is(m.addressOf(`x${STRANGERS_MAX + 99}`), undefined);
  // A member's new address is a change, and named by the log a stranger becomes a member.
  m.learnAddress('a', 'h:3');
  t.is(m.version, version + 1);
  t.is(m.image().members.a, 'h:3');
  m.applyEntry(cc(3, { type: 'addLearner', nodeId: 'x150', context: 'h:9' }));
  t.is(m.image().members.x150, 'h:9');
  m.learnAddress('x150', 'h:10');
  t.is(m.image().members.x150, 'h:10');
  m.applyEntry(cc(4, { type: 'remove', nodeId: 'y0' }));
  t.is(m.addressOf('y0'), undefined, 'a removed stranger is forgotten');
  m.learnAddress('y0', 'h:11');
  t.is(m.addressOf('y0'), undefined, 'and never learned again');
});
