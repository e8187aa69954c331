/**
 * Found by a review. README "Limits": "A request left half-sent for 30 seconds gets
 * `-ERR Protocol error: request not completed within 30000 ms` and the connection is closed."
 * The deadline (node/server/request-deadline.ts) only runs while the decoder holds bytes
 * (RequestDecoder.bufferedBytes() > 0), and a request cut inside its headers (`*1\r\n$4\r\n`,
 * or just `*2\r\n`) holds none: such a half-sent request is never timed out.
 */
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { startTestNode } from '../helpers/single-node.ts';

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => (clearTimeout(timer), resolve(true)));
  });
}

for (const [what, bytes] of [
  ['a bulk header with no data yet', '*1\r\n$4\r\n'],
  ['an array header alone', '*2\r\n'],
  ['a partial array header', '*2'],
  ['a complete first argument then a bulk header', '*2\r\n$4\r\nPING\r\n$3\r\n'],
] as const) {
  test(`a request half-sent inside its headers (${what}) is timed out like any other`, async (t) => {
    const node = await startTestNode(t, { server: { requestTimeoutMs: 300 } });
    const half = await rawSocket(node.address.port);
    t.teardown(() => half.destroy());
    let reply = '';
    half.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    half.on('error', () => undefined);
    half.write(bytes);
    const closed = await closedWithin(half, 3000);
    t.regex(reply, /^-ERR Protocol error: request not completed within 300 ms\r\n$/, `reply: ${JSON.stringify(reply)}`);
    t.true(closed, 'connection closed');
  });
}
