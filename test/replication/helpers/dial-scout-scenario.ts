/**
 * Runs alone in a private loopback namespace (dial-scouts.test.ts): a Transport keeps sending
 * heartbeats to a peer whose SYNs nftables drops for a while, so its dial waits (the kernel
 * resending its SYN); then the drop is lifted and we time how long until the peer gets a Raft frame
 * (bytes after the hello line: a connection the link uses, not one it dialed and threw away).
 * Rounds lift the drop at different delays, so a dial is caught at different points.
 * Prints { healToFrameMs: (number | null)[] }.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { Transport } from '../../../node/replication/transport.ts';
import type { Message } from '../../../node/raft/types.ts';
import { assertIsolatedNamespace, printResult } from '../../helpers/netns.ts';
import { nftPath } from '../../chaos/net-faults.ts';
import { sleep } from './cluster.ts';

const cutsMs = (process.argv[2] ?? '3300').split(',').map(Number);
const FRAME_WAIT_MS = 5_000;

const nft = (script: string): void => void execFileSync(nftPath(), ['-f', '-'], { input: script });

assertIsolatedNamespace();
const accepted: Socket[] = [];
let frameAtMs: number | null = null;
const server = createServer((s) => {
  accepted.push(s);
  let helloDone = false;
  s.on('data', (d: Buffer) => {
    const rest = helloDone ? d : d.subarray(d.indexOf(0x0a) + 1);
    helloDone ||= d.includes(0x0a);
    if (helloDone && rest.length > 0) frameAtMs ??= Date.now();
  });
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

const healToFrameMs: Array<number | null> = [];
try {
  for (const cutMs of cutsMs) {
    dropSyns();
    // The link's connection is cut from the peer's side: it re-dials into the drop.
    for (const s of accepted.splice(0)) s.destroy();
    await sleep(cutMs);
    frameAtMs = null;
    const healedAtMs = Date.now();
    lift();
    while (frameAtMs === null && Date.now() - healedAtMs < FRAME_WAIT_MS) await sleep(5);
    healToFrameMs.push(frameAtMs === null ? null : (frameAtMs as number) - healedAtMs);
  }
} finally {
  clearInterval(beat);
  await t.close();
  for (const s of accepted) s.destroy();
  server.close();
}
printResult({ healToFrameMs });
