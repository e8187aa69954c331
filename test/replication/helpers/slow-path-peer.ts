/**
 * One end of slow-path-silence.test.ts, in its own namespace of an emulated network: `a` (at
 * 10.77.0.1) sends heartbeats to `b` every 50 ms for a while, as a leader does, and counts the
 * answers and its link's silence drops; `b` (10.77.0.2) answers every heartbeat through its own
 * link to `a`, which it dials only once it has something to send, as a restarted follower does.
 *
 *   slow-path-peer.ts a <sendMs>       prints { silenceDrops, answers, firstAnswerMs, firstHeardMs }
 *   slow-path-peer.ts b [<beatAfterMs>]  runs until killed (60 s)
 *
 * Each prints "ready" once it listens, then waits for "go <epoch ms>" on stdin (both processes
 * start slowly, and unevenly): `a` sends from then and reports its first answer and the first
 * message of any kind from `b` as ms after it; `b` given beatAfterMs also sends heartbeats of its
 * own from that long after "go" (so its link dials then, not at its first answer).
 */
import { Transport } from '../../../node/replication/transport.ts';
import type { Message } from '../../../node/raft/types.ts';
import { assertIsolatedNamespace, printResult } from '../../helpers/netns.ts';
import { sleep } from './cluster.ts';

const role = process.argv[2] === 'b' ? 'b' : 'a';
const PORT = 7400;
const address = (id: string): string => `10.77.0.${id === 'a' ? 1 : 2}:${PORT}`;
const other = role === 'a' ? 'b' : 'a';

assertIsolatedNamespace(['veth0']);
const logs: string[] = [];
let answers = 0;
let startedMs = Date.now();
let firstAnswerMs: number | null = null;
let firstHeardMs: number | null = null;
const beat = (type: 'heartbeat' | 'heartbeatResp'): Message => ({
  type, from: role, to: other, term: 1, index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0,
});
const t: Transport = new Transport({
  cluster: 'c1', shard: 's1', nodeId: role, advertise: () => address(role),
  addressOf: (peer) => (peer === other ? address(other) : undefined), isRemoved: () => false,
  onMessage: (m) => {
    firstHeardMs ??= Date.now() - startedMs;
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

/** Heartbeats to the peer every 50 ms from `fromMs` (epoch) until `untilMs`. */
async function beatBetween(fromMs: number, untilMs: number): Promise<void> {
  await sleep(Math.max(0, fromMs - Date.now()));
  while (Date.now() < untilMs) {
    t.send(beat('heartbeat'));
    await sleep(50);
  }
}

/** The time in the test's "go <epoch ms>" line on stdin. */
function go(): Promise<number> {
  return new Promise((resolve) => {
    let input = '';
    process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
      input += chunk;
      const m = /^go (\d+)\n/.exec(input);
      if (m === null) return;
      process.stdin.destroy(); // else the open pipe keeps the process alive
      resolve(Number(m[1]));
    });
  });
}

process.stdout.write('ready\n');
startedMs = await go();
if (role === 'b') {
  const beatAfterMs = Number(process.argv[3] ?? 0);
  const endMs = Date.now() + 60_000;
  if (beatAfterMs > 0) await beatBetween(startedMs + beatAfterMs, endMs);
  else await sleep(endMs - Date.now());
} else {
  await beatBetween(startedMs, startedMs + Number(process.argv[3] ?? 6_000));
  printResult({ silenceDrops: logs.filter((l) => l.includes('nothing heard')), answers, firstAnswerMs, firstHeardMs });
}
await t.close();
