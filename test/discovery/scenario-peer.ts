/**
 * One discovery participant in its own namespace (bridged test): announces itself, prints
 * `FOUND <n>` once it sees `expect` peers, keeps running until stdin closes, then stops and
 * prints its result line.
 * Usage: node --import=tsx scenario-peer.ts <host> <port> <shard> <nodeId> <expect>
 */
import { startDiscovery } from '../../shared/discovery/index.ts';
import { assertIsolatedNamespace, igmpMembers, printResult, txPackets } from '../helpers/netns.ts';
import { runMain, summary, waitFor } from './scenario-util.ts';

const FOUND_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const [host = '', port = '', shard = '', nodeId = '', expectText = ''] = process.argv.slice(2);
  const expect = Number(expectText);
  assertIsolatedNamespace(['veth0']);
  const tx0 = txPackets('veth0');
  const gone: Array<{ nodeId: string; reason: string }> = [];
  const d = await startDiscovery({
    host, port: Number(port), role: 'node', shard, nodeId, cluster: 'bridged',
    queryIntervalMs: 500, peerTtlMs: 3_000,
    onPeerGone: (p, reason) => gone.push({ nodeId: p.nodeId, reason }),
  });
  const found = await waitFor(() => d.peers().length >= expect, FOUND_TIMEOUT_MS);
  // Snapshot now: once the test starts stopping peers, their goodbyes shrink the table.
  const peers = d.peers().map(summary);
  process.stdout.write(`FOUND ${peers.length}\n`);
  const members = igmpMembers('FB0000E0');
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).resume();
  });
  await d.stop();
  printResult({ found, peers, members, gone, vethTx: txPackets('veth0') - tx0, stats: d.stats() });
}

runMain(main);
