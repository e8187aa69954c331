/**
 * Gapless series over a real socket against a real `seqdb dev` process: the replies on the wire,
 * and the guarantee under kill -9 and lost replies (ID retries): every number from 1 to the
 * value ends in exactly one state, none is handed out twice, none is lost.
 */
import test from 'ava';
import { freePortRange } from '../helpers/port-range.ts';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient, type Reply } from '../../client/index.ts';
import { startDev } from '../helpers/dev-process.ts';
import { RespClient, intOf } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';

async function client(t: { teardown(fn: () => unknown): void }, port: number): Promise<RespClient> {
  const c = await RespClient.connect(port);
  t.teardown(() => c.close());
  return c;
}

test('the series commands and their replies on the wire', async (t) => {
  const dev = await startDev(t, await tempDir(t));
  const c = await client(t, dev.port);
  t.is(await c.call('RESERVE', 'b', 'inv', 'TTL', '60', 'REF', 'cart 7', 'ID', 'tok-1'), ':1\r\n');
  t.is(await c.call('reserve', 'b', 'inv', 'ttl', '60', 'id', 'tok-1'), ':1\r\n', 'same token, same number');
  t.is(await c.call('INC', 'b', 'inv'), ':2\r\n');
  t.is(await c.call('CONFIRM', 'b', 'inv', '1', 'REF', 'INV-1'), '+OK\r\n');
  t.regex(await c.call('VOID', 'b', 'inv', '1', 'REASON', 'x'), /^-ERR USED /);
  t.regex(await c.call('CONFIRM', 'b', 'inv', '2'), /^-ERR NOTRESERVED /);
  t.regex(await c.call('CONFIRM', 'b', 'inv', '3'), /^-ERR NOTISSUED /);
  t.regex(await c.call('SET', 'b', 'inv', '0'), /^-ERR SERIES /);
  t.is(await c.call('RESERVE', 'b', 'inv', 'TTL', '60'), ':3\r\n');
  t.is(await c.call('VOID', 'b', 'inv', '3', 'REASON', 'damaged form'), '+OK\r\n');
  t.regex(await c.call('CONFIRM', 'b', 'inv', '3'), /^-ERR VOIDED /);
  t.is(await c.call('RESERVE', 'b', 'inv'), "-ERR syntax error: RESERVE needs TTL seconds\r\n");
  t.is(await c.call('AUDIT', 'b', 'inv', 'FROM', '1'), "-ERR wrong number of arguments for 'audit'\r\n");

  const audit = await c.call('AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '9');
  t.regex(audit, /^\*3\r\n\*6\r\n:1\r\n\$4\r\nused\r\n:[0-9]+\r\n\$5\r\nINV-1\r\n\$-1\r\n:[0-9]+\r\n\*6\r\n:2\r\n\$3\r\ninc\r\n/);
  t.true(audit.includes('$4\r\nvoid\r\n') && audit.includes('$12\r\ndamaged form\r\n'));
  const info = await c.call('SEQ.INFO', 'b', 'inv');
  t.true(info.startsWith('*26\r\n$5\r\nvalue\r\n:3\r\n$6\r\nseries\r\n:1\r\n'), info);
  t.is(await c.call('SEQ.LIST', 'b'), '*2\r\n$1\r\n0\r\n*1\r\n$3\r\ninv\r\n');
  t.is(await c.call('SEQ.RETAIN', 'b', 'inv', '1000000'), '+OK\r\n');

  // `seqdb audit ... --csv` exports the same trail.
  const { stdout } = await run(['audit', 'b', 'inv', '--csv', '--router', `127.0.0.1:${dev.port}`]);
  const lines = stdout.split('\r\n');
  t.is(lines[0], 'number,state,time_ms,time,reference,reason,expires_ms');
  t.regex(lines[1]!, /^1,used,[0-9]+,20[0-9-]+T[0-9:.]+Z,INV-1,,[0-9]+$/);
  t.regex(lines[2]!, /^2,inc,[0-9]+,[^,]+,,,$/);
  t.regex(lines[3]!, /^3,void,[0-9]+,[^,]+,,damaged form,[0-9]+$/);
  t.is(lines[4], '');
  const usage = await run(['audit', 'b']).catch((error: { code: number }) => error);
  t.is((usage as { code: number }).code, 2);
});

test('seqdb audit: one line per number whatever the REF holds, REF bytes exported without loss (a series review)', async (t) => {
  const dev = await startDev(t, await tempDir(t));
  const c = await RespClient.connect(dev.port);
  t.teardown(() => c.close());
  t.is(await c.call('RESERVE', 'b', 'inv', 'TTL', '60', 'REF', 'order\t7\nline two \\ end'), ':1\r\n');
  t.is(await c.call('CONFIRM', 'b', 'inv', '1'), '+OK\r\n');
  t.is(await c.call('RESERVE', 'b', 'inv', 'TTL', '60', 'REF', 'caf\xe9'), ':2\r\n'); // latin1 bytes: not UTF-8
  t.is(await c.call('CONFIRM', 'b', 'inv', '2'), '+OK\r\n');
  const tsv = (await run(['audit', 'b', 'inv', '--router', `127.0.0.1:${dev.port}`])).stdout;
  const lines = tsv.split('\n').filter((l) => l !== '');
  t.is(lines.length, 2, 'two numbers, two lines');
  t.deepEqual(lines.map((l) => l.split('\t')[4]), ['order\\t7\\nline two \\\\ end', 'caf\\xe9']);
  const csv = (await run(['audit', 'b', 'inv', '--csv', '--router', `127.0.0.1:${dev.port}`])).stdout;
  t.true(csv.includes('"order\t7\nline two \\ end"'), csv);
  t.true(csv.includes(',caf\\xe9,'), csv);
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
function run(args: string[]): Promise<{ stdout: string }> {
  return promisify(execFile)(process.execPath, ['bin/seqdb.js', ...args], { cwd: ROOT, timeout: 20_000 });
}

interface Ledger {
  /** token -> the number its RESERVE or INC was answered with. */
  readonly numbers: Map<string, { n: bigint; args: string[] }>;
  /** Numbers whose CONFIRM / VOID was answered OK. */
  readonly confirmed: Set<bigint>;
  readonly voided: Set<bigint>;
  /** Operations whose reply never came (the server died): retried after the restart. */
  readonly unknown: { args: string[]; token: string }[];
}

const TTL_SECONDS = 2;

/** One worker: RESERVE/INC with ID tokens, then CONFIRM, VOID or let the TTL run out. */
async function worker(port: number, w: number, ledger: Ledger, until: number, seed: number): Promise<void> {
  let x = (seed * 7919 + w * 104_729) >>> 0 || 1;
  const rand = (m: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % m;
  };
  const c = await RespClient.connect(port);
  try {
    for (let i = 0; i < 2000 && Date.now() < until; i++) {
      const token = `${Date.now()}-w${w}-${i}`;
      const roll = rand(100);
      const args = roll < 25 ? ['INC', 'b', 'inv', 'ID', token] : ['RESERVE', 'b', 'inv', 'TTL', String(TTL_SECONDS), 'REF', token, 'ID', token];
      if (roll >= 85) {
        // A lost reply: the request goes out, the connection dies before the reply is read.
        const lost = await RespClient.connect(port);
        lost.write(Buffer.from(`*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`));
        lost.socket.destroy();
      }
      let n: bigint;
      try {
        n = intOf(await c.call(...args));
      } catch {
        ledger.unknown.push({ args, token });
        return;
      }
      ledger.numbers.set(token, { n, args });
      if (args[0] === 'INC') continue;
      const fate = rand(4);
      if (fate === 3) continue; // left to expire
      const close = fate < 2 ? ['CONFIRM', 'b', 'inv', String(n), 'REF', token] : ['VOID', 'b', 'inv', String(n), 'REASON', `w${w}`];
      let reply: string;
      try {
        reply = await c.call(...close);
      } catch {
        ledger.unknown.push({ args: close, token });
        return;
      }
      if (reply !== '+OK\r\n') throw new Error(`${close.join(' ')} -> ${reply}`);
      (fate < 2 ? ledger.confirmed : ledger.voided).add(n);
    }
  } finally {
    c.close();
  }
}

function items(reply: Reply): Reply[] {
  if (reply.kind !== 'array') throw new Error(`expected an array, got ${JSON.stringify(reply)}`);
  return reply.items;
}

test('kill -9 and lost replies: every number ends in exactly one state, none twice, none lost', async (t) => {
  const seed = Number(process.env.SERIES_SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed}`);
  const dir = await tempDir(t);
  const first = await startDev(t, dir);
  const ledger: Ledger = { numbers: new Map(), confirmed: new Set(), voided: new Set(), unknown: [] };
  // Declare the series first (retention 0: keep everything), so plain INCs are recorded from 1.
  const setup = await RespClient.connect(first.port);
  t.is(await setup.call('SEQ.RETAIN', 'b', 'inv', '0'), '+OK\r\n');
  setup.close();
  const workers = [0, 1, 2, 3].map((w) => worker(first.port, w, ledger, Date.now() + 20_000, seed));
  // Kill -9 mid-load, once some numbers went out (however busy the machine is).
  const killBy = Date.now() + 8000;
  while (ledger.numbers.size < 150 && Date.now() < killBy) await new Promise((r) => setTimeout(r, 50));
  first.child.kill('SIGKILL');
  t.is(await first.exited, 'SIGKILL');
  await Promise.all(workers);
  t.true(ledger.numbers.size >= 30, `seed ${seed}: only ${ledger.numbers.size} numbers before the kill`);

  const second = await startDev(t, dir);
  const c = await client(t, second.port);
  // Retry what was in flight: same ID, so a RESERVE/INC that did apply answers its first number.
  for (const { args, token } of ledger.unknown) {
    const reply = await c.call(...args);
    if (args[0] === 'INC' || args[0] === 'RESERVE') ledger.numbers.set(token, { n: intOf(reply), args });
    else if (reply === '+OK\r\n') (args[0] === 'CONFIRM' ? ledger.confirmed : ledger.voided).add(BigInt(args[3]!));
    else t.regex(reply, /^-ERR VOIDED /, `seed ${seed}: ${args.join(' ')} after restart`); // ran out meanwhile
  }
  // Retried tokens answer their first number (exactly-once across the crash).
  for (const [token, { n, args }] of [...ledger.numbers].slice(-50)) {
    t.is(intOf(await c.call(...args)), n, `seed ${seed}: token ${token}`);
  }

  // Past every TTL, one committed command voids what ran out.
  await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 + 200));
  const value = intOf(await c.call('GET', 'b', 'inv'));
  const lib = createClient({ routers: [`127.0.0.1:${second.port}`] });
  t.teardown(() => lib.close());
  const rows = items(await lib.sendCommand(['AUDIT', 'b', 'inv', 'FROM', '1', 'TO', String(value)], { idempotent: true }));
  t.is(BigInt(rows.length), value);
  t.log(`${value} numbers, ${ledger.confirmed.size} confirmed, ${ledger.voided.size} voided, ${ledger.unknown.length} in flight at the kill`);

  const handedOut = [...ledger.numbers.values()].map((e) => e.n);
  t.is(new Set(handedOut).size, handedOut.length, `seed ${seed}: a number was handed out twice`);
  const sorted = [...handedOut].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.deepEqual(sorted, Array.from({ length: Number(value) }, (_, i) => BigInt(i + 1)), `seed ${seed}: a number was lost`);
  const incNumbers = new Set([...ledger.numbers.values()].filter((e) => e.args[0] === 'INC').map((e) => e.n));
  for (const [i, row] of rows.entries()) {
    const [n, state] = items(row);
    t.deepEqual(n, { kind: 'integer', value: BigInt(i + 1) });
    const s = (state as { value: Buffer }).value.toString();
    t.true(['used', 'void', 'inc'].includes(s), `seed ${seed}: number ${i + 1} is ${s}`);
    const num = BigInt(i + 1);
    if (ledger.confirmed.has(num)) t.is(s, 'used', `seed ${seed}: confirmed ${num}`);
    if (ledger.voided.has(num)) t.is(s, 'void', `seed ${seed}: voided ${num}`);
    t.is(s === 'inc', incNumbers.has(num), `seed ${seed}: ${num} is ${s}`);
  }
});

test('through the router of `seqdb dev --nodes 3`: same replies, arrays passed through', async (t) => {
  const port = await freePortRange(3, true);
  const dev = await startDev(t, await tempDir(t), ['--nodes', '3', '--port', String(port)], 60_000);
  // Teardowns run last-registered first: stop the cluster cleanly before the helper's SIGKILL of
  // the parent, and kill -9 any node process still alive after that (none should be).
  t.teardown(async () => {
    const children = readFileSync(`/proc/${dev.pid}/task/${dev.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    dev.child.kill('SIGTERM');
    await Promise.race([dev.exited, new Promise((r) => setTimeout(r, 10_000))]);
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const c = await client(t, dev.port);
  const until = Date.now() + 45_000;
  let first = '';
  // The shard elects a leader and commits its slot table; the router answers CLUSTERDOWN/TRYAGAIN until then.
  while (Date.now() < until && !(first = await c.call('RESERVE', 'b', 'inv', 'TTL', '60', 'REF', 'r1', 'ID', 'tok-r')).startsWith(':')) {
    await new Promise((r) => setTimeout(r, 200));
  }
  t.is(first, ':1\r\n', `no number within 45 s; last reply ${JSON.stringify(first)}\n${dev.output().slice(-2000)}`);
  t.is(await c.call('RESERVE', 'b', 'inv', 'TTL', '60', 'ID', 'tok-r'), ':1\r\n');
  t.is(await c.call('INC', 'b', 'inv'), ':2\r\n');
  t.is(await c.call('CONFIRM', 'b', 'inv', '1', 'REF', 'INV-1'), '+OK\r\n');
  t.regex(await c.call('VOID', 'b', 'inv', '1', 'REASON', 'x'), /^-ERR USED /);
  t.regex(await c.call('AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '5'), /^\*2\r\n\*6\r\n:1\r\n\$4\r\nused\r\n:[0-9]+\r\n\$5\r\nINV-1\r\n\$-1\r\n:[0-9]+\r\n\*6\r\n:2\r\n\$3\r\ninc\r\n/);
  t.true((await c.call('SEQ.INFO', 'b', 'inv')).startsWith('*26\r\n$5\r\nvalue\r\n:2\r\n'));
  t.is(await c.call('SEQ.LIST', 'b'), '*2\r\n$1\r\n0\r\n*1\r\n$3\r\ninv\r\n');
});
