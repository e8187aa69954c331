/**
 * One end of slow-path-silence.test.ts, in its own namespace of an emulated network: `a` (at
 * 10.77.0.1) sends heartbeats to `b` every 50 ms for a while, as a leader does, and counts the
 * answers and its link's silence drops; `b` (10.77.0.2) answers every heartbeat through its own
 * link to `a`, which it dials only once it hears from `a`, as a restarted follower does.
 * `a` prints { silenceDrops, answers, firstAnswerMs }; `b` prints "ready" once it listens, then
 * runs until killed (or 60 s).
 */
import { Transport } from '../../../node/replication/transport.ts';
import type { Message } from '../../../node/raft/types.ts';
import { assertIsolatedNamespace, printResult } from '../../helpers/netns.ts';
import { sleep } from './cluster.ts';

const role = process.argv[2] === 'b' ? 'b' : 'a';
const sendMs = Number(process.argv[3] ?? 6_000);
const PORT = 7400;
const address = (id: string): string => `10.77.0.${id === 'a' ? 1 : 2}:${PORT}`;
const other = role === 'a' ? 'b' : 'a';

assertIsolatedNamespace(['veth0']);
const logs: string[] = [];
let answers = 0;
const startedMs = Date.now();
let firstAnswerMs: number | null = null;
const beat = (type: 'heartbeat' | 'heartbeatResp'): Message => ({
  type, from: role, to: other, term: 1, index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0,
});
const t: Transport = new Transport({
  cluster: 'c1', shard: 's1', nodeId: role, advertise: () => address(role),
  addressOf: (peer) => (peer === other ? address(other) : undefined), isRemoved: () => false,
  onMessage: (m) => {
    if (m.type === 'heartbeat') t.send(beat('heartbeatResp'));
    if (m.type === 'heartbeatResp') {
      answers++;
      firstAnswerMs ??= Date.now() - startedMs;
    }
  },
  onPeerHello: () => {}, onControl: async () => ({}), onClientSocket: (s) => s.destroy(),
  onUnreachable: () => {}, onSnapshotSent: () => {}, log: (l) => logs.push(l),
});
await t.listen(address(role).split(':')[0]!, PORT);
if (role === 'b') {
  process.stdout.write('ready\n');
  await sleep(60_000);
} else {
  const stopAt = Date.now() + sendMs;
  while (Date.now() < stopAt) {
    t.send(beat('heartbeat'));
    await sleep(50);
  }
  printResult({ silenceDrops: logs.filter((l) => l.includes('nothing heard')), answers, firstAnswerMs });
}
await t.close();
