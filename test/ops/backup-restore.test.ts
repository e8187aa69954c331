/**
 * `seqdb backup` / `seqdb restore` end to end with real processes: a restored single node and a
 * restored 3-node shard continue every sequence exactly where the backup stood (writes made
 * after the backup are not in it), and exactly-once tokens survive the trip.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBackupFile } from '../../node/backup/backup-file.ts';
import { freePort, inc, incRetry, leaderOf, seqdb, seqdbRun, sleep } from './helpers.ts';
import { infoFields, respCall } from '../../shared/observability/resp-call.ts';
import type { Reply } from '../../shared/protocol/index.ts';

async function tempDir(t: { teardown(fn: () => unknown): void }, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `seqdb-ops-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('single node: backup, more writes, restore into a new dir: sequences continue where the backup stood', async (t) => {
  const dir = await tempDir(t, 'single');
  const dev = seqdb(t, ['dev', '--port', '0', '--data', join(dir, 'a'), '--log-level', 'warn']);
  const addr = (await dev.waitFor(/listening on ([0-9.]+:[0-9]+)/))[1]!;
  for (let i = 1; i <= 5; i++) t.is(await inc(addr, 'b', 's1'), BigInt(i));
  const tokenValue = await inc(addr, 'b', 's2', 'ID', 'tok-1');
  t.is(await inc(addr, 'b2', 's3', 'COUNT', '10'), 10n);
  // A gapless series (issue 12): used, void, reserved (open) and a plain INC.
  t.is(await call(addr, 'RESERVE', 'inv', 'x', 'TTL', '3600', 'REF', 'cart-1'), 1n);
  t.is(await call(addr, 'CONFIRM', 'inv', 'x', '1', 'REF', 'INV-1'), 'OK');
  t.is(await call(addr, 'RESERVE', 'inv', 'x', 'TTL', '3600'), 2n);
  t.is(await call(addr, 'VOID', 'inv', 'x', '2', 'REASON', 'damaged form'), 'OK');
  t.is(await call(addr, 'RESERVE', 'inv', 'x', 'TTL', '3600', 'ID', 'r-3'), 3n);
  t.is(await inc(addr, 'inv', 'x'), 4n);
  const auditBefore = await call(addr, 'AUDIT', 'inv', 'x', 'FROM', '1', 'TO', '4');

  const file = join(dir, 'single.bak');
  const b = await seqdbRun(['backup', '--router', addr, '--out', file]);
  t.is(b.code, 0, b.output);
  t.regex(b.output, /1 shard\(s\) written/);
  t.is(await inc(addr, 'b', 's1'), 6n); // after the backup: must not be restored

  const r = await seqdbRun(['restore', '--in', file, '--data', join(dir, 'b')]);
  t.is(r.code, 0, r.output);
  const again = await seqdbRun(['restore', '--in', file, '--data', join(dir, 'b')]);
  t.not(again.code, 0, 'restoring over existing data is refused');

  const restored = seqdb(t, ['dev', '--port', '0', '--data', join(dir, 'b'), '--log-level', 'warn']);
  const addr2 = (await restored.waitFor(/listening on ([0-9.]+:[0-9]+)/))[1]!;
  t.is(await inc(addr2, 'b', 's1'), 6n, 'continues exactly after the backed-up value');
  t.is(await inc(addr2, 'b', 's2', 'ID', 'tok-1'), tokenValue, 'an ID retry gets its original number');
  t.is(await inc(addr2, 'b', 's2'), tokenValue + 1n);
  t.is(await inc(addr2, 'b2', 's3'), 11n);
  t.deepEqual(await call(addr2, 'AUDIT', 'inv', 'x', 'FROM', '1', 'TO', '4'), auditBefore, 'the audit trail is restored as it was');
  t.deepEqual((auditBefore as unknown[][]).map((row) => row[1]), ['used', 'void', 'reserved', 'inc']);
  t.is(await call(addr2, 'RESERVE', 'inv', 'x', 'TTL', '3600', 'ID', 'r-3'), 3n, 'a RESERVE retry gets its original number');
  t.is(await call(addr2, 'CONFIRM', 'inv', 'x', '3'), 'OK', 'the open reservation survived and can be confirmed');
  t.is(await call(addr2, 'RESERVE', 'inv', 'x', 'TTL', '3600'), 5n);
});

/** One command; integers, strings (latin1), nil and arrays as plain values; errors throw. */
async function call(addr: string, ...args: string[]): Promise<unknown> {
  const plain = (r: Reply): unknown => {
    if (r.kind === 'error') throw new Error(`-${r.word} ${r.message}`);
    if (r.kind === 'array') return r.items.map(plain);
    if (r.kind === 'null') return null;
    return r.kind === 'string' ? r.value.toString('latin1') : r.value;
  };
  return plain(await respCall(addr, args, { timeoutMs: 10_000 }));
}

test('restore refuses a damaged backup file', async (t) => {
  const dir = await tempDir(t, 'damaged');
  await writeFile(join(dir, 'x.bak'), 'SEQDBBK1\n{"version":1,"shards":[{"shard":"1","index":3,"bytes":10,"sha256":"00"}]}\n0123456789');
  const r = await seqdbRun(['restore', '--in', join(dir, 'x.bak'), '--data', join(dir, 'd')]);
  t.not(r.code, 0);
  t.regex(r.output, /damaged/);
});

test('3-node shard: backup through a follower, restore as the first node of a new shard, others join and serve it', async (t) => {
  const dir = await tempDir(t, 'shard');
  const ports = [await freePort(), await freePort(), await freePort()];
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const nodes = [0, 1, 2].map((i) => seqdb(t, ['node', '--shard', 'a', '--host', '127.0.0.1', '--port', String(ports[i]), '--data', join(dir, `n${i}`),
    '--join', addrs.join(','), '--bootstrap-expect', '3', '--log-level', 'warn']));
  // A CI run once saw no leader within 30 s (not reproduced): say what the nodes said if so.
  const leader = await leaderOf(addrs, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${nodes.map((n, i) => `--- n${i} ---\n${n.output().slice(-1500)}`).join('\n')}`);
  });
  let expect = 0n;
  for (let i = 0; i < 20; i++) t.is(await incRetry(addrs, 'bk', 'x', `t-${i}`), ++expect);
  const follower = addrs.find((a) => a !== leader.addr)!;

  const file = join(dir, 'shard.bak');
  const b = await seqdbRun(['backup', '--router', follower, '--out', file]);
  t.is(b.code, 0, b.output);
  const { manifest } = await readBackupFile(file);
  t.is(manifest.shards.length, 1);
  t.true(manifest.shards[0]!.index >= 20, `image as of committed index ${manifest.shards[0]!.index}`);
  t.is(manifest.shards[0]!.from, leader.addr, 'exported by the leader');
  t.is(await incRetry(addrs, 'bk', 'x', 'after'), 21n); // not in the backup

  const r = await seqdbRun(['restore', '--in', file, '--data', join(dir, 'r0')]);
  t.is(r.code, 0, r.output);
  const newPorts = [await freePort(), await freePort(), await freePort()];
  const newAddrs = newPorts.map((p) => `127.0.0.1:${p}`);
  const first = seqdb(t, ['node', '--shard', 'b', '--host', '127.0.0.1', '--port', String(newPorts[0]), '--data', join(dir, 'r0'),
    '--join', newAddrs.join(','), '--bootstrap-expect', '1', '--log-level', 'warn']);
  await first.waitFor(/listening on/);
  for (let i = 1; i < 3; i++) {
    await mkdir(join(dir, `r${i}`));
    seqdb(t, ['node', '--shard', 'b', '--host', '127.0.0.1', '--port', String(newPorts[i]), '--data', join(dir, `r${i}`),
      '--join', newAddrs.join(','), '--log-level', 'warn']);
  }
  // Wait until all three are voters, then lose the restored node: the others must hold the state.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const f = await infoFields(newAddrs[0]!, 1000).catch(() => null);
    if (f && (f.members ?? '').split(',').filter((m) => m.includes('/voter/')).length === 3) break;
    if (Date.now() > deadline) t.fail(`restored shard did not grow to 3 voters:\n${first.output()}`);
    await sleep(200);
  }
  t.is(await incRetry(newAddrs, 'bk', 'x', 'r-1'), 21n, 'continues exactly after the backed-up value');
  first.child.kill('SIGKILL');
  t.is(await incRetry(newAddrs.slice(1), 'bk', 'x', 'r-2', 20_000), 22n, 'followers carry the restored state');
  t.is(await incRetry(newAddrs.slice(1), 'bk', 'x', 't-3'), 4n, 'a token from before the backup still dedupes');
});
