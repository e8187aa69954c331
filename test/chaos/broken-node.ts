/**
 * A deliberately broken stand-in for `seqdb node`, for proving that the chaos test bed catches a
 * system that is wrong (`npm run chaos -- --system broken`): every process keeps its own
 * in-memory counters, says it is the leader, and forgets everything when killed. Clients spread
 * over the nodes, so numbers repeat and reads go stale: the checker must say INVALID.
 *
 * Accepts `seqdb node`'s flags and uses only --host, --port and --join. Speaks just enough of the
 * protocol: INC [ID token], GET, SET, INFO, PING.
 */
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { RequestDecoder } from '../../shared/protocol/request-decoder.ts';
import { bulk, errorLine, integer, NULL_BULK, OK, PONG } from '../../shared/protocol/reply.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { host: { type: 'string' }, port: { type: 'string' }, join: { type: 'string' } },
  strict: false,
});
const host = String(values.host ?? '127.0.0.1');
const port = Number(values.port ?? 7379);
const counters = new Map<string, bigint>();
const tokens = new Map<string, bigint>();
const id = Math.random().toString(16).slice(2, 18);
// Every node claims every --join address as a voter, so the harness sees a formed shard.
const members = String(values.join ?? `${host}:${port}`).split(',').map((a, i) => `n${i}=${a}/voter/0`).join(',');

function execute(args: readonly Buffer[]): string {
  const [name, bucket, sequence, ...rest] = args.map((a) => a.toString('utf8'));
  const key = JSON.stringify([bucket, sequence]);
  switch (name?.toUpperCase()) {
    case 'PING':
      return PONG;
    case 'INFO':
      return bulk(`role:leader\r\nterm:1\r\nnode_id:${id}\r\nmembers:${members}\r\n`) as string;
    case 'GET': {
      const v = counters.get(key);
      return v === undefined ? NULL_BULK : integer(v);
    }
    case 'SET':
      counters.set(key, BigInt(rest[0] ?? '0'));
      return OK;
    case 'INC': {
      const token = rest[0]?.toUpperCase() === 'ID' ? `${key}/${rest[1]}` : null;
      const seen = token === null ? undefined : tokens.get(token);
      if (seen !== undefined) return integer(seen);
      const v = (counters.get(key) ?? 0n) + 1n;
      counters.set(key, v);
      if (token !== null) tokens.set(token, v);
      return integer(v);
    }
    default:
      return errorLine('ERR', `unknown command '${name ?? ''}'`);
  }
}

createServer((socket) => {
  const decoder = new RequestDecoder({
    onRequest: (args) => socket.write(execute(args)),
    onError: (err, fatal) => {
      socket.write(errorLine('ERR', err.message));
      if (fatal) socket.end();
    },
  });
  socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  socket.on('error', () => socket.destroy());
}).listen(port, host, () => console.log(`broken node ${id} listening on ${host}:${port}`));
