import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { devNodePids, startDev } from '../helpers/dev-process.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function seqdb(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/seqdb.js', ...args], { cwd: ROOT, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

test('seqdb --help lists the subcommands; each has --help', async (t) => {
  const help = await seqdb('--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /Commands:\n {2}dev +run SeqDB/);
  const devHelp = await seqdb('dev', '--help');
  t.is(devHelp.code, 0);
  t.regex(devHelp.stdout, /--port/);
  t.regex(devHelp.stdout, /--data/);
});

test('unknown commands, unknown flags and bad values exit non-zero with a one-line reason', async (t) => {
  for (const args of [['frob'], ['dev', '--bogus'], ['dev', '--port', 'x'], ['dev', '--port', '70000'], ['dev', 'extra'], ['dev', '--tokens-max', '0'], ['router', '--inc-block-max', '1025'], ['router', '--inc-block-max', '-1'], ['router', '--incs-max', '61'], ['dev', '--nodes', '3', '--apply-hold-ms', '1001'], ['dev', '--apply-hold-ms', '5'], []]) {
    const result = await seqdb(...args);
    t.not(result.code, 0, args.join(' '));
    if (args.length > 0) t.is(result.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${result.stderr}`);
  }
});

test('seqdb node refuses a password without a cluster secret (the peer protocol on its port would be open)', async (t) => {
  const dir = await tempDir(t);
  const result = await seqdb('node', '--shard', 's', '--port', '0', '--data', dir, '--requirepass', 'pw-of-a-test');
  t.not(result.code, 0);
  t.regex(result.stderr, /--requirepass needs --cluster-secret/);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`seqdb dev shuts down cleanly on ${signal}: in-flight requests answered, exit 0, data kept`, async (t) => {
    const dataDir = await tempDir(t);
    const server = await startDev(t, dataDir);
    const client = await RespClient.connect(server.port);
    t.teardown(() => client.close());
    client.write(Buffer.concat(Array.from({ length: 200 }, () => encodeRequest('INC', 'b', 's'))));
    t.is(await client.next(), ':1\r\n');
    server.child.kill(signal);
    const rest = await client.take(199);
    t.is(rest.at(-1), ':200\r\n');
    t.is(await server.exited, 0);
    const again = await startDev(t, dataDir);
    const c2 = await RespClient.connect(again.port);
    t.teardown(() => c2.close());
    t.is(await c2.call('GET', 'b', 's'), ':200\r\n');
  });
}

test('seqdb dev --nodes passes --apply-hold-ms to its node processes', async (t) => {
  t.timeout(90_000);
  const port = await freePortRange(4, true);
  const dev = await startDev(t, await tempDir(t), ['--nodes', '3', '--port', String(port), '--apply-hold-ms', '0', '--log-level', 'warn'], 60_000);
  const pids = await devNodePids(t, dev, 3);
  t.is(pids.length, 3);
  for (const pid of pids) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    t.is(argv[argv.indexOf('--apply-hold-ms') + 1], '0', argv.join(' '));
  }
});

test('seqdb dev --nodes 3 says when one of its node processes dies', async (t) => {
  t.timeout(90_000);
  const port = await freePortRange(4, true);
  const dev = await startDev(t, await tempDir(t), ['--nodes', '3', '--port', String(port), '--log-level', 'warn'], 60_000);
  const [victim] = await devNodePids(t, dev, 3);
  process.kill(victim!, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (!/\[s1n\d\] node process exited \(SIGKILL\)/.test(dev.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.regex(dev.output(), /\[s1n\d\] node process exited \(SIGKILL\); its shard serves on/);
  t.is(dev.child.exitCode, null, 'the dev process stays up');
});

test('seqdb dev --nodes 3 with a node port taken exits 1 naming the node, and leaves no node running', async (t) => {
  t.timeout(90_000);
  const port = await freePortRange(4, true);
  // Another program holds the second node's port: that node cannot listen, its shard cannot form.
  const blocker = createServer().listen(port + 2, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const dir = await tempDir(t);
  const started = Date.now();
  const r = await new Promise<{ code: number | null; out: string }>((resolveRun) => {
    execFile(process.execPath, [join(ROOT, 'bin/seqdb.js'), 'dev', '--nodes', '3', '--port', String(port), '--data', dir, '--log-level', 'warn'], { timeout: 60_000 },
      (err, stdout, stderr) => resolveRun({ code: err === null ? 0 : (err as { code?: number }).code ?? null, out: stdout + stderr }));
  });
  t.log(`exited ${r.code} after ${Date.now() - started} ms`);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /a node could not start, so its shard cannot form: \[s1n1\] exited \(1\).*EADDRINUSE/);
  t.notRegex(r.out, /serves on without it/);
  // Its sibling nodes were stopped: none of them still holds a data dir lock.
  for (const i of [0, 1, 2]) t.false(existsSync(join(dir, 'shard-1', `node-${i}`, 'LOCK')) && lockHolderAlive(join(dir, 'shard-1', `node-${i}`, 'LOCK')), `node ${i} still running`);
});

/** Whether the pid named in a data dir's LOCK file is a live process. */
function lockHolderAlive(file: string): boolean {
  const pid = Number(/\d+/.exec(readFileSync(file, 'utf8'))?.[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
