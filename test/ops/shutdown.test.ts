/**
 * Graceful shutdown on SIGTERM, with real processes: a router answers every request it read
 * before closing and exits 0; a shard leader hands leadership over before exiting 0, so the
 * shard has a new leader right away; `seqdb dev` exits 0.
 */
import test from 'ava';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { infoFields } from '../../shared/observability/resp-call.ts';
import { freePort, incRetry, leaderOf, seqdb, sleep } from './helpers.ts';

async function tempDir(t: { teardown(fn: () => unknown): void }, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `seqdb-ops-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Sends `count` pipelined INCs, SIGTERMs `pid` once the first replies arrive; returns every reply line and how the socket ended. */
function pipelineThenTerm(addr: string, count: number, kill: () => void): Promise<{ replies: string[]; ended: 'end' | 'error' }> {
  return new Promise((resolve) => {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
    const s = connect({ host, port });
    let text = '';
    let killed = false;
    let how: 'end' | 'error' = 'end';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!killed) {
        killed = true;
        kill();
      }
    });
    s.on('error', () => (how = 'error'));
    s.on('close', () => resolve({ replies: text.split('\r\n').filter((l) => l !== ''), ended: how }));
    const one = '*5\r\n$3\r\nINC\r\n$2\r\nsd\r\n$1\r\nx\r\n$2\r\nID\r\n';
    let out = '';
    for (let i = 0; i < count; i++) out += `${one}$${String(i).length + 2}\r\nk-${i}\r\n`;
    s.write(out);
  });
}

test('router: SIGTERM with pipelined requests in flight answers what it read, then exits 0', async (t) => {
  const dir = await tempDir(t, 'router-term');
  const nodePort = await freePort();
  const nodeAddr = `127.0.0.1:${nodePort}`;
  const node = seqdb(t, ['node', '--shard', '1', '--port', String(nodePort), '--data', join(dir, 'n'), '--join', nodeAddr, '--catalog', nodeAddr,
    '--bootstrap-expect', '1', '--shards-expect', '1', '--log-level', 'warn']);
  await node.waitFor(/listening on/);
  await leaderOf([nodeAddr]);
  const routerPort = await freePort();
  const router = seqdb(t, ['router', '--port', String(routerPort), '--join', nodeAddr, '--log-level', 'info', '--admin-port', '0']);
  await router.waitFor(/status page on/);
  const routerAddr = `127.0.0.1:${routerPort}`;
  t.is(await incRetry([routerAddr], 'sd', 'x', 'warm'), 1n);

  const { replies, ended } = await pipelineThenTerm(routerAddr, 300, () => router.child.kill('SIGTERM'));
  const exit = await router.exited;
  t.is(exit.code, 0, router.output());
  t.is(ended, 'end', 'the router closed the connection cleanly, not by reset');
  t.true(replies.length >= 1, 'requests read before the signal were answered');
  const numbers = replies.filter((r) => r.startsWith(':')).map((r) => Number(r.slice(1)));
  t.is(numbers.length, replies.length, `every answered request got its number: ${replies.filter((r) => !r.startsWith(':')).slice(0, 3).join(' | ')}`);
  t.deepEqual(numbers, numbers.map((_, i) => i + 2), 'in order, no gap, no repeat');
  t.regex(router.output(), /"event":"shutdown"/);
  // The shard did not lose anything: the next number follows the last one handed out.
  t.is(await incRetry([nodeAddr], 'sd', 'x', 'after'), BigInt(numbers.length + 2));
  node.child.kill('SIGTERM');
  t.is((await node.exited).code, 0, 'a lone node exits 0 on SIGTERM');
});

test('node: SIGTERM on the leader transfers leadership, then exits 0; the shard keeps serving at once', async (t) => {
  const dir = await tempDir(t, 'node-term');
  const ports = [await freePort(), await freePort(), await freePort()];
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const procs = ports.map((p, i) => seqdb(t, ['node', '--shard', 't', '--host', '127.0.0.1', '--port', String(p), '--data', join(dir, `n${i}`),
    '--join', addrs.join(','), '--bootstrap-expect', '3', '--admin-port', '0']));
  // All three voters first: SIGTERM on the leader of a shard still promoting its learners leaves
  // two voters, one of them gone, and no quorum (the bootstrap window, replication/DESIGN.md).
  const leader = await leaderOf(addrs, 30_000, 3);
  for (let i = 0; i < 10; i++) await incRetry(addrs, 'nt', 'x', `a-${i}`);
  const idx = addrs.indexOf(leader.addr);
  const proc = procs[idx]!;
  const others = addrs.filter((a) => a !== leader.addr);
  const started = Date.now();
  proc.child.kill('SIGTERM');
  const exit = await proc.exited;
  const tookMs = Date.now() - started;
  t.is(exit.code, 0, proc.output());
  t.true(tookMs < 8000, `exited in ${tookMs} ms`);
  t.regex(proc.output(), /transferring leadership to/);
  // Leadership was handed over before exit: a leader exists among the others right away
  // (well under an election timeout after the exit).
  const found = await leaderOf(others, 400).catch(() => null);
  t.truthy(found, 'a new leader was in place when the old one exited');
  t.is(await incRetry(others, 'nt', 'x', 'b-0'), 11n);
  // Its admin port closed with it.
  const adminAddr = /admin listening on http:\/\/([0-9.:]+)\//.exec(proc.output())?.[1];
  t.truthy(adminAddr);
  await t.throwsAsync(fetch(`http://${adminAddr}/healthz`));
  const f = await infoFields(found!.addr);
  t.is(f.role, 'leader');
});

test('seqdb dev (single node): SIGTERM exits 0 after finishing what it read', async (t) => {
  const dir = await tempDir(t, 'dev-term');
  const dev = seqdb(t, ['dev', '--port', '0', '--data', dir]);
  const addr = (await dev.waitFor(/listening on ([0-9.]+:[0-9]+)/))[1]!;
  await dev.waitFor(/admin listening on/);
  const { replies, ended } = await pipelineThenTerm(addr, 300, () => dev.child.kill('SIGTERM'));
  t.is((await dev.exited).code, 0);
  t.is(ended, 'end');
  const numbers = replies.map((r) => Number(r.slice(1)));
  t.deepEqual(numbers, numbers.map((_, i) => i + 1));
  await sleep(10);
});

test('--shutdown-timeout-ms: a bad value is a usage error (exit 2) on node, router and dev', async (t) => {
  const dir = await tempDir(t, 'shutdown-flag');
  const cases = [
    ['node', '--shard', '1', '--port', '0', '--data', join(dir, 'n'), '--shutdown-timeout-ms', '0'],
    ['router', '--port', '0', '--shutdown-timeout-ms', 'soon'],
    ['dev', '--port', '0', '--data', join(dir, 'd'), '--shutdown-timeout-ms', '3600001'],
  ];
  for (const args of cases) {
    const p = seqdb(t, args);
    const exit = await p.exited;
    t.is(exit.code, 2, `${args[0]}: ${p.output()}`);
    t.regex(p.output(), /--shutdown-timeout-ms must be 1\.\.3600000/);
  }
});
