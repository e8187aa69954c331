/**
 * `seqdb dev --nodes N`: a local shard of N `seqdb node` processes (like `cockroach demo`), plus
 * what clients connect to on --port: a TCP proxy that pipes every client connection to the
 * current leader (found by polling INFO). When leadership moves, connections to the old leader
 * are closed so clients reconnect through the proxy to the new one. Kill node processes
 * (their pids are printed) to try failover.
 *
 * dev.ts calls `startDevCluster` when --nodes is given; see the report of issue 4.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { SEQDB_BIN } from '../../shared/package-root.ts';

export interface DevClusterOptions {
  /** Number of node processes: 1..9. */
  readonly nodes: number;
  /** Where clients connect (the proxy). */
  readonly host: string;
  readonly port: number;
  /** Node i keeps its data in `<dataDir>/node-<i>`. */
  readonly dataDir: string;
  /** Node ports are basePort+1 .. basePort+N. Default: port + 1 (17400 when port is 0). */
  readonly basePort?: number;
  /** Explicit node ports (tests); overrides basePort. */
  readonly nodePorts?: readonly number[];
  readonly log?: (line: string) => void;
  /** Node processes' output. Default 'inherit' (the dev sees node logs). */
  readonly nodeOutput?: 'inherit' | 'ignore';
}

export interface DevCluster {
  readonly address: { host: string; port: number };
  readonly nodes: readonly { addr: string; pid: number | undefined }[];
  close(): Promise<void>;
}

const POLL_MS = 200;

export async function startDevCluster(o: DevClusterOptions): Promise<DevCluster> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 9) throw new RangeError('--nodes must be 1..9');
  const log = o.log ?? ((l: string) => console.log(l));
  const base = o.basePort ?? (o.port === 0 ? 17_400 : o.port + 1);
  const addrs = Array.from({ length: o.nodes }, (_, i) => `127.0.0.1:${o.nodePorts?.[i] ?? base + 1 + i}`);
  const children: ChildProcess[] = addrs.map((addr, i) => {
    const dir = join(o.dataDir, `node-${i}`);
    mkdirSync(dir, { recursive: true });
    const child = spawn(
      process.execPath,
      [SEQDB_BIN, 'node', '--shard', '0', '--host', '127.0.0.1', '--port', addr.split(':')[1]!, '--data', dir,
        '--join', addrs.join(','), '--bootstrap-expect', String(o.nodes)],
      { stdio: ['ignore', o.nodeOutput ?? 'inherit', o.nodeOutput ?? 'inherit'] },
    );
    log(`node ${i}: ${addr} pid ${child.pid} data ${dir}`);
    return child;
  });

  let leader: string | null = null;
  const proxied = new Map<Socket, string>();
  const poll = setInterval(() => {
    void findLeader(addrs).then((found) => {
      if (found === null || found === leader) return;
      log(`leader is now ${found}`);
      leader = found;
      for (const [s, upstream] of proxied) if (upstream !== found) s.destroy();
    });
  }, POLL_MS);

  const accepted = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted.add(client);
    client.once('close', () => accepted.delete(client));
    client.on('error', () => client.destroy());
    const target = leader;
    if (target === null) {
      client.end('-CLUSTERDOWN no leader elected yet\r\n');
      return;
    }
    const [h, p] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    const upstream = connect({ host: h, port: p });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    proxied.set(client, target);
    client.once('close', () => proxied.delete(client));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const bound = server.address() as { port: number };

  async function close(): Promise<void> {
    clearInterval(poll);
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of accepted) s.destroy();
    await closed;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }

  return { address: { host: o.host, port: bound.port }, nodes: addrs.map((addr, i) => ({ addr, pid: children[i]!.pid })), close };
}

async function findLeader(addrs: readonly string[]): Promise<string | null> {
  const infos = await Promise.all(addrs.map((a) => infoRole(a).catch(() => null)));
  const i = infos.findIndex((r) => r === 'leader');
  return i < 0 ? null : addrs[i]!;
}

/** The `role:` line of a node's INFO, over a short-lived connection. */
function infoRole(addr: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const at = addr.lastIndexOf(':');
    const s = connect({ host: addr.slice(0, at), port: Number(addr.slice(at + 1)) });
    let text = '';
    const timer = setTimeout(() => (s.destroy(), reject(new Error('timeout'))), 500);
    s.on('error', (e) => (clearTimeout(timer), reject(e)));
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const m = /\r\nrole:(\w+)\r\n/.exec(text);
      if (m || text.length > 65536) {
        clearTimeout(timer);
        s.destroy();
        resolve(m ? m[1]! : null);
      }
    });
    s.write('*1\r\n$4\r\nINFO\r\n');
  });
}
