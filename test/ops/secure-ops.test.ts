/**
 * Operations against a secured cluster (issues 10 x 11): a `seqdb dev --nodes 3` with TLS, a
 * password and a cluster secret. The router's status collector reaches its nodes (status.json
 * shows the leader and healthy nodes); `seqdb backup` works with --tls-ca and --requirepass, or
 * with --cluster-secret instead of the password, and fails without them; `seqdb status` works
 * with the same flags; the backup restores into a new TLS + password node that continues every
 * sequence where the backup stood.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../client/index.ts';
import { readBackupFile } from '../../node/backup/backup-file.ts';
import { makeCerts } from '../security/helpers/certs.ts';
import { freeRange, seqdb, seqdbRun, sleep } from './helpers.ts';

const PASSWORD = 'ops-secure-password';
const SECRET = 'ops-secure-cluster-secret-0123456789abcdef';

interface StatusJson {
  healthy: boolean;
  shards: { id: string; leader: string | null; healthy: boolean; nodes: { addr: string; up: boolean; role?: string; error?: string }[] }[];
}

test('TLS + password + cluster secret: status.json, seqdb status, backup and restore', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-ops-secure-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = makeCerts(dir);
  const tlsServer = ['--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-ca', certs.ca];
  const port = await freeRange(4);
  const dev = seqdb(t, ['dev', '--nodes', '3', '--port', String(port), '--data', join(dir, 'data'), '--log-level', 'warn',
    '--requirepass', PASSWORD, '--cluster-secret', SECRET, ...tlsServer]);
  const admin = (await dev.waitFor(/status page on http:\/\/([0-9.:]+)\//, 60_000))[1]!;
  const router = `127.0.0.1:${port}`;
  const ca = readFileSync(certs.ca);
  const client = createClient({ routers: [router], password: PASSWORD, tls: { ca }, deadlineMs: 30_000 });
  t.teardown(() => client.close());
  for (let i = 1; i <= 5; i++) t.is(await client.inc('sec', 's'), BigInt(i));
  t.is(await client.inc('sec2', 's', { count: 3 }), 3n);

  // The router polls its members' INFO over TLS after proving the secret.
  let status: StatusJson | null = null;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    status = await (await fetch(`http://${admin}/status.json`)).json() as StatusJson;
    const shard = status.shards[0];
    if (status.healthy && shard?.leader && shard.nodes.length === 3 && shard.nodes.every((n) => n.up)) break;
    await sleep(250);
  }
  const shard = status!.shards[0]!;
  t.true(status!.healthy, JSON.stringify(status));
  t.deepEqual(shard.nodes.map((n) => n.up), [true, true, true], JSON.stringify(shard.nodes));
  t.is(shard.nodes.filter((n) => n.role === 'leader').length, 1);
  t.is(shard.leader, shard.nodes.find((n) => n.role === 'leader')!.addr);

  const st = await seqdbRun(['status', '--router', router, '--json', '--tls-ca', certs.ca, '--requirepass', PASSWORD]);
  const report = JSON.parse(st.output.slice(st.output.indexOf('{'))) as { nodes: { reachable: boolean }[] };
  t.is(st.code, 0, st.output);
  t.is(report.nodes.length, 4, 'the router and its three nodes');
  t.true(report.nodes.every((n) => n.reachable), st.output);
  const stNoPass = await seqdbRun(['status', '--router', router, '--tls-ca', certs.ca]);
  t.regex(stNoPass.output, /REFUSED\n {2}! refused: NOAUTH.*give --requirepass/, 'without the password nothing answers INFO');
  // It answered (refused), so the exit says a server problem, not "nothing reachable" (3).
  t.is(stNoPass.code, 1, stNoPass.output);

  // Without credentials, no backup: plain TCP to a TLS port, or TLS without the password.
  const denied = await seqdbRun(['backup', '--router', router, '--out', join(dir, 'x.bak'), '--deadline-ms', '2000']);
  t.not(denied.code, 0, denied.output);
  const noPass = await seqdbRun(['backup', '--router', router, '--out', join(dir, 'y.bak'), '--tls-ca', certs.ca, '--deadline-ms', '2000']);
  t.not(noPass.code, 0, noPass.output);
  t.regex(noPass.output, /NOAUTH/);
  const wrongSecret = await seqdbRun(['backup', '--router', router, '--out', join(dir, 'z.bak'), '--tls-ca', certs.ca,
    '--cluster-secret', 'not-the-cluster-secret-but-long-enough', '--deadline-ms', '2000']);
  t.not(wrongSecret.code, 0, wrongSecret.output);
  t.regex(wrongSecret.output, /failed to prove the cluster secret/);

  const file = join(dir, 'secure.bak');
  const b = await seqdbRun(['backup', '--router', router, '--out', file, '--tls-ca', certs.ca, '--requirepass', PASSWORD]);
  t.is(b.code, 0, b.output);
  t.regex(b.output, /1 shard\(s\) written/);
  // The cluster secret instead of the password (and a client certificate).
  const viaSecret = join(dir, 'secret.bak');
  const b2 = await seqdbRun(['backup', '--router', router, '--out', viaSecret, ...tlsServer, '--cluster-secret', SECRET]);
  t.is(b2.code, 0, b2.output);
  const { manifest } = await readBackupFile(viaSecret);
  t.true(manifest.shards[0]!.index > 0, 'exported by the shard leader as of a committed index');
  t.is(await client.inc('sec', 's'), 6n); // after the backups: not in them

  const r = await seqdbRun(['restore', '--in', file, '--data', join(dir, 'restored')]);
  t.is(r.code, 0, r.output);
  const restored = seqdb(t, ['dev', '--port', '0', '--data', join(dir, 'restored'), '--log-level', 'warn',
    '--requirepass', PASSWORD, '--tls-cert', certs.cert, '--tls-key', certs.key]);
  const addr2 = (await restored.waitFor(/listening on ([0-9.]+:[0-9]+)/))[1]!;
  const client2 = createClient({ routers: [addr2], password: PASSWORD, tls: { ca } });
  t.teardown(() => client2.close());
  t.is(await client2.inc('sec', 's'), 6n, 'continues exactly after the backed-up value');
  t.is(await client2.inc('sec2', 's'), 4n);
  dev.child.kill('SIGTERM');
  t.is((await dev.exited).code, 0, dev.output());
});
