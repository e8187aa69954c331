/**
 * A server shutting down answers what it reads from then on, and what it held, `-SHUTDOWN`
 * without running it (node/server/connection.ts): dropped unanswered, a client could only count
 * a written SET or INC as "outcome unknown" (a review). What it accepted before still runs.
 */
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { startSingleNode } from '../../node/single/single-node.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function replies(socket: Socket): { text: () => string; ended: Promise<void> } {
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { text: () => text, ended };
}

test('requests read after the shutdown began are answered -SHUTDOWN and do not run; the connection then ends', async (t) => {
  const dataDir = await tempDir(t);
  const node = await startSingleNode({ dataDir, server: { host: '127.0.0.1', port: 0 } });
  const socket = connect(node.address.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const got = replies(socket);
  socket.write('INC b s\r\n');
  while (got.text() === '') await new Promise((r) => setTimeout(r, 5));
  t.is(got.text(), ':1\r\n');
  const closing = node.server.close();
  socket.write('INC b s\r\nSET b s 100\r\n');
  await got.ended;
  await closing;
  t.regex(got.text(), /^:1\r\n-SHUTDOWN [^\r]*\r\n-SHUTDOWN [^\r]*\r\n$/);
  await node.close();
  const again = await startSingleNode({ dataDir, server: { host: '127.0.0.1', port: 0 } });
  t.teardown(() => again.close());
  const check = connect(again.address.port, '127.0.0.1');
  const read = replies(check);
  check.write('GET b s\r\n');
  while (read.text() === '') await new Promise((r) => setTimeout(r, 5));
  check.destroy();
  t.is(read.text(), ':1\r\n', 'neither the INC nor the SET ran');
});
