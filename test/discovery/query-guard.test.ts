import test from 'ava';
import { EventEmitter } from 'node:events';
import { QUERIES_PER_SECOND_MAX, QUESTIONS_MAX, distinctQuestions, guardQueries } from '../../shared/discovery/query-guard.ts';

const subnet = { contains: (a: string) => a.startsWith('10.1.') } as never;

test('queries: deduplicated, capped, from the subnet only, at most QUERIES_PER_SECOND_MAX a second', (t) => {
  const mdns = new EventEmitter();
  mdns.on('query', () => t.fail('bonjour-service\'s own responder must be removed'));
  const answered: unknown[] = [];
  const stats = { queriesDropped: 0 };
  let nowMs = 0;
  guardQueries({ mdns, respondToQuery: (q) => answered.push(q) }, subnet, (r) => (r as { address: string }).address, stats, () => nowMs);
  const flood = { questions: Array.from({ length: 2000 }, (_, i) => ({ name: i % 2 ? '_seqdb._tcp.local' : '_SEQDB._tcp.local', type: 'PTR' })) };
  mdns.emit('query', flood, { address: '10.1.0.9' });
  t.deepEqual(answered, [{ questions: [{ name: '_SEQDB._tcp.local', type: 'PTR' }] }]);
  mdns.emit('query', flood, { address: '192.168.0.9' });
  t.is(stats.queriesDropped, 1);
  for (let i = 0; i < QUERIES_PER_SECOND_MAX + 10; i++) mdns.emit('query', flood, { address: '10.1.0.9' });
  t.is(answered.length, QUERIES_PER_SECOND_MAX);
  nowMs = 1000;
  mdns.emit('query', flood, { address: '10.1.0.9' });
  t.is(answered.length, QUERIES_PER_SECOND_MAX + 1);
  const many = Array.from({ length: 50 }, (_, i) => ({ name: `n${i}.local`, type: 'A' }));
  t.is(distinctQuestions(many).length, QUESTIONS_MAX);
  t.deepEqual(distinctQuestions([{ name: 5, type: 'A' } as never, { name: 'x', type: 'A' }]), [{ name: 'x', type: 'A' }]);
});
