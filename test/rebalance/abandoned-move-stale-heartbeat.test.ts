/**
 * Heartbeats across catalog leader changes (abandoned-move.ts). A review (3f93672): a catalog
 * leader X that heard the coordinator of epoch 5, lost leadership and regained it took over at
 * once a coordinator that was alive all along (heard only by the other leader meanwhile). Since
 * coordinators tell every catalog member (mover.ts), followers keep hearing them: X, leading
 * again, knows the coordinator is alive; and a leader elected after the coordinator died has
 * heard its last beat as a follower, so it takes over after silentMs, not after idleMs (before:
 * heartbeats reached the leader only, and a new leader waited the whole idleMs, 30 s).
 *
 * The take-over attempt is observed as the `CLUSTER MOVE` it sends to selfAddr (a loopback fake
 * that refuses it, so that check() ends at once).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createServer, type Socket } from 'node:net';
import { AbandonedMoves } from '../../node/rebalance/abandoned-move.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function refusingFake(t: ExecutionContext): Promise<{ port: number; received: string[] }> {
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
  return { port: (server.address() as { port: number }).port, received };
}

test('a catalog leader that regains leadership does not take over a coordinator heard meanwhile as a follower', async (t) => {
  const { port, received } = await refusingFake(t);
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
  leading = false; // X steps down; the coordinator keeps telling every member, X included
  for (let i = 0; i < 4; i++) {
    await sleep(300);
    moves.alive(5);
    await moves.check(); // a follower watches the record
  }
  leading = true; // X leads again; the coordinator is alive (heard 0 ms ago)
  await moves.check();
  await sleep(200);
  t.deepEqual(received.map((r) => r.replace(/\r\n/g, ' ')), [], `a live coordinator taken over for a heartbeat from a past term; log: ${logs.join(' | ')}`);
});

test('a catalog leader elected after the coordinator died takes over after silentMs, having heard it as a follower', async (t) => {
  const { port, received } = await refusingFake(t);
  let leading = false;
  const moves = new AbandonedMoves({
    selfAddr: () => `127.0.0.1:${port}`,
    leads: () => leading,
    dial: {},
    log: () => {},
    idleMs: 60_000,
    silentMs: 600,
    localMove: () => ({ epoch: 5, state: 'frozen' }),
  } as ConstructorParameters<typeof AbandonedMoves>[0]);
  for (let i = 0; i < 3; i++) {
    moves.alive(5); // the coordinator's heartbeat, heard by this follower
    await moves.check();
    await sleep(200);
  }
  // The coordinator dies; so does the catalog leader, and this node is elected.
  await sleep(700);
  leading = true;
  await moves.check();
  await sleep(200);
  t.true(received.length > 0, 'taken over once the coordinator was silent for silentMs (not after idleMs, 60 s)');
});
