/**
 * Hostile announcements, run by discovery.test.ts inside `unshare -n`: junk TXT, forged names,
 * raw garbage, a flood past the table bound, and expiry of peers that never answer again.
 * A raw sender (a bare bonjour-service socket pinned to lo) crafts the packets.
 */
import Bonjour from 'bonjour-service';
import { createSocket } from 'node:dgram';
import { type Announcement, type PeerInfo, SERVICE_FQDN, encodeTxt, instanceFqdn, startDiscovery } from '../../shared/discovery/index.ts';
import { assertIsolatedNamespace, printResult } from '../helpers/netns.ts';
import { runMain, sleep, waitFor } from './scenario-util.ts';

interface RawMdns {
  respond(packet: object, cb: (err?: Error) => void): void;
  on(event: string, f: () => void): void;
}

const CLUSTER = 'alpha';
const PEERS_MAX = 64;
const FLOOD_COUNT = 300;

function ident(over: Partial<Record<keyof Announcement, unknown>> = {}): Announcement {
  return { cluster: CLUSTER, role: 'node', shard: '1', nodeId: 'n', host: '127.0.0.50', port: 7050, ...over } as Announcement;
}

function txtOf(a: Announcement): string[] {
  return Object.entries(encodeTxt(a)).map(([k, v]) => `${k}=${v}`);
}

/** TXT strings of a valid identity with one field replaced (or removed when value is null). */
function withField(key: string, value: string | null, base = ident()): string[] {
  const rest = txtOf(base).filter((s) => !s.startsWith(`${key}=`));
  return value === null ? rest : [...rest, `${key}=${value}`];
}

function packet(fqdn: string, txt: Array<string | Buffer>, srvPort: number): object {
  return {
    answers: [
      { name: SERVICE_FQDN, type: 'PTR', ttl: 120, data: fqdn },
      { name: fqdn, type: 'SRV', ttl: 120, data: { port: srvPort, target: 'h.local' } },
      { name: fqdn, type: 'TXT', ttl: 120, data: txt },
    ],
  };
}

/** Each case is one packet whose TXT must be rejected (counted in stats.invalid, never a peer). */
function hostileCases(): Array<{ label: string; packet: object }> {
  const fq = instanceFqdn(ident());
  const txt = (label: string, strings: Array<string | Buffer>, fqdn = fq, srv = 7050) => ({ label, packet: packet(fqdn, strings, srv) });
  const renamed = (label: string, over: Partial<Record<keyof Announcement, unknown>>, strings: string[]) =>
    txt(label, strings, instanceFqdn(ident(over)), typeof over.port === 'number' ? over.port : 7050);
  return [
    ...['0', '70000', '+1', '0x10', '1e3', '', ' 7050', '07050', '7050.0', '-1'].map((p) => txt(`port ${JSON.stringify(p)}`, withField('port', p))),
    txt('no port', withField('port', null)),
    txt('no id', withField('id', null)),
    renamed('huge id', { nodeId: 'x'.repeat(250) }, withField('id', 'x'.repeat(250))),
    renamed('id with space', { nodeId: 'a b' }, withField('id', 'a b')),
    txt('id not utf8', [...withField('id', null), Buffer.from([0x69, 0x64, 0x3d, 0xff, 0xfe, 0x00])]),
    renamed('cluster uppercase', { cluster: 'ALPHA' }, withField('cluster', 'ALPHA')),
    renamed('huge cluster', { cluster: 'a'.repeat(240) }, withField('cluster', 'a'.repeat(240))),
    renamed('role admin', { role: 'admin' }, withField('role', 'admin')),
    renamed('node without shard', { shard: undefined }, withField('shard', null)),
    renamed('router with shard', { role: 'router' }, withField('role', 'router')),
    renamed('shard with space', { shard: 'a b' }, withField('shard', 'a b')),
    ...['0.0.0.0', '999.1.1.1', 'example.com', '127.0.0.50 ', '::1'].map((h) =>
      renamed(`addr ${JSON.stringify(h)}`, { host: h }, withField('addr', h))),
    txt('version 2', withField('v', '2')),
    txt('no version', withField('v', null)),
    txt('duplicate key', [...txtOf(ident()), 'port=7051']),
    txt('entry without =', [...txtOf(ident()), 'junk']),
    txt('empty key', [...txtOf(ident()), '=value']),
    txt('__proto__ key', [...txtOf(ident()), '__proto__=x']),
    txt('20 entries', [...txtOf(ident()), ...Array.from({ length: 13 }, (_, i) => `k${i}=v`)]),
    txt('name of another identity', txtOf(ident()), instanceFqdn(ident({ port: 7999 }))),
    txt('srv port mismatch', txtOf(ident()), fq, 7051),
  ];
}

async function main(): Promise<void> {
  assertIsolatedNamespace();
  const gone: Array<{ nodeId: string; reason: string }> = [];
  const a = await startDiscovery({
    host: '127.0.0.1', port: 7001, cluster: CLUSTER, role: 'node', shard: '1', nodeId: 'a',
    queryIntervalMs: 300, peerTtlMs: 1500, peersMax: PEERS_MAX,
    onPeerGone: (p: PeerInfo, reason) => gone.push({ nodeId: p.nodeId, reason }),
  });
  const raw = new Bonjour({ interface: '127.0.0.1', bind: '0.0.0.0', ttl: 1 } as object, () => undefined);
  const mdns = (raw as unknown as { server: { mdns: RawMdns } }).server.mdns;
  mdns.on('warning', () => undefined);
  const send = (p: object): Promise<void> => new Promise((resolve, reject) => mdns.respond(p, (err) => (err ? reject(err) : resolve())));
  await sleep(200);

  const cases = hostileCases();
  for (const c of cases) {
    await send(c.packet);
    await sleep(5);
  }
  await sendGarbage();
  // A valid announcement of an address off this link (not in 127.0.0.0/8): routers must not be
  // made to dial wherever a packet on the link says.
  const offLink = ident({ nodeId: 'offlink', host: '10.9.9.9' });
  await send(packet(instanceFqdn(offLink), txtOf(offLink), offLink.port));
  // A valid announcement with an unknown extra key: accepted (forward compatible), key ignored.
  const control = ident({ nodeId: 'control' });
  await send(packet(instanceFqdn(control), [...txtOf(control), 'constructor=1'], control.port));
  const controlSeen = await waitFor(() => a.peers().some((p) => p.nodeId === 'control'), 3_000);
  const afterHostile = { peers: a.peers().map((p) => p.nodeId), stats: a.stats() };

  for (let i = 0; i < FLOOD_COUNT; i += 10) {
    const answers = Array.from({ length: 10 }, (_, j) => {
      const f = ident({ nodeId: `flood${i + j}`, port: 20_000 + i + j });
      return (packet(instanceFqdn(f), txtOf(f), f.port) as { answers: object[] }).answers;
    }).flat();
    await send({ answers });
    await sleep(5);
  }
  await sleep(300);
  const afterFlood = { size: a.peers().length, stats: a.stats() };
  // Nobody answers for these names again: all must expire.
  const expiredAll = await waitFor(() => a.peers().length === 0, 4_000);
  const controlGone = gone.find((g) => g.nodeId === 'control') ?? null;
  const stats = a.stats();
  await a.stop();
  await new Promise<void>((resolve) => raw.destroy(() => resolve()));
  printResult({ caseCount: cases.length, controlSeen, afterHostile, afterFlood, expiredAll, controlGone, stats, peersMax: PEERS_MAX, floodCount: FLOOD_COUNT });
}

/** Bytes that are not a DNS message, and a truncated one. */
async function sendGarbage(): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setMulticastInterface('127.0.0.1');
  let seed = 42;
  const junk = Buffer.from(Array.from({ length: 512 }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff));
  const truncated = Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 5, 0, 0, 0, 0, 6, 95, 115]);
  for (const b of [junk, truncated, Buffer.alloc(0)]) {
    await new Promise<void>((resolve) => socket.send(b, 5353, '224.0.0.251', () => resolve()));
  }
  socket.close();
}

runMain(main);
