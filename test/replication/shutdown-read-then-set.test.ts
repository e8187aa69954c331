// A review: a replica leader's graceful shutdown stops Raft (raft-node.ts stop) BEFORE its
// server drains (replica-node.ts shutdown: `await n?.stop()` then `server.close()`). Requests
// accepted earlier are then answered by Raft: a pending read gets -SHUTDOWN ("did not run": true
// for it), a pending write behind it gets -AMBIGUOUS (it may well apply: it is in the followers'
// logs). client/connection.ts:196 (and router/node-connection.ts:87) take the -SHUTDOWN as "the
// server runs nothing after it on this connection" and fail the SET behind it as never sent:
// the client retries it / reports it as not run, although it applied. A SET re-sent after it
// applied rewinds the sequence under the INCs that came between: a repeated number.
import test from 'ava';
import { Cluster, sleep, command } from '../replication/helpers/cluster.ts';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { ClientErrorCode, createClient } from '../../client/index.ts';

test('a SET pipelined behind a read that a stopping leader answers -SHUTDOWN may have applied: the client never calls it not run', async (t) => {
  t.timeout(120_000);
  // A long election timeout: the leader, cut off from its followers, stays leader (check-quorum)
  // through the 3 s leadership transfer that SIGTERM tries first.
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--election-ticks', '100'] });
  const leader = await c.waitForLeader(3, 60_000);
  const followers = c.nodes.filter((n) => n.index !== leader).map((n) => n.index);
  const L = c.nodes[leader]!;
  t.is(await command(L.port, ['SET', 'b', 's', '5']), '+OK\r\n');
  t.is(await command(L.port, ['SET', 'b', 'r', '5']), '+OK\r\n');
  await sleep(300);

  const raw = await RespClient.connect(L.port);
  t.teardown(() => raw.close());
  const client = createClient({ routers: [L.addr], connectionsPerRouter: 1, deadlineMs: 8000, backoffMaxMs: 200 });
  t.teardown(() => client.destroy());
  await client.get('b', 's'); // connected

  for (const f of followers) c.kill(f, 'SIGSTOP'); // a partition, say
  // Pipelined on one connection each: a read (waits for a quorum), then a SET (proposed, sent to
  // the followers' sockets, not committed yet).
  raw.write(Buffer.concat([encodeRequest('GET', 'b', 'r'), encodeRequest('SET', 'b', 'r', '1000')]));
  const get = client.get('b', 's').then((v) => `value ${v}`, (e) => `error ${e.code}`);
  const set = client.set('b', 's', 1000).then(() => 'OK', (e: { code?: string; message?: string }) => ({ code: e.code, message: e.message }));
  await sleep(300);
  c.kill(leader, 'SIGTERM');
  const rawReplies = await raw.take(2, 10_000).catch((e: Error) => [`(${e.message})`]);
  t.log('the node, on a raw connection: GET ->', JSON.stringify(rawReplies[0]), ' SET ->', JSON.stringify(rawReplies[1]));
  const setOutcome = await set;
  t.log('client: get', await get, '; set', JSON.stringify(setOutcome));

  for (const f of followers) c.kill(f, 'SIGCONT');
  const next = await c.waitForLeader(3, 60_000, followers);
  const s = await command(c.nodes[next]!.port, ['GET', 'b', 's'], 3000);
  const r = await command(c.nodes[next]!.port, ['GET', 'b', 'r'], 3000);
  t.log(`after the failover: b/s = ${JSON.stringify(s)}, b/r = ${JSON.stringify(r)}`);
  const applied = s.includes('1000');
  t.true(applied, 'scenario did not reproduce (the SET did not apply)');
  // It applied: the client must not have reported it as never run (anything but OUTCOME_UNKNOWN
  // or success means "it did not run", and a client or router re-sends it).
  t.true(setOutcome === 'OK' || (setOutcome as { code?: string }).code === ClientErrorCode.OUTCOME_UNKNOWN,
    `SET applied, but the client said ${JSON.stringify(setOutcome)}`);
});
