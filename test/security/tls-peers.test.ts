/**
 * Raft peer traffic over TLS, in process on real sockets: peers with certificates from the
 * cluster's CA (and the secret) exchange messages; a peer whose certificate another CA signed is
 * refused both ways, even when it knows the secret; routers' connections verify nodes likewise.
 */
import test from 'ava';
import type { Server } from 'node:net';
import { Transport, type TransportOptions } from '../../node/replication/transport.ts';
import type { Message } from '../../node/raft/types.ts';
import { startSingleNode } from '../../node/single/single-node.ts';
import { NodePool } from '../../router/node-connection.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { loadTls, type TlsConfig } from '../../shared/security/tls-config.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { makeCerts, type TestCerts } from './helpers/certs.ts';

const SECRET = new ClusterSecret('tls-peers-cluster-secret');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
  return cond();
}

interface Peer {
  readonly t: Transport;
  /** The transport's listening server (private; for counting its connections). */
  readonly server: Server;
  readonly got: Message[];
  readonly logs: string[];
}

async function peer(tt: { teardown(fn: () => unknown): void }, id: string, addrs: Map<string, string>, over: Partial<TransportOptions>): Promise<Peer> {
  const p = { got: [] as Message[], logs: [] as string[] };
  let advertise = '';
  const t = new Transport({
    cluster: 'c1', shard: 's1', nodeId: id, advertise: () => advertise,
    addressOf: (other) => addrs.get(other), isRemoved: () => false,
    onMessage: (m) => p.got.push(m), onPeerHello: () => {}, onControl: async (_from, c) => ({ echo: c }),
    onClientSocket: (socket) => socket.destroy(), onUnreachable: () => {}, onSnapshotSent: () => {},
    log: (l) => p.logs.push(l), backoffMsMin: 20, backoffMsMax: 100, clusterSecret: SECRET,
    ...over,
  });
  advertise = `127.0.0.1:${await t.listen('127.0.0.1', 0)}`;
  addrs.set(id, advertise);
  // Bounded: see the failing test below (a refused TLS handshake can keep close() waiting).
  tt.teardown(() => Promise.race([t.close(), sleep(2000)]));
  return { t, server: (t as unknown as { server: Server }).server, ...p };
}

const msg = (from: string, to: string, index: number): Message => ({
  type: 'app', from, to, term: 1, index, logTerm: 1, commit: 0, entries: [], reject: false, rejectHint: 0,
});

let certs: TestCerts;
let good: TlsConfig;
let rogue: TlsConfig;
test.before(async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  certs = makeCerts(mkdtempSync(join(tmpdir(), 'seqdb-certs-')));
  // Short handshakes: a refused handshake lingers that long on the refuser's server (teardown waits).
  good = loadTls({ cert: certs.cert, key: certs.key, ca: certs.ca }, { handshakeTimeoutMs: 500 });
  // Knows the secret and trusts our CA, but its own certificate comes from another CA.
  rogue = loadTls({ cert: certs.rogueCert, key: certs.rogueKey, ca: certs.ca }, { handshakeTimeoutMs: 500 });
});

test('peers with CA-signed certificates exchange messages over TLS', async (t) => {
  const addrs = new Map<string, string>();
  const a = await peer(t, 'a', addrs, { tls: good });
  const b = await peer(t, 'b', addrs, { tls: good });
  for (let i = 0; i < 10; i++) a.t.send(msg('a', 'b', i));
  b.t.send(msg('b', 'a', 1));
  t.true(await until(() => b.got.length === 10 && a.got.length === 1));
  t.deepEqual(await a.t.request(addrs.get('b')!, { op: 'probe' }), { echo: { op: 'probe' } });
});

test('a peer with a certificate from another CA is refused both ways, secret or not', async (t) => {
  const addrs = new Map<string, string>();
  const real = await peer(t, 'real', addrs, { tls: good });
  const fake = await peer(t, 'fake', addrs, { tls: rogue });
  for (let i = 0; i < 5; i++) fake.t.send(msg('fake', 'real', i));
  await t.throwsAsync(fake.t.request(addrs.get('real')!, { op: 'probe' }));
  for (let i = 0; i < 5; i++) real.t.send(msg('real', 'fake', i));
  await t.throwsAsync(real.t.request(addrs.get('fake')!, { op: 'probe' }));
  await sleep(300);
  t.deepEqual(real.got, []);
  t.deepEqual(fake.got, []);
  t.true(real.logs.some((l) => /not signed by --tls-ca/.test(l)), real.logs.join('\n'));
});

test('a router-side pool over TLS uses a node with our CA and refuses one without', async (t) => {
  const node = await startSingleNode({
    dataDir: await tempDir(t), server: { port: 0, tls: good, security: { clusterSecret: 'tls-peers-cluster-secret', log: () => {} } },
  });
  t.teardown(() => node.close());
  const impostor = await startSingleNode({
    dataDir: await tempDir(t), server: { port: 0, tls: rogue, security: { clusterSecret: 'tls-peers-cluster-secret', log: () => {} } },
  });
  t.teardown(() => impostor.close());
  const pool = new NodePool({ clusterSecret: SECRET, tls: good, log: () => {} });
  t.teardown(() => pool.closeAll());
  const ok = await pool.send(`127.0.0.1:${node.address.port}`, ['INC', 'b', 's'], 3000);
  t.true(ok.ok && ok.reply.kind === 'integer', ok.ok ? ok.reply.kind : ok.why);
  const refused = await pool.send(`127.0.0.1:${impostor.address.port}`, ['INC', 'b', 's'], 3000);
  t.false(refused.ok);
});

function connectionsOf(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

test('the client server frees the connection of a refused TLS handshake (guardTlsServer)', async (t) => {
  const impostor = await startSingleNode({ dataDir: await tempDir(t), server: { port: 0, tls: rogue } });
  t.teardown(() => impostor.close());
  const pool = new NodePool({ clusterSecret: SECRET, tls: good, log: () => {} });
  t.teardown(() => pool.closeAll());
  for (let i = 0; i < 5; i++) {
    const out = await pool.send(`127.0.0.1:${impostor.address.port}`, ['PING'], 2000);
    t.false(out.ok);
  }
  const server = (impostor.server as unknown as { server: Server }).server;
  await sleep(1200); // past the 500 ms handshake timeout
  t.is(await connectionsOf(server), 0);
});

// Known bug, fix pending in node/replication/transport.ts (outside this area): its TLS server
// (allowHalfOpen) keeps the raw socket of every refused handshake, so connections pile up toward
// maxConnections and close() never returns. The fix is one line there:
//   guardTlsServer(this.server, opts.tls.handshakeTimeoutMs) (shared/security/tls-config.ts).
test('the transport frees the connection of a refused TLS handshake', async (t) => {
  const addrs = new Map<string, string>();
  const real = await peer(t, 'real', addrs, { tls: good });
  const fake = await peer(t, 'fake', addrs, { tls: rogue });
  for (let i = 0; i < 3; i++) await real.t.request(addrs.get('fake')!, { op: 'probe' }).catch(() => {});
  await sleep(1200); // past the 500 ms handshake timeout
  t.is(await connectionsOf(fake.server), 0);
});
