import test from 'ava';
import net from 'node:net';
import { ClientErrorCode, createClient } from '../../client/index.ts';
import { startDev, tempDir } from './dev-process.ts';

/**
 * A review: a server at --maxclients answers a new connection with one `-BUSY max number of clients
 * reached` and closes it, without reading a byte. None of the requests the client pipelined on that
 * connection ran. The client matches the BUSY to the first request (retried: not applied) and
 * counts every other one as written-and-lost: a SET fails at once with ERR_OUTCOME_UNKNOWN and an
 * INC ends ERR_OUTCOME_UNKNOWN at its deadline, though nothing can have been applied (README and
 * DESIGN promise ERR_TIMEOUT then, "a fresh call is safe").
 */
test('calls on a connection refused for --maxclients are ERR_TIMEOUT, never ERR_OUTCOME_UNKNOWN', async (t) => {
  const dir = await tempDir('seqdb-busy-');
  t.teardown(() => dir.remove());
  const server = await startDev(dir.path, 0, 20_000, ['--maxclients', '1']);
  t.teardown(() => server.kill());
  // The one allowed connection, held open.
  const holder = net.connect({ host: '127.0.0.1', port: server.port });
  await new Promise((r) => holder.once('connect', r));
  await new Promise((r) => setTimeout(r, 200));
  t.teardown(() => holder.destroy());

  // 5 s, not less: on a loaded CI box (a 900 s run) the BUSY line came after a 1.5 s deadline, and
  // a call whose request was written with no answer yet is rightly OUTCOME_UNKNOWN then. One
  // attempt per call (a first backoff of 30 s or more, past the deadline, so each call gives up
  // after its BUSY): with retries, a deadline that fell while a retry's request was written and
  // unanswered was the same rightful OUTCOME_UNKNOWN (a fresh-clone run: 1 of 5).
  const client = createClient({ routers: [`127.0.0.1:${server.port}`], deadlineMs: 5000, backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
  t.teardown(() => client.destroy());
  const calls = await Promise.allSettled([
    client.set('b', 's1', 5),
    client.set('b', 's2', 5),
    client.set('b', 's3', 5),
    client.inc('b', 'i1'),
    client.inc('b', 'i2'),
  ]);
  const codes = calls.map((c) => (c.status === 'rejected' ? (c.reason as { code: string }).code : `ok ${String(c.value)}`));
  t.log(codes.join(', '));
  holder.destroy();
  await new Promise((r) => setTimeout(r, 200));
  // Nothing ran: the server never read those connections.
  const reader = createClient({ routers: [`127.0.0.1:${server.port}`] });
  for (const s of ['s1', 's2', 's3']) t.is(await reader.get('b', s), null);
  for (const s of ['i1', 'i2']) t.is(await reader.get('b', s), null);
  await reader.close();
  t.deepEqual(codes, Array(5).fill(ClientErrorCode.TIMEOUT));
});
