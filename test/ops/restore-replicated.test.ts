/**
 * README "Backup and restore": start the restored dir as the first node of a replicated shard
 * (--bootstrap-expect 1) and let the others --join it. Followed as written, the shard that
 * formed did not hold the restored state: a fresh node founded an empty shard (and the restored
 * node installed its empty snapshot over the restored data), or two groups of the shard formed;
 * either handed out numbers again (found by an ops review). A node holding a restored state now
 * says so in its probe reply: fresh nodes never found a shard beside it, and it never joins one.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp-dir.ts';
import { startDev } from '../helpers/dev-process.ts';
import { freePort } from '../helpers/port-range.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function call(port: number, line: string): Promise<string> {
  return new Promise((res) => {
    const s = net.connect(port, '127.0.0.1'); let out = '';
    const t = setTimeout(() => { s.destroy(); res(out || 'timeout'); }, 5000);
    s.on('data', (d) => { out += d.toString(); if (out.includes('\r\n') && !out.startsWith('$') || /^\$-?\d+\r\n(.*\r\n)?/.test(out) && (out.startsWith('$-1') || out.split('\r\n').length >= 3)) { clearTimeout(t); s.end(); res(out.trim()); } });
    s.on('error', (e) => { clearTimeout(t); res(String(e)); });
    s.write(line + '\r\n');
  });
}
const info = async (port: number) => Object.fromEntries((await call(port, 'INFO')).split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));

async function backupWithValue(t: ExecutionContext): Promise<string> {
  const dir = await tempDir(t);
  const dev = await startDev(t, join(dir, 'dev'));
  for (let i = 0; i < 100; i++) await call(dev.port, 'INC inv 2026');
  t.is(await call(dev.port, 'GET inv 2026'), ':100');
  const file = join(dir, 'b.bak');
  const r = spawnSync(process.execPath, ['bin/seqdb.js', 'backup', '--router', `127.0.0.1:${dev.port}`, '--out', file], { cwd: ROOT, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  dev.child.kill('SIGKILL');
  return file;
}

for (const othersExpect of ['1', '3', 'none']) {
  test(`restored shard of 3 nodes as documented (others --bootstrap-expect ${othersExpect}) continues at 101`, async (t) => {
    const file = await backupWithValue(t);
    const dir = await tempDir(t);
    const r = spawnSync(process.execPath, ['bin/seqdb.js', 'restore', '--in', file, '--data', join(dir, 'a')], { cwd: ROOT, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const ports = [await freePort(), await freePort(), await freePort()];
    const joinList = ports.map((p) => `127.0.0.1:${p}`).join(',');
    const kids: ChildProcess[] = [];
    t.teardown(() => kids.forEach((k) => k.kill('SIGKILL')));
    const start = (i: number, expect: string) => kids.push(spawn(process.execPath, ['bin/seqdb.js', 'node', '--shard', '1', '--host', '127.0.0.1', '--port', String(ports[i]),
      '--data', join(dir, 'abc'[i]), '--join', joinList, ...(expect === 'none' ? [] : ['--bootstrap-expect', expect]), '--log-level', 'warn'], { cwd: ROOT, stdio: 'ignore' }));
    start(0, '1'); // the restored dir, first
    await sleep(2000);
    start(1, othersExpect); start(2, othersExpect); // "let the others --join it"
    let infos: Record<string, string>[] = [];
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(500)) {
      infos = await Promise.all(ports.map(info));
      if (infos.every((i) => /voter.*voter.*voter/.test(i.members ?? ''))) break;
    }
    const leaders = infos.filter((i) => i.role === 'leader');
    t.log(infos.map((i) => `${i.role} leader=${i.leader} members=${i.members}`).join('\n'));
    const values = await Promise.all(ports.map((p) => call(p, 'GET inv 2026')));
    t.log('GET on each node:', values);
    t.is(leaders.length, 1, 'one leader of the shard');
    const leaderPort = Number(leaders[0]!.leader.split(':')[1]);
    t.is(await call(leaderPort, 'INC inv 2026'), ':101', 'the shard continues where the backup stood');
  });
}
