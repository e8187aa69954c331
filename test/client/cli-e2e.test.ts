import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, SEQDB, runSeqdb, startDev, tempDir, type DevProcess } from './dev-process.ts';

/** The CLI end to end: real `seqdb` processes against a real `seqdb dev`. */
let server: DevProcess;
let dir: { path: string; remove(): Promise<void> };
let router: string;

test.before(async () => {
  dir = await tempDir('seqdb-cli-e2e-');
  server = await startDev(join(dir.path, 'data'));
  router = `127.0.0.1:${server.port}`;
});

test.after.always(async () => {
  await server?.kill();
  await dir?.remove();
});

test('inc, get and set print bare values and exit 0; get of a missing sequence prints nothing', async (t) => {
  const set = await runSeqdb(['set', 'cli-a', 's', '41', '--router', router]);
  t.deepEqual([set.code, set.stdout], [0, 'OK\n']);
  const inc = await runSeqdb(['inc', 'cli-a', 's', '--count', '2', '--router', router]);
  t.deepEqual([inc.code, inc.stdout], [0, '43\n']);
  const get = await runSeqdb(['get', 'cli-a', 's', '--router', router]);
  t.deepEqual([get.code, get.stdout], [0, '43\n']);
  const missing = await runSeqdb(['get', 'cli-a', 'missing', '--router', router]);
  t.deepEqual([missing.code, missing.stdout], [0, '']);
});

test('inc --id is exactly-once: the same token gives the same number', async (t) => {
  const first = await runSeqdb(['inc', 'cli-b', 's', '--id', 'cli-token-1', '--router', router]);
  const again = await runSeqdb(['inc', 'cli-b', 's', '--id', 'cli-token-1'], { env: { SEQDB_ROUTERS: router } });
  t.deepEqual([first.code, first.stdout, again.code, again.stdout], [0, '1\n', 0, '1\n'], first.stderr + again.stderr);
});

test('exit codes: 2 for usage, 1 for a server error, 3 when no router answers', async (t) => {
  const usageErrors = [['inc', 'only-bucket'], ['inc', 'b', 's', '--bogus'], ['set', 'b', 's', 'x'], ['get', 'b', 's', '--count', '2'], ['inc', 'b', 's', '--timeout', '3600001'], ['get', 'b', 's', '--timeout', '0']];
  for (const args of usageErrors) {
    const result = await runSeqdb([...args, '--router', router]);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /Usage: seqdb/);
  }
  const hour = await runSeqdb(['get', 'b', 'never-set', '--timeout', '3600000', '--router', router]);
  t.deepEqual([hour.code, hour.stdout], [0, '']);
  await runSeqdb(['set', 'cli-c', 's', '9223372036854775807', '--router', router]);
  const overflow = await runSeqdb(['inc', 'cli-c', 's', '--router', router]);
  t.is(overflow.code, 1);
  t.regex(overflow.stderr, /overflow/);
  const down = await runSeqdb(['inc', 'cli-c', 's', '--router', '127.0.0.1:1', '--timeout', '300']);
  t.is(down.code, 3);
  t.is(down.stdout, '');
});

test('status shows the node and flags an unreachable one; --json is machine-readable', async (t) => {
  const ok = await runSeqdb(['status', '--router', router]);
  t.is(ok.code, 0);
  t.regex(ok.stdout, /up .*role=standalone/);
  t.regex(ok.stdout, /1\/1 reachable, healthy/);
  const partly = await runSeqdb(['status', '--router', `${router},127.0.0.1:1`, '--json', '--timeout', '500']);
  t.is(partly.code, 1);
  const report = JSON.parse(partly.stdout) as { healthy: boolean; nodes: { reachable: boolean; summary: { role?: string } }[] };
  t.false(report.healthy);
  t.deepEqual(report.nodes.map((n) => n.reachable), [true, false]);
  t.is(report.nodes[0]!.summary.role, 'standalone');
  const none = await runSeqdb(['status', '--router', '127.0.0.1:1', '--timeout', '300']);
  t.is(none.code, 3);
  t.regex(none.stdout, /DOWN/);
});

test('cli with piped input runs each line and prints redis-cli style replies', async (t) => {
  const input = 'ping\nset cli-d s 5\ninc cli-d s\nget cli-d nope\nfrob\nset cli-d s "x y"\n';
  const result = await runSeqdb(['cli', '--router', router], { input });
  t.is(result.code, 0);
  t.is(
    result.stdout,
    "PONG\nOK\n(integer) 6\n(nil)\n(error) ERR unknown command 'frob'\n(error) ERR value is not an integer or out of range\n",
  );
});

function pty(steps: { after: string; send: string }[], histFile: string): Promise<{ code: number | null; out: string }> {
  const spec = JSON.stringify({ argv: [process.execPath, SEQDB, 'cli', '--router', router], steps, timeout: 30 });
  return new Promise((resolve) => {
    const child = spawn('python3', [join(ROOT, 'test/client/pty-run.py'), spec], {
      cwd: ROOT,
      env: { ...process.env, SEQDB_HISTFILE: histFile, TERM: 'xterm' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

test('cli in a terminal: prompt, replies, help, and history persisted and recalled', async (t) => {
  const histFile = join(dir.path, 'history');
  const first = await pty(
    [
      { after: `${router}> `, send: 'set cli-e s 41\r' },
      { after: 'OK', send: 'inc cli-e s\r' },
      { after: '(integer) 42', send: 'get cli-e nope\r' },
      { after: '(nil)', send: 'frob\r' },
      { after: '(error) ERR unknown command', send: 'help inc\r' },
      { after: 'COUNT n', send: 'quit\r' },
    ],
    histFile,
  );
  t.is(first.code, 0, first.out);
  t.regex(first.out, /\(integer\) 42/);
  t.regex(first.out, /exactly-once/);
  const history = (await readFile(histFile, 'utf8')).trim().split('\n');
  t.deepEqual(history, ['set cli-e s 41', 'inc cli-e s', 'get cli-e nope', 'frob', 'help inc', 'quit']);

  // A new session recalls "inc cli-e s" five entries back with the up arrow; Ctrl-C leaves.
  const up = '\x1b[A';
  const second = await pty(
    [
      { after: `${router}> `, send: `${up.repeat(5)}\r` },
      { after: '(integer) 43', send: '\x03' },
    ],
    histFile,
  );
  t.is(second.code, 0, second.out);
  t.regex(second.out, /\(integer\) 43/);
});
