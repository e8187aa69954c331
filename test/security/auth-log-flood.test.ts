/**
 * Failed AUTH attempts are logged a few per second, the rest counted (a review found one log line
 * per attempt: a client pipelining `AUTH x` turned 8 bytes into a log line each). Real single
 * node with a password, real socket; and the throttle itself on a fake clock.
 */
import test from 'ava';
import { startSingleNode } from '../../node/single/single-node.ts';
import { LogThrottle } from '../../shared/security/log-throttle.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('2,000 pipelined failed AUTHs: each refused, a handful of log lines, the INFO counter exact', async (t) => {
  const logs: string[] = [];
  const node = await startSingleNode({ dataDir: await tempDir(t), server: { port: 0, security: { password: 'a-strong-password', log: (l) => logs.push(l) } } });
  t.teardown(() => node.close());
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  c.write('AUTH x\r\n'.repeat(2000));
  const replies = await c.take(2000);
  t.is(replies.filter((r) => r.startsWith('-WRONGPASS')).length, 2000);
  t.true(logs.length <= 20, `${logs.length} log lines`);
  c.write('AUTH a-strong-password\r\nINFO\r\n');
  t.is(await c.next(), '+OK\r\n');
  t.regex(await c.next(), /auth_failures:2000\r\n/);
});

test('LogThrottle: linesMax lines per window, then one line counting the rest', (t) => {
  const out: string[] = [];
  let now = 0;
  const throttle = new LogThrottle((l) => out.push(l), 3, 1000, () => now);
  for (let i = 0; i < 10; i++) throttle.write(`line ${i}`);
  t.deepEqual(out, ['line 0', 'line 1', 'line 2']);
  now = 1500;
  throttle.write('line 10');
  t.deepEqual(out.slice(3), ['... 7 more such lines not logged in the last 2 s', 'line 10']);
});
