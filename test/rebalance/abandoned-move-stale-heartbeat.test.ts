/**
 * A review (3f93672): AbandonedMoves.heard is never cleared when this node stops leading the
 * catalog. A catalog leader X hears the coordinator of epoch 5, loses leadership (the coordinator's
 * heartbeats now go to the new leader Y), and regains it later: its first check sees a heartbeat
 * "stopped" long ago (the old one) and a record unchanged as long, and takes over at once a
 * coordinator that heartbeats every 2 s - one that was heard only by other leaders meanwhile. The
 * design (abandoned-move.ts header) says such a coordinator "still waits idleMs".
 *
 * The take-over attempt is observed as the `CLUSTER MOVE` it sends to selfAddr (a loopback fake
 * that refuses it, so that check() ends at once).
 */
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { AbandonedMoves } from '../../node/rebalance/abandoned-move.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a catalog leader that regains leadership does not take over a coordinator heard before it lost it', async (t) => {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => {
      received.push(d.toString('latin1'));
      s.write('-ERR refused by the test\r\n');
    });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  let leading = true;
  const logs: string[] = [];
  const moves = new AbandonedMoves({
    selfAddr: () => `127.0.0.1:${port}`,
    leads: () => leading,
    dial: {},
    log: (l) => logs.push(l),
    idleMs: 60_000,
    silentMs: 600,
    localMove: () => ({ epoch: 5, state: 'frozen' }),
  } as ConstructorParameters<typeof AbandonedMoves>[0]);

  await moves.check(); // the record is seen
  moves.alive(5); // the coordinator's heartbeat reaches X, the leader
  await moves.check();
  t.deepEqual(received, [], 'heard just now: no take-over');
  leading = false; // X steps down; the coordinator's heartbeats go to the new leader from now on
  for (let i = 0; i < 4; i++) {
    await sleep(300);
    await moves.check(); // a follower watches the record
  }
  leading = true; // X leads again; the coordinator is alive (it was heard by Y 300 ms ago)
  await moves.check();
  await sleep(200);
  t.deepEqual(received.map((r) => r.replace(/\r\n/g, ' ')), [], `a live coordinator taken over for a heartbeat from a past term; log: ${logs.join(' | ')}`);
});
