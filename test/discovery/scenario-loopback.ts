/**
 * Discovery scenarios on loopback, run by discovery.test.ts inside `unshare -n` (only lo).
 * Usage: node --import=tsx scenario-loopback.ts <pair|errors|pinning>
 */
import Bonjour from 'bonjour-service';
import { type PeerInfo, startDiscovery } from '../../shared/discovery/index.ts';
import { assertIsolatedNamespace, igmpMembers, printResult, txPackets } from '../helpers/netns.ts';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { codeOf, runMain, sleep, summary, waitFor } from './scenario-util.ts';

const FAST = { queryIntervalMs: 300, peerTtlMs: 2000 } as const;
const MDNS_GROUP_HEX = 'FB0000E0'; // 224.0.0.251 as /proc/net/igmp writes it

type Event = { at: string; kind: string; peer: string; reason: string };

function recorder(at: string, events: Event[]) {
  return {
    onPeer: (p: PeerInfo, change: string) => events.push({ at, kind: 'peer', peer: p.nodeId, reason: change }),
    onPeerGone: (p: PeerInfo, reason: string) => events.push({ at, kind: 'gone', peer: p.nodeId, reason }),
  };
}

async function pair(): Promise<void> {
  assertIsolatedNamespace();
  const events: Event[] = [];
  const a = await startDiscovery({ host: '127.0.0.1', port: 7001, cluster: 'alpha', role: 'node', shard: '1', nodeId: 'a', ...FAST, ...recorder('a', events) });
  const b = await startDiscovery({ host: '127.0.0.2', port: 7002, cluster: 'alpha', role: 'router', nodeId: 'r', ...FAST, ...recorder('b', events) });
  const x = await startDiscovery({ host: '127.0.0.3', port: 7003, cluster: 'beta', role: 'node', shard: '1', nodeId: 'x', ...FAST });
  const found = await waitFor(() => a.peers().length === 1 && b.peers().length === 1, 5_000);
  // Outlive the TTL several times over: entries must be kept fresh by the periodic re-query
  // (bonjour-service re-announces only at 1 s, 3 s, 9 s, ... after publishing).
  await sleep(FAST.peerTtlMs * 2.5);
  const afterTtl = { a: a.peers().map(summary), b: b.peers().map(summary), x: x.peers().map(summary) };
  const stopAt = performance.now();
  await b.stop();
  await b.stop(); // idempotent
  const gone = await waitFor(() => events.some((e) => e.at === 'a' && e.kind === 'gone' && e.peer === 'r'), 5_000);
  const goodbyeMs = Math.round(performance.now() - stopAt);
  const statsA = a.stats();
  const statsX = x.stats();
  await Promise.all([a.stop(), x.stop()]);
  printResult({ found, afterTtl, gone, goodbyeMs, events, statsA, statsX, instanceA: a.instance, multicastA: a.multicast });
}

async function errors(): Promise<void> {
  assertIsolatedNamespace();
  const base = { host: '127.0.0.1', port: 7001, cluster: 'alpha', role: 'node', shard: '1', nodeId: 'a', ...FAST } as const;
  const codes = {
    notLocal: await codeOf(() => startDiscovery({ ...base, host: '10.99.99.99' })),
    anyAddress: await codeOf(() => startDiscovery({ ...base, host: '0.0.0.0' })),
    ipv6: await codeOf(() => startDiscovery({ ...base, host: '::1' })),
    badCluster: await codeOf(() => startDiscovery({ ...base, cluster: 'Bad.Name' })),
    routerWithShard: await codeOf(() => startDiscovery({ ...base, role: 'router' })),
    nodeWithoutShard: await codeOf(() => startDiscovery({ ...base, shard: undefined })),
    badPort: await codeOf(() => startDiscovery({ ...base, port: 0 })),
    badTtl: await codeOf(() => startDiscovery({ ...base, peerTtlMs: 100 })),
    conflict: '',
    afterConflictFound: false,
  };
  const first = await startDiscovery(base);
  codes.conflict = await codeOf(() => startDiscovery({ ...base, nodeId: 'impostor' }));
  // The refused duplicate must not have said goodbye for the live owner of the name.
  const watcher = await startDiscovery({ ...base, host: '127.0.0.9', nodeId: 'w' });
  codes.afterConflictFound = await waitFor(() => watcher.peers().some((p) => p.nodeId === 'a'), 3_000);
  await Promise.all([first.stop(), watcher.stop()]);
  printResult(codes);
}

/**
 * Proof that pinning holds: a second interface (veth d0, with the default route) exists; two
 * pinned instances discover each other while d0 transmits nothing. Then a control: an unpinned
 * bonjour-service instance does send out of d0, so the counter would have seen a leak.
 */
async function pinning(): Promise<void> {
  const sh = (cmd: string): void => { execFileSync('sh', ['-c', cmd], { stdio: 'pipe' }); };
  assertIsolatedNamespace();
  sh('ip link add d0 type veth peer name d1');
  sh('sysctl -qw net.ipv6.conf.d0.disable_ipv6=1 net.ipv6.conf.d1.disable_ipv6=1');
  sh('ip addr add 10.77.1.1/24 dev d0 && ip addr add 10.77.2.1/24 dev d1');
  sh('ip link set d0 up && ip link set d1 up && ip route add default dev d0');
  assertIsolatedNamespace(['d0', 'd1']);
  await sleep(200);
  const tx0 = txPackets('d0');
  const a = await startDiscovery({ host: '127.0.0.1', port: 7001, cluster: 'alpha', role: 'node', shard: '1', nodeId: 'a', ...FAST });
  const b = await startDiscovery({ host: '127.0.0.2', port: 7002, cluster: 'alpha', role: 'node', shard: '2', nodeId: 'b', ...FAST });
  const found = await waitFor(() => a.peers().length === 1 && b.peers().length === 1, 5_000);
  const members = igmpMembers(MDNS_GROUP_HEX);
  await sleep(1_000);
  await Promise.all([a.stop(), b.stop()]);
  const tx1 = txPackets('d0');

  const unpinned = new Bonjour({}, () => undefined);
  const mdns = (unpinned as unknown as { server: { mdns: { query(n: string, t: string): void; on(e: string, f: () => void): void } } }).server.mdns;
  mdns.on('warning', () => undefined);
  mdns.on('error', () => undefined);
  await sleep(200);
  mdns.query('_seqdb._tcp.local', 'PTR');
  await sleep(300);
  const unpinnedMembers = igmpMembers(MDNS_GROUP_HEX);
  await new Promise<void>((resolve) => unpinned.destroy(() => resolve()));
  const tx2 = txPackets('d0');
  const foreign = await foreignAnnouncement();
  printResult({ found, members, pinnedTx: tx1 - tx0, unpinnedTx: tx2 - tx1, unpinnedMembers, multicast: a.multicast, foreign });
}

/**
 * An announcement arriving on another interface (d1) that some other program joined the group
 * on: it reaches our 0.0.0.0-bound socket, and must be dropped as foreign to host's subnet.
 */
async function foreignAnnouncement(): Promise<{ heardByOther: number; peers: number; foreignSource: number }> {
  const c = await startDiscovery({ host: '127.0.0.1', port: 7001, cluster: 'alpha', role: 'node', shard: '1', nodeId: 'c', ...FAST });
  const other = createSocket({ type: 'udp4', reuseAddr: true });
  let heardByOther = 0;
  other.on('message', () => { heardByOther++; });
  await new Promise<void>((resolve) => other.bind(5353, '0.0.0.0', () => resolve()));
  other.addMembership('224.0.0.251', '10.77.2.1');
  const sender = new Bonjour({ interface: '10.77.1.1', bind: '0.0.0.0', ttl: 1 } as object, () => undefined);
  (sender as unknown as { server: { mdns: { on(e: string, f: () => void): void } } }).server.mdns.on('warning', () => undefined);
  sender.publish({ name: 'seqdb-alpha-node-s1-10-77-1-1-7777', type: 'seqdb', port: 7777, probe: false,
    txt: { v: '1', cluster: 'alpha', role: 'node', shard: '1', id: 'far', addr: '10.77.1.1', port: '7777' } });
  await waitFor(() => heardByOther > 0 && c.stats().foreignSource > 0, 3_000);
  const result = { heardByOther, peers: c.peers().length, foreignSource: c.stats().foreignSource };
  await new Promise<void>((resolve) => sender.unpublishAll(() => sender.destroy(() => resolve())));
  other.close();
  await c.stop();
  return result;
}

const modes: Record<string, () => Promise<void>> = { pair, errors, pinning };
const mode = modes[process.argv[2] ?? ''];
if (mode === undefined) throw new Error('usage: scenario-loopback.ts <pair|errors|pinning>');
runMain(mode);
