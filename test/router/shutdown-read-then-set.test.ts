// A review: the router side of shutdown-read-then-set.test.ts. A replica leader that stops
// answers, on one connection, a pending read -SHUTDOWN and the SET pipelined behind it -AMBIGUOUS
// (exact bytes captured from a real node in that test). router/node-connection.ts killed the
// connection on the -SHUTDOWN as 'unreachable' (= never ran), so the forwarder re-sent the SET
// to the next leader instead of answering OUTCOME_UNKNOWN: a SET that applied runs twice, the
// second time after INCs that came between (a rewind: repeated numbers).
import test from 'ava';
import type { Command } from '../../node/state-machine/command.ts';
import { fakeNode, forwarderFor } from './fake-node.ts';

test('a SET behind a read the stopping node answered -SHUTDOWN is not re-sent as if it never ran', async (t) => {
  const b = await fakeNode((args) => (args[0] === 'SET' ? '+OK\r\n' : '$-1\r\n'));
  const stopping = await fakeNode((args, n) => {
    if (n === 1) return ''; // the GET: its reply goes with the SET's
    if (args[0] === 'SET') return '-SHUTDOWN node is shutting down\r\n-AMBIGUOUS node shut down before the write was applied; retry only with the same ID token\r\n';
    return '';
  });
  const { forwarder, map } = await forwarderFor(t, [stopping, b]);
  map.entry('2').leader = stopping.address;
  const get: Command = { type: 'get', bucket: Buffer.from('b'), sequence: Buffer.from('s') } as Command;
  const set: Command = { type: 'set', bucket: Buffer.from('b'), sequence: Buffer.from('s'), value: 1000n };
  const [, s] = await Promise.all([forwarder.execute(get), forwarder.execute(set)]);
  const setsOnB = b.seen.filter((x) => x[0] === 'SET').length;
  t.log('SET ->', JSON.stringify(s), `; SETs re-sent to the next node: ${setsOnB}`);
  t.is(setsOnB, 0, 'the SET the stopping node called AMBIGUOUS was re-sent to another node');
  t.is(s.type === 'error' ? s.code : s.type, 'OUTCOME_UNKNOWN');
});
