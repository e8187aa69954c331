/**
 * A review (3f93672): after a pause of the catalog leader's event loop longer than silentMs
 * (GC, a long synchronous step), its check timer runs before the heartbeats that arrived meanwhile
 * are read (timers run before I/O in a loop turn): `heard` looks silentMs old and a live,
 * heartbeating coordinator is taken over. Here: watchAbandonedMoves (check every 100 ms, silentMs
 * 600), a coordinator in a worker thread heartbeating every 100 ms over loopback TCP (as
 * SEQDB.MOVEALIVE would reach moves.alive), the leader's loop blocked 1.5 s once. The take-over
 * attempt is the CLUSTER MOVE sent to selfAddr (a loopback fake that refuses it).
 */
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { watchAbandonedMoves } from '../../node/rebalance/abandoned-move.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a pause of the leader\'s event loop does not make a heartbeating coordinator look dead', async (t) => {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  const self = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => { received.push(d.toString('latin1').replace(/\r\n/g, ' ')); s.write('-ERR refused by the test\r\n'); });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => self.listen(0, '127.0.0.1', r));
  let beats = 0;
  let moves: ReturnType<typeof watchAbandonedMoves>['moves'] | undefined;
  const hb = createServer((s) => {
    sockets.add(s);
    s.on('data', () => { beats++; moves?.alive(5); });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => hb.listen(0, '127.0.0.1', r));
  const hbPort = (hb.address() as { port: number }).port;
  const worker = new Worker(`
    const net = require('node:net');
    const c = net.connect(${hbPort}, '127.0.0.1');
    setInterval(() => c.write('alive 5\\n'), 100);
  `, { eval: true });
  const w = watchAbandonedMoves({
    selfAddr: () => `127.0.0.1:${(self.address() as { port: number }).port}`,
    leads: () => true,
    dial: {},
    log: () => {},
    idleMs: 60_000,
    silentMs: 600,
    localMove: () => ({ epoch: 5, state: 'frozen' }),
  } as Parameters<typeof watchAbandonedMoves>[0], 100);
  moves = w.moves;
  t.teardown(async () => {
    clearInterval(w.timer);
    await worker.terminate();
    for (const s of sockets) s.destroy();
    self.close();
    hb.close();
  });
  await sleep(1500); // heartbeats flow; the record has sat unchanged > silentMs
  t.true(beats > 5, `heartbeats heard: ${beats}`);
  t.deepEqual(received, [], 'no take-over while heartbeats flow');
  await new Promise<void>((r) => setTimeout(() => {
    const until = Date.now() + 1500;
    while (Date.now() < until) { /* the leader's event loop is busy (a long GC or synchronous step) */ }
    r();
  }, 10));
  await sleep(500);
  t.deepEqual(received, [], `a heartbeating coordinator taken over after a 1.5 s pause of the leader's loop (heartbeats heard: ${beats})`);
});
