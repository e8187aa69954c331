import test from 'ava';
import { replyBytesEstimate } from '../../node/server/reply-estimate.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';

const args = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x, 'latin1'));

test('the estimate bounds the largest replies: AUDIT rows with the longest REF and REASON, SEQ.LIST of the longest names', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  const long = 'r'.repeat(256);
  for (let i = 1; i <= 20; i++) {
    t.is(await c.call('RESERVE', 'b', 's', 'TTL', '60', 'REF', long), `:${i}\r\n`);
    t.is(await c.call('VOID', 'b', 's', String(i), 'REASON', long), '+OK\r\n');
    t.is(await c.call('INC', 'b', `${String(i).padStart(3, '0')}${'n'.repeat(253)}`), ':1\r\n');
  }
  for (const request of [args('AUDIT', 'b', 's', 'FROM', '1', 'TO', '20'), args('SEQ.LIST', 'b', 'COUNT', '21'), args('ECHO', long), args('INFO')]) {
    const reply = await c.call(...request);
    const estimate = replyBytesEstimate(request);
    t.true(Buffer.byteLength(reply, 'latin1') <= estimate, `${request[0]}: reply ${Buffer.byteLength(reply, 'latin1')} > estimate ${estimate}`);
  }
});

test('ranges and counts: absent options take the defaults, unreadable ones the most', (t) => {
  const row = replyBytesEstimate(args('AUDIT', 'b', 's', 'FROM', '1', 'TO', '2')) - replyBytesEstimate(args('AUDIT', 'b', 's', 'FROM', '1', 'TO', '1'));
  t.true(row > 512);
  const most = replyBytesEstimate(args('AUDIT', 'b', 's', 'FROM', '1', 'TO', '99999999'));
  t.true(most >= 10_000 * row);
  t.true(Math.abs(most - replyBytesEstimate(args('AUDIT', 'b', 's', 'FROM', 'x', 'TO', '1'))) < 64);
  t.true(replyBytesEstimate(args('SEQ.LIST', 'b', 'COUNT', 'x')) > replyBytesEstimate(args('SEQ.LIST', 'b')));
  t.true(replyBytesEstimate(args('INC', 'b', 's')) < 100);
});

test('AUDIT of a bucket named "to": the estimate still bounds the reply (options are looked for after the names; a series review)', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  t.is(await c.call('SEQ.RETAIN', 'to', '2024', '0'), '+OK\r\n');
  for (let i = 0; i < 100; i++) await c.call('RESERVE', 'to', '2024', 'TTL', '600');
  t.is(await c.call('INC', 'to', '2024', 'COUNT', '9900'), ':10000\r\n');
  const request = args('AUDIT', 'to', '2024', 'FROM', '2024', 'TO', '12023');
  const reply = await c.call(...request);
  const size = Buffer.byteLength(reply, 'latin1');
  const estimate = replyBytesEstimate(request);
  t.true(size <= estimate, `AUDIT reply ${size} bytes > estimate ${estimate}`);
});

test('SEQ.LIST of a bucket named "count": the estimate still bounds the reply', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  for (let i = 0; i < 300; i++) await c.call('INC', 'count', `${String(i).padStart(3, '0')}${'n'.repeat(253)}`);
  const request = args('SEQ.LIST', 'count', '01', 'COUNT', '1000');
  const reply = await c.call(...request);
  const size = Buffer.byteLength(reply, 'latin1');
  const estimate = replyBytesEstimate(request);
  t.true(size <= estimate, `SEQ.LIST reply ${size} bytes > estimate ${estimate}`);
});
