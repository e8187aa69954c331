/**
 * HELLO (shared/security/hello.ts) and the client-side security flags
 * (shared/security/client-security.ts), as pure functions; the wire behaviour against a real
 * server is in auth.test.ts and test/node/commands.test.ts.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { answerHello, NOPROTO, OPEN_HELLO_AUTH, type HelloAuth } from '../../shared/security/hello.ts';
import { callSecurityFor, clientSecurityFromFlags } from '../../shared/security/client-security.ts';
import { ServerGate } from '../../shared/security/server-gate.ts';

const args = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));
const text = (e: Buffer | string): string => e.toString();

test('HELLO: versions, options and errors in Redis 6 words', (t) => {
  const client = { id: 7, name: null as Buffer | null };
  t.is(answerHello(args('HELLO', '3'), client, OPEN_HELLO_AUTH), NOPROTO);
  t.is(answerHello(args('HELLO', '1'), client, OPEN_HELLO_AUTH), NOPROTO);
  t.regex(text(answerHello(args('HELLO', 'x'), client, OPEN_HELLO_AUTH)), /^-ERR Protocol version is not an integer/);
  t.regex(text(answerHello(args('HELLO', '2', 'BOGUS'), client, OPEN_HELLO_AUTH)), /^-ERR Syntax error in HELLO option 'BOGUS'/);
  t.regex(text(answerHello(args('HELLO', '2', 'SETNAME'), client, OPEN_HELLO_AUTH)), /^-ERR Syntax error/);
  const facts = text(answerHello(args('HELLO', '2', 'setname', 'x'), client, OPEN_HELLO_AUTH));
  t.regex(facts, /^\*14\r\n/);
  t.regex(facts, /\$2\r\nid\r\n:7\r\n/);
  t.is(client.name?.toString(), 'x');
  t.regex(text(answerHello(args('HELLO'), client, OPEN_HELLO_AUTH)), /^\*14\r\n/);
  // No password configured: the default user opens with any password; no other user exists.
  t.regex(text(answerHello(args('HELLO', '2', 'AUTH', 'default', 'any'), client, OPEN_HELLO_AUTH)), /^\*14/);
  t.regex(text(answerHello(args('HELLO', '2', 'AUTH', 'bob', 'any'), client, OPEN_HELLO_AUTH)), /^-WRONGPASS/);
  // Not authenticated: NOAUTH, and the password check decides.
  let tried = 0;
  const closed: HelloAuth = { authenticated: false, authenticate: () => (tried++, '-WRONGPASS x\r\n') };
  t.regex(text(answerHello(args('HELLO', '2'), client, closed)), /^-NOAUTH HELLO must be called/);
  t.is(text(answerHello(args('HELLO', '2', 'AUTH', 'default', 'no'), client, closed)), '-WRONGPASS x\r\n');
  t.is(answerHello(args('HELLO', '3', 'AUTH', 'default', 'no'), client, closed), NOPROTO);
  t.is(tried, 1, 'NOPROTO is answered before any password check');
});

test('the gate: HELLO AUTH authenticates with the right password only, and counts failures', (t) => {
  const gate = new ServerGate({ password: 'pw', log: () => {} });
  const client = { id: 1 };
  t.regex(text(gate.intercept('hello', args('HELLO', '2', 'AUTH', 'default', 'nope'), client)!), /^-WRONGPASS/);
  t.regex(text(gate.intercept('hello', args('HELLO'), client)!), /^-NOAUTH/);
  t.regex(text(gate.intercept('inc', args('INC', 'b', 's'), client)!), /^-NOAUTH/);
  t.regex(text(gate.intercept('hello', args('HELLO', '2', 'AUTH', 'default', 'pw'), client)!), /^\*14/);
  t.is(gate.intercept('inc', args('INC', 'b', 's'), client), undefined);
  t.is(gate.counters.authFailures, 1);
  t.is(gate.counters.noauthRejections, 2);
});

test('client security flags: TLS from any TLS flag, env fallbacks, bad combinations refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-client-sec-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.pem');
  await writeFile(ca, 'not really a pem, only read here');
  t.deepEqual(clientSecurityFromFlags({}, {}), {});
  const env = { SEQDB_PASSWORD: 'env-pw', SEQDB_CLUSTER_SECRET: 'a-cluster-secret-long-enough-0123' };
  const fromEnv = clientSecurityFromFlags({ 'tls-ca': ca }, env);
  t.is(fromEnv.password, 'env-pw');
  t.true(fromEnv.clusterSecret instanceof ClusterSecret);
  t.is(String(fromEnv.tls?.ca), 'not really a pem, only read here');
  t.is(clientSecurityFromFlags({ requirepass: 'flag-pw' }, env, false).password, 'flag-pw', 'a flag wins');
  t.is(clientSecurityFromFlags({}, env, false).clusterSecret, undefined, 'no secret where none is used');
  t.truthy(clientSecurityFromFlags({ tls: true }, {}).tls);
  t.throws(() => clientSecurityFromFlags({ 'tls-cert': ca }, {}), { message: /go together/ });
  t.throws(() => clientSecurityFromFlags({ 'tls-ca': join(dir, 'missing.pem') }, {}), { message: /--tls-ca: cannot read/ });
  t.throws(() => clientSecurityFromFlags({ 'cluster-secret': 'short' }, {}));
  t.deepEqual(callSecurityFor(undefined), {});
  const own = callSecurityFor({ security: { password: 'p', clusterSecret: 'a-cluster-secret-long-enough-0123' } });
  t.is(own.password, 'p');
  t.true(own.clusterSecret instanceof ClusterSecret);
});
