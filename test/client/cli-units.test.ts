import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../client/index.ts';
import { formatReply, quote } from '../../client/cli/format.ts';
import { helpText } from '../../client/cli/help.ts';
import { appendHistory, HISTORY_LINES_MAX, loadHistory, trimHistory } from '../../client/cli/history.ts';
import { runLine } from '../../client/cli/repl.ts';
import { analyzeInfo, clusterProblems, memberAddresses } from '../../client/cli/status-analysis.ts';
import { describeError, exitCodeFor, routersFrom } from '../../client/cli/common.ts';
import { ClientError, ClientErrorCode, OutcomeUnknownError, ServerError } from '../../client/errors.ts';
import { FakeServer } from './fake-server.ts';

test('an unknown outcome names the retry command only while the server still knows the token', (t) => {
  const retry = (token: string) => `seqdb inc b s --id ${token}`;
  const lost = new OutcomeUnknownError('outcome unknown', '1-tok', 2, new Error('connection closed'));
  t.true(lost.retryable);
  t.regex(describeError(lost, retry), /retry with the same token: seqdb inc b s --id 1-tok/);
  const forgotten = new OutcomeUnknownError('outcome unknown', '1-tok', 2,
    new ServerError('ERR', 'ID token expired: older than the retention window', ClientErrorCode.TOKEN_EXPIRED));
  t.false(forgotten.retryable);
  t.notRegex(describeError(forgotten, retry), /retry with/);
  t.regex(describeError(forgotten, retry), /no longer knows its token: read the sequence/);
});

test('replies render like redis-cli', (t) => {
  t.is(formatReply({ kind: 'integer', value: 2n ** 63n - 1n }), '(integer) 9223372036854775807');
  t.is(formatReply({ kind: 'null' }), '(nil)');
  t.is(formatReply({ kind: 'error', word: 'ERR', message: 'syntax error' }), '(error) ERR syntax error');
  t.is(formatReply({ kind: 'string', value: Buffer.from('OK') }), 'OK');
  t.is(formatReply({ kind: 'string', value: Buffer.from('a:1\r\nb:2\r\n') }), 'a:1\nb:2');
  t.is(formatReply({ kind: 'string', value: Buffer.from('hi there') }), '"hi there"');
  t.is(quote(Buffer.from([0x61, 0x00, 0xff, 0x22])), '"a\\x00\\xff\\""');
  t.is(
    formatReply({ kind: 'array', items: [{ kind: 'integer', value: 1n }, { kind: 'array', items: [{ kind: 'null' }] }] }),
    '1) (integer) 1\n2) 1) (nil)',
  );
  t.is(formatReply({ kind: 'array', items: [] }), '(empty array)');
});

test('help lists every command and explains one', (t) => {
  const all = helpText();
  for (const name of ['INC', 'GET', 'SET', 'PING', 'INFO']) t.regex(all, new RegExp(`^  ${name}`, 'm'));
  t.regex(helpText('inc'), /COUNT n/);
  t.regex(helpText('nope'), /No help/);
});

test('history is bounded on disk and loads newest last', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-hist-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'h');
  await writeFile(file, Array.from({ length: HISTORY_LINES_MAX + 500 }, (_, i) => `cmd ${i}`).join('\n') + '\n');
  appendHistory(file, 'newest');
  appendHistory(file, 'x'.repeat(5000)); // too long: not kept
  trimHistory(file);
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  t.is(lines.length, HISTORY_LINES_MAX);
  t.is(lines.at(-1), 'newest');
  t.deepEqual(loadHistory(file).slice(-2), [`cmd ${HISTORY_LINES_MAX + 499}`, 'newest']);
  t.deepEqual(loadHistory(join(dir, 'missing')), []);
  t.deepEqual(loadHistory(null), []);
});

test('the prompt adds a token to INC, keeps the given one, and reports errors readably', async (t) => {
  const server = new FakeServer();
  await server.start();
  t.teardown(() => server.stop());
  const client = createClient({ routers: [server.address], backoffBaseMs: 1, deadlineMs: 300 });
  t.teardown(() => client.destroy());
  t.is(await runLine('inc b s', client), '(integer) 1');
  t.is(server.tokens.size, 1);
  t.is(await runLine('INC b s ID mine', client), '(integer) 2');
  t.is(await runLine('inc b s ID mine', client), '(integer) 2');
  t.is(await runLine('inc b "s" COUNT 3', client), '(integer) 5');
  t.is(await runLine('inc b s COUNT', client), '(error) ERR syntax error');
  t.is(await runLine('get b "unbalanced', client), 'Invalid argument(s): unbalanced quotes');
  t.is(await runLine('exit', client), 'quit');
  t.is(await runLine('   ', client), '');
  server.script = () => ({ drop: 'after' });
  t.regex(await runLine('inc b s', client), /^\(error\) outcome unknown; retry with: inc b s ID \d+-/);
  server.script = () => ({ drop: 'after' });
  t.regex(await runLine('set b s 1', client), /^\(error\) ERR_OUTCOME_UNKNOWN/);
});

test('status reads what INFO offers and flags unhealthy parts', (t) => {
  const healthy = analyzeInfo('n1', '# Server\r\nrole:standalone\r\nversion:0.1.0\r\nloading:0\r\n', 3);
  t.deepEqual(healthy.problems, []);
  t.is(healthy.summary.role, 'standalone');
  const failed = analyzeInfo('n1', 'role:standalone\r\nloading:0\r\nstorage_failed:1\r\n', 3);
  t.is(failed.problems.length, 1, 'a node whose storage failed is flagged');
  t.deepEqual(analyzeInfo('n1', 'role:standalone\r\nstorage_failed:0\r\n', 3).problems, []);
  const damaged = analyzeInfo('n3', 'role:follower\r\nleader:127.0.0.1:1\r\nstate_damaged:400\r\nstate_check_mismatches:2\r\n', 1);
  t.is(damaged.problems.length, 1, 'a node whose state checks found it damaged is flagged');
  t.regex(damaged.problems[0]!, /state damaged: .* at index 400/);
  t.deepEqual(analyzeInfo('n3', 'role:follower\r\nleader:127.0.0.1:1\r\nstate_damaged:0\r\n', 1).problems, []);
  const raft = analyzeInfo('n2', 'role:follower\r\nterm:4\r\nleader:?\r\ncommit_index:5000\r\napplied_index:10\r\n', 1);
  t.is(raft.summary.lag, '4990');
  t.is(raft.problems.length, 2);
  const router = analyzeInfo('r1', 'role:router\r\nshards:2\r\nshard0:leader=127.0.0.1:7001,members=3,share=50%\r\nshard1:leader=?,members=3\r\n', 1);
  t.deepEqual(router.shards.map((s) => s.id), ['0', '1']);
  t.deepEqual(router.problems, []);
  // Routers learn leaders lazily: "leader=?" is a problem only if no node of the shard leads.
  t.deepEqual(clusterProblems([router]), ['shard 1 has no leader']);
  const shard1Leader = analyzeInfo('n', 'role:leader\r\nshard:1\r\nterm:2\r\n', 1);
  t.deepEqual(clusterProblems([router, shard1Leader]), []);
  const otherLeader = analyzeInfo('m', 'role:leader\r\nshard:1\r\nterm:2\r\n', 1);
  t.deepEqual(clusterProblems([shard1Leader, otherLeader]), ['two leaders in term 2: n and m']);
  t.deepEqual(analyzeInfo('c', 'role:candidate\r\n', 1).problems.length, 1);
  const real = analyzeInfo(
    'r2',
    'role:router\r\ncluster:seqdb\r\ncatalog_epoch:3\r\nshards:2\r\nshard_1:leader=127.0.0.1:7001,members=a|b|c,slots=8192,share=50.00%\r\n' +
      'shard_2:leader=?,members=d|e|f,slots=8192,share=50.00%\r\nrequests_per_sec:120\r\nerrors_total:0\r\n',
    1,
  );
  t.deepEqual(real.shards.map((s) => [s.id, s.fields.share]), [['1', '50.00%'], ['2', '50.00%']]);
  t.deepEqual(clusterProblems([real]), ['shard 2 has no leader']);
  t.deepEqual(memberAddresses(real), []); // members named by id only: nothing to ask
  const named = analyzeInfo('r3', 'role:router\r\nshard_1:leader=?,members=127.0.0.1:7001|127.0.0.1:7002\r\n', 1);
  t.deepEqual(memberAddresses(named), ['127.0.0.1:7001', '127.0.0.1:7002']);
  const node = analyzeInfo('n1', 'role:follower\r\nleader:h:1\r\nmembers:ab=127.0.0.1:7003/voter/-,cd=?/voter/-\r\n', 1);
  t.deepEqual(memberAddresses(node), ['127.0.0.1:7003']);
  t.is(real.summary.rps, '120');
  const leader = analyzeInfo(
    'l',
    'role:leader\r\nterm:3\r\nlast_index:5000\r\nmembers:a=h:1/voter/5000,b=h:2/voter/10,c=h:3/learner/-\r\n',
    1,
  );
  t.deepEqual(leader.problems, ['member b (h:2) lagging 4990 entries']);
});

test('CLI helpers: routers from flags or environment; exit codes by error code', (t) => {
  t.deepEqual(routersFrom(['a:1,b:2', 'c:3']), ['a:1', 'b:2', 'c:3']);
  const saved = process.env.SEQDB_ROUTERS;
  process.env.SEQDB_ROUTERS = 'x:9';
  t.deepEqual(routersFrom(undefined), ['x:9']);
  delete process.env.SEQDB_ROUTERS;
  t.deepEqual(routersFrom([]), ['127.0.0.1:7379']);
  if (saved !== undefined) process.env.SEQDB_ROUTERS = saved;
  t.is(exitCodeFor(new ServerError('ERR', 'syntax error')), 1);
  t.is(exitCodeFor(new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'x')), 2);
  t.is(exitCodeFor(new OutcomeUnknownError('x', 't', 2, null)), 3);
  t.is(exitCodeFor(new ClientError(ClientErrorCode.TIMEOUT, 'x')), 3);
});
