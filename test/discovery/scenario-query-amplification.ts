/**
 * Inside a private network namespace (lo only): one discovery instance (a router's), and a raw
 * mDNS socket that sends ONE query packet repeating the question `_seqdb._tcp.local PTR` many
 * times. It must make the instance send a bounded number of responses: bonjour-service answered
 * every question, 2,000 multicast responses (found by a discovery review).
 */
import { createSocket } from 'node:dgram';
import { SERVICE_FQDN, startDiscovery } from '../../shared/discovery/index.ts';
import { assertIsolatedNamespace, printResult, txPackets } from '../helpers/netns.ts';
import { runMain, sleep } from '../discovery/scenario-util.ts';

const QUESTIONS = Number(process.argv[2] ?? 2000);

/** `name` in DNS wire form (labels, no compression). */
function wireName(name: string): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

/** A DNS query packet asking `count` times for `name` PTR IN (by hand: RFC 1035 4.1). */
function encodeQuery(name: string, count: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(count, 4);
  const question = Buffer.concat([wireName(name), Buffer.from([0, 12, 0, 1])]);
  return Buffer.concat([header, ...Array.from({ length: count }, () => question)]);
}

runMain(async () => {
  assertIsolatedNamespace();
  const d = await startDiscovery({ host: '127.0.0.1', port: 7001, role: 'router', nodeId: 'r', queryIntervalMs: 60_000, peerTtlMs: 120_000 });
  const raw = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => raw.bind(5353, '0.0.0.0', () => r()));
  raw.setRecvBufferSize(16 * 1024 * 1024);
  raw.addMembership('224.0.0.251', '127.0.0.1');
  raw.setMulticastInterface('127.0.0.1');
  raw.setMulticastTTL(1);
  await sleep(1500); // let the announcements (1 s, 3 s) pass the first one
  let responses = 0;
  let bytes = 0;
  const service = wireName(SERVICE_FQDN);
  raw.on('message', (msg: Buffer) => {
    // A response (QR bit) that names our service.
    if (msg.length > 12 && (msg[2]! & 0x80) !== 0 && msg.includes(service)) {
      responses++;
      bytes += msg.length;
    }
  });
  const query = encodeQuery(SERVICE_FQDN, QUESTIONS);
  const txBefore = txPackets('lo');
  const t0 = Date.now();
  await new Promise<void>((r, j) => raw.send(query, 5353, '224.0.0.251', (err) => (err ? j(err) : r())));
  await sleep(1000);
  const tookMs = Date.now() - t0;
  const loPacketsSent = txPackets('lo') - txBefore;
  raw.close();
  await d.stop();
  printResult({ questions: QUESTIONS, queryBytes: query.length, responses, responseBytes: bytes, tookMs, loPacketsSent });
});
