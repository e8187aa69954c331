import test from 'ava';
import { ClientErrorCode, createClient } from '../../client/index.ts';
import { startDev, tempDir } from './dev-process.ts';

/**
 * A review: a server shutting down gracefully (SIGTERM: a rolling restart of `seqdb dev` or of a
 * router, which runs the same server) stops reading and silently drops the requests it had not
 * read yet or held (node/server/connection.ts shutdown/stopReading: `held.length = 0`), then
 * closes. The client can only count those written requests as lost: each pipelined SET fails at
 * once with ERR_OUTCOME_UNKNOWN although it never ran (the server knows: it never read it, and
 * has -SHUTDOWN, which the client already treats as "refused, nothing changed").
 */
test('SETs the server never ran because it was shutting down are not ERR_OUTCOME_UNKNOWN', async (t) => {
  const dir = await tempDir('seqdb-shutdown-');
  t.teardown(() => dir.remove());
  let server = await startDev(dir.path);
  t.teardown(() => server.kill());
  const port = server.port;
  const client = createClient({ routers: [`127.0.0.1:${port}`], deadlineMs: 3000, backoffMaxMs: 100 });
  t.teardown(() => client.destroy());
  const unknown: string[] = [];
  const codes = new Map<string, number>();
  let stop = false;
  let n = 0;
  const stopAtMs = Date.now() + 15_000;
  const loops = Array.from({ length: 64 }, async () => {
    while (!stop && Date.now() < stopAtMs) {
      const seq = `s${n++}`;
      try {
        await client.set('b', seq, 1);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'none';
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (code === ClientErrorCode.OUTCOME_UNKNOWN) unknown.push(seq);
      }
    }
  });
  await new Promise((r) => setTimeout(r, 700));
  const exited = new Promise((r) => server.child.once('exit', r));
  const termAt = Date.now();
  const before = n;
  server.child.kill('SIGTERM');
  await exited;
  t.log(`exit ${Date.now() - termAt} ms after SIGTERM; ${n - before} SETs begun meanwhile`);
  stop = true;
  await Promise.all(loops);
  server = await startDev(dir.path, port);
  const reader = createClient({ routers: [`127.0.0.1:${port}`] });
  t.teardown(() => reader.destroy());
  const neverRan: string[] = [];
  for (const seq of unknown) if ((await reader.get('b', seq)) === null) neverRan.push(seq);
  t.log(`${n} SETs; ${unknown.length} ERR_OUTCOME_UNKNOWN, of which ${neverRan.length} never ran; errors ${JSON.stringify([...codes])}`);
  t.deepEqual(neverRan, [], 'SETs dropped unread by a server shutting down were reported ERR_OUTCOME_UNKNOWN');
});
