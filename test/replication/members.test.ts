import test from 'ava';
import { Members, unwrapSnapshot, wrapSnapshot } from '../../node/replication/members.ts';
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
