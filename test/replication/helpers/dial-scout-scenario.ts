/**
 * Runs alone in a private loopback namespace (dial-scouts.test.ts): a Transport keeps sending
 * heartbeats to a peer whose SYNs nftables drops for a while, so its dials time out and each next
 * one waits longer; then the drop is lifted and we time how long until the peer sees a connection.
 * Rounds lift the drop at different delays, so a long dial is caught at different points.
 * Prints { healToAcceptMs: (number | null)[] }.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { Transport } from '../../../node/replication/transport.ts';
import type { Message } from '../../../node/raft/types.ts';
import { assertIsolatedNamespace, printResult } from '../../helpers/netns.ts';
import { nftPath } from '../../chaos/net-faults.ts';

const cutsMs = (process.argv[2] ?? '3300').split(',').map(Number);
const ACCEPT_WAIT_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nft = (script: string): void => void execFileSync(nftPath(), ['-f', '-'], { input: script });

assertIsolatedNamespace();
const accepted: Socket[] = [];
let acceptedAtMs: number | null = null;
const server = createServer((s) => {
  acceptedAtMs ??= Date.now();
  accepted.push(s);
  s.resume();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as { port: number }).port;
const dropSyns = (): void => nft(['table inet scout {', `  chain in { type filter hook input priority 0; policy accept; tcp dport ${port} drop; }`, '}', ''].join('\n'));
const lift = (): void => nft('delete table inet scout');

const t = new Transport({
  cluster: 'c1', shard: 's1', nodeId: 'a', advertise: () => '127.0.0.1:1',
  addressOf: (peer) => (peer === 'b' ? `127.0.0.1:${port}` : undefined), isRemoved: () => false,
  onMessage: () => {}, onPeerHello: () => {}, onControl: async () => ({}), onClientSocket: (s) => s.destroy(),
  onUnreachable: () => {}, onSnapshotSent: () => {}, log: () => {},
});
await t.listen('127.0.0.1', 0);
const heartbeat: Message = { type: 'heartbeat', from: 'a', to: 'b', term: 1, index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0 };
const beat = setInterval(() => t.send(heartbeat), 50);

const healToAcceptMs: Array<number | null> = [];
try {
  for (const cutMs of cutsMs) {
    dropSyns();
    // The link's connection is cut from the peer's side: it re-dials into the drop.
    for (const s of accepted.splice(0)) s.destroy();
    await sleep(cutMs);
    acceptedAtMs = null;
    const healedAtMs = Date.now();
    lift();
    while (acceptedAtMs === null && Date.now() - healedAtMs < ACCEPT_WAIT_MS) await sleep(5);
    healToAcceptMs.push(acceptedAtMs === null ? null : (acceptedAtMs as number) - healedAtMs);
  }
} finally {
  clearInterval(beat);
  await t.close();
  for (const s of accepted) s.destroy();
  server.close();
}
printResult({ healToAcceptMs });
