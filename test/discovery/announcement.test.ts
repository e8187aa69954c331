/** Pure parts of discovery: identity, TXT parsing, packet reading, the bounded table. No sockets. */
import test from 'ava';
import fc from 'fast-check';
import {
  type Announcement,
  announcementFromTxt,
  encodeTxt,
  instanceFqdn,
  instanceName,
  parseTxtStrings,
} from '../../shared/discovery/announcement.ts';
import { PeerTable } from '../../shared/discovery/peer-table.ts';
import { RECORDS_PER_PACKET_MAX, parseResponse } from '../../shared/discovery/response.ts';

const NODE: Announcement = { cluster: 'seqdb', role: 'node', shard: '3', nodeId: 'n1', host: '127.0.0.1', port: 7001 };
const ROUTER: Announcement = { cluster: 'seqdb', role: 'router', nodeId: 'r1', host: '10.0.0.2', port: 6380 };

const txtBuffers = (a: Announcement): Buffer[] => Object.entries(encodeTxt(a)).map(([k, v]) => Buffer.from(`${k}=${v}`));

function responseOf(a: Announcement, ttl = 120): object {
  const fqdn = instanceFqdn(a);
  return {
    answers: [{ name: '_seqdb._tcp.local', type: 'PTR', ttl, data: fqdn }],
    additionals: [
      { name: fqdn, type: 'SRV', ttl, data: { port: a.port, target: 'x.local' } },
      { name: fqdn, type: 'TXT', ttl, data: txtBuffers(a) },
    ],
  };
}

test('instance names are readable, unique per identity, and always fit one DNS label', (t) => {
  t.is(instanceName(NODE), 'seqdb-seqdb-node-s3-127-0-0-1-7001');
  t.is(instanceName(ROUTER), 'seqdb-seqdb-router-10-0-0-2-6380');
  const long: Announcement = { ...NODE, cluster: 'c'.repeat(32), shard: 's'.repeat(32) };
  const name = instanceName(long);
  t.true(Buffer.byteLength(name) <= 63);
  t.true(name.endsWith('-127-0-0-1-7001'));
  t.not(name, instanceName({ ...long, shard: 't'.repeat(32) }));
});

test('TXT round-trips for nodes and routers', (t) => {
  for (const a of [NODE, ROUTER]) {
    const fields = parseTxtStrings(txtBuffers(a));
    t.truthy(fields);
    t.deepEqual(announcementFromTxt(fields!), a);
  }
});

test('a response yields its announcement; a TTL-0 response yields a goodbye', (t) => {
  const up = parseResponse(responseOf(NODE));
  t.deepEqual(up.announcements, [{ fqdn: instanceFqdn(NODE).toLowerCase(), announcement: NODE }]);
  t.deepEqual(up.goodbyes, []);
  const down = parseResponse(responseOf(NODE, 0));
  t.deepEqual(down.announcements, []);
  t.deepEqual(down.goodbyes, [instanceFqdn(NODE).toLowerCase()]);
});

test('records past the per-packet bound are not looked at', (t) => {
  const filler = Array.from({ length: RECORDS_PER_PACKET_MAX }, (_, i) => ({ name: `f${i}.local`, type: 'A', ttl: 120, data: '10.0.0.1' }));
  const packet = responseOf(NODE) as { answers: object[]; additionals: object[] };
  t.deepEqual(parseResponse({ answers: filler, additionals: packet.additionals }).announcements, []);
});

test('parsing never throws on arbitrary input, and accepts only valid announcements', (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed}`);
  const record = fc.record({
    name: fc.oneof(fc.constant('_seqdb._tcp.local'), fc.constant(instanceFqdn(NODE)), fc.string()),
    type: fc.constantFrom('PTR', 'SRV', 'TXT', 'A', 'junk'),
    ttl: fc.oneof(fc.constant(0), fc.constant(120), fc.integer()),
    data: fc.oneof(
      fc.string(), fc.anything(),
      fc.array(fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)), { maxLength: 20 }),
      fc.constant(txtBuffers(NODE)),
      fc.array(fc.constantFrom(...txtBuffers(NODE), Buffer.from('port=0'), Buffer.from('x'), Buffer.from('v=2')), { maxLength: 10 }),
    ),
  });
  const packet = fc.oneof(fc.anything(), fc.record({ answers: fc.array(record, { maxLength: 8 }), additionals: fc.anything() }));
  fc.assert(fc.property(packet, (p) => {
    const parsed = parseResponse(p);
    // Anything accepted must be the one valid identity under its own name.
    return parsed.announcements.every((x) => x.fqdn === instanceFqdn(NODE).toLowerCase());
  }), { seed, numRuns: 2_000 });
  t.pass();
});

test('the peer table is bounded, reports changes, and expires silent peers', (t) => {
  const table = new PeerTable(2, 1_000);
  t.is(table.upsert('a', NODE, '127.0.0.1', 0).outcome, 'added');
  t.is(table.upsert('a', NODE, '127.0.0.1', 10).outcome, 'refreshed');
  t.is(table.upsert('a', { ...NODE, nodeId: 'n2' }, '127.0.0.1', 20).outcome, 'changed');
  t.is(table.upsert('b', ROUTER, '10.0.0.2', 30).outcome, 'added');
  t.is(table.upsert('c', ROUTER, '10.0.0.3', 40).outcome, 'full');
  t.is(table.size, 2);
  t.deepEqual(table.expire(1_025).map((p) => p.instance), ['a']);
  t.deepEqual(table.list().map((p) => p.instance), ['b']);
  t.is(table.remove('b')?.nodeId, 'r1');
  t.is(table.size, 0);
});
