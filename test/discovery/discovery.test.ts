/**
 * Discovery over real mDNS sockets, always inside network namespaces the test creates:
 * nothing is ever multicast on the machine's own interfaces. Fails (never skips) where
 * namespaces are unavailable.
 */
import test from 'ava';
import { join } from 'node:path';
import {
  REPO_ROOT,
  createBridgedNetwork,
  killGroup,
  requireNamespaces,
  runInPrivateLoopback,
  scenarioResult,
} from '../helpers/netns.ts';

const DIR = join(REPO_ROOT, 'test', 'discovery');
const loopback = <T>(mode: string): Promise<T> => runInPrivateLoopback<T>(join(DIR, 'scenario-loopback.ts'), [mode]);

test.before(() => {
  requireNamespaces();
});

interface PeerSummary { instance: string; cluster: string; role: string; shard?: string; nodeId: string; host: string; port: number; source: string }
interface Stats { invalid: number; otherCluster: number; foreignSource: number; tableFull: number; goodbyes: number; expired: number; socketWarnings: number }

test('two publishers find each other with full TXT, ignore another cluster, and goodbye removes promptly', async (t) => {
  const r = await loopback<{
    found: boolean; afterTtl: Record<'a' | 'b' | 'x', PeerSummary[]>; gone: boolean; goodbyeMs: number;
    events: Array<{ at: string; kind: string; peer: string; reason: string }>; statsA: Stats; statsX: Stats;
    instanceA: string; multicastA: object;
  }>('pair');
  t.true(r.found);
  t.deepEqual(r.afterTtl.a, [{
    instance: 'seqdb-alpha-router-127-0-0-2-7002._seqdb._tcp.local', cluster: 'alpha', role: 'router',
    nodeId: 'r', host: '127.0.0.2', port: 7002, source: '127.0.0.2',
  }]);
  t.deepEqual(r.afterTtl.b, [{
    instance: 'seqdb-alpha-node-s1-127-0-0-1-7001._seqdb._tcp.local', cluster: 'alpha', role: 'node',
    shard: '1', nodeId: 'a', host: '127.0.0.1', port: 7001, source: '127.0.0.1',
  }]);
  // Another cluster on the same link: heard, counted, never a peer, in either direction.
  t.deepEqual(r.afterTtl.x, []);
  t.true(r.statsA.otherCluster > 0);
  t.true(r.statsX.otherCluster > 0);
  // Kept alive past 2.5 TTLs by re-queries alone: no expiry, no spurious events.
  t.is(r.statsA.expired, 0);
  t.true(r.gone);
  t.deepEqual(r.events.filter((e) => e.kind === 'gone'), [{ at: 'a', kind: 'gone', peer: 'r', reason: 'goodbye' }]);
  t.true(r.goodbyeMs < 1_000, `goodbye took ${r.goodbyeMs} ms`);
  t.is(r.statsA.invalid, 0);
  t.deepEqual(r.multicastA, { interface: '127.0.0.1', bind: '0.0.0.0', ttl: 1, loopback: true, port: 5353 });
});

test('refuses bad options with stable codes, and a duplicate instance name', async (t) => {
  const r = await loopback<Record<string, string | boolean>>('errors');
  t.deepEqual(r, {
    notLocal: 'DISCOVERY_CONFIG', anyAddress: 'DISCOVERY_CONFIG', ipv6: 'DISCOVERY_CONFIG',
    badCluster: 'DISCOVERY_CONFIG', routerWithShard: 'DISCOVERY_CONFIG', nodeWithoutShard: 'DISCOVERY_CONFIG',
    badPort: 'DISCOVERY_CONFIG', badTtl: 'DISCOVERY_CONFIG', conflict: 'DISCOVERY_NAME_CONFLICT',
    afterConflictFound: true,
  });
});

test('multicast stays on the pinned interface: another interface with the default route sends nothing', async (t) => {
  const r = await loopback<{
    found: boolean; members: string[]; pinnedTx: number; unpinnedTx: number; unpinnedMembers: string[];
    foreign: { heardByOther: number; peers: number; foreignSource: number };
  }>('pinning');
  t.true(r.found);
  t.deepEqual(r.members, ['lo']);
  t.is(r.pinnedTx, 0);
  // Control: the same library unpinned does leak through d0, so the counter would have seen it.
  t.true(r.unpinnedTx > 0);
  t.true(r.unpinnedMembers.includes('d0'));
  // Inbound: an announcement that arrived on another interface is dropped as foreign.
  t.true(r.foreign.heardByOther > 0, 'the foreign announcement did arrive');
  t.is(r.foreign.peers, 0);
  t.true(r.foreign.foreignSource > 0);
});

test('hostile announcements are ignored without a crash; the table is bounded; silent peers expire', async (t) => {
  const r = await runInPrivateLoopback<{
    caseCount: number; controlSeen: boolean; afterHostile: { peers: string[]; stats: Stats };
    afterFlood: { size: number; stats: Stats }; expiredAll: boolean; controlGone: { reason: string } | null;
    stats: Stats; peersMax: number; floodCount: number;
  }>(join(DIR, 'scenario-hostile.ts'), []);
  t.true(r.controlSeen, 'the raw sender works: its one valid announcement is accepted');
  t.deepEqual(r.afterHostile.peers, ['control'], 'an announcement of an address off the link is not a peer');
  t.is(r.afterHostile.stats.foreignSource, 1);
  t.is(r.afterHostile.stats.invalid, r.caseCount);
  t.true(r.afterHostile.stats.socketWarnings >= 1, 'garbage datagrams were received and dropped');
  t.is(r.afterFlood.size, r.peersMax);
  t.true(r.afterFlood.stats.tableFull > 0 && r.afterFlood.stats.tableFull <= r.floodCount);
  t.true(r.expiredAll);
  t.deepEqual(r.controlGone, { nodeId: 'control', reason: 'expired' });
  t.is(r.stats.expired, r.peersMax);
});

test('three namespaces on a bridge, each with its own address, discover each other', async (t) => {
  const COUNT = 3;
  const net = createBridgedNetwork(COUNT);
  t.teardown(() => net.destroy());
  const found = new Set<number>();
  let releaseAll: () => void = () => undefined;
  const allFound = new Promise<void>((resolve) => { releaseAll = resolve; });
  const children = net.nodes.map((n, i) =>
    net.spawn(i, join(DIR, 'scenario-peer.ts'), [n.address, String(7000 + i), `s${i}`, `node${i}`, String(COUNT - 1)]));
  t.teardown(() => children.forEach(killGroup));
  const results = children.map((child, i) => scenarioResult<{
    found: boolean; peers: PeerSummary[]; members: string[]; gone: Array<{ nodeId: string; reason: string }>; vethTx: number; stats: Stats;
  }>(child, 30_000, (line) => {
    if (!line.startsWith('FOUND ')) return;
    found.add(i);
    if (found.size === COUNT) releaseAll();
  }));
  // Everyone stays up until everyone has reported (or failed), so late finders still see peers.
  await Promise.race([allFound, Promise.allSettled(results)]);
  // Stop the last one first: the others must see its goodbye cross the bridge.
  const last = COUNT - 1;
  children[last]?.stdin?.end();
  await results[last]?.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 300));
  children.forEach((c) => c.stdin?.end());
  const settled = await Promise.all(results);
  for (const [i, r] of settled.entries()) {
    const others = net.nodes.filter((_, j) => j !== i);
    t.true(r.found, `node${i} found its peers`);
    t.deepEqual(
      r.peers.map((p) => [p.nodeId, p.host, p.port, p.source, p.shard]).sort(),
      others.map((n) => { const j = net.nodes.indexOf(n); return [`node${j}`, n.address, 7000 + j, n.address, `s${j}`]; }).sort(),
    );
    t.deepEqual(r.members, ['veth0'], 'the group is joined on the veth only');
    t.true(r.vethTx > 0, 'multicast left by the veth');
    t.is(r.stats.invalid, 0);
    if (i !== last) t.deepEqual(r.gone[0], { nodeId: `node${last}`, reason: 'goodbye' });
  }
});
