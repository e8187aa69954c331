/**
 * From a review of leader-clock.ts: RaftConfig.clockMs is documented as "performance.now in a
 * node", but a fractional clock made every stamped app/heartbeat unencodable (INTERNAL), and a
 * throw in PeerLink.send stops the node's Ready loop (RaftNode.fail: FATAL). sendStamp() floors.
 */
import test from 'ava';
import { encodeMessage } from '../../node/replication/peer-codec.ts';
import { Network } from '../raft/helpers/network.ts';

test('a core given performance.now as clockMs (as types.ts says) produces encodable messages', (t) => {
  const net = new Network(['a', 'b', 'c'], { clockMs: () => performance.now() + 0.25 });
  net.elect('a');
  const app = net.log.find((m) => m.type === 'app' && m.stamp !== undefined);
  t.truthy(app);
  t.log(`stamp ${app?.stamp}`);
  t.notThrows(() => encodeMessage(app!));
});
