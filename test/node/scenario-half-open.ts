/**
 * Runs inside its own network namespace (unshare -n): a `seqdb dev` (or, with arg `router`, a
 * `seqdb dev --nodes 3` router) and clients whose host "vanishes": every packet of theirs is
 * dropped (nft) before their socket is destroyed, so the server never gets a FIN or RST, as
 * when a client machine loses power or a NAT forgets the flow. The namespace's keepalive
 * sysctls are short (2 s idle, 1 s interval, 3 probes): a socket with SO_KEEPALIVE on is
 * failed within ~6 s of its keepalive idle time. Prints the server's connected_clients before
 * and after. Args: mode (dev|router), clients, wait ms, --maxclients or -, --tcp-keepalive or -.
 */
import { spawn, execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult, REPO_ROOT } from '../helpers/netns.ts';

assertIsolatedNamespace();
const mode = process.argv[2] ?? 'dev';
const vanishing = Number(process.argv[3] ?? 20);
const waitMs = Number(process.argv[4] ?? 20_000);
const maxClients = process.argv[5] === '-' ? undefined : process.argv[5];
const keepAliveS = process.argv[6] === '-' ? undefined : process.argv[6];
// The clients bind local ports 40000+; the namespace's own connections (router to nodes, node to
// node) take ephemeral ports, which by default include them (a CI run: bind EADDRINUSE 40008).
for (const [k, v] of [['tcp_keepalive_time', '2'], ['tcp_keepalive_intvl', '1'], ['tcp_keepalive_probes', '3'], ['ip_local_port_range', '45000 60999']]) {
  execFileSync('sysctl', ['-q', '-w', `net.ipv4.${k}=${v}`]);
}
const data = mkdtempSync(join(tmpdir(), 'seqdb-halfopen-'));
const port = 7379;
const args = [...(mode === 'router' ? ['--nodes', '3'] : []), ...(maxClients ? ['--maxclients', maxClients] : []), ...(keepAliveS ? ['--tcp-keepalive', keepAliveS] : [])];
const dev = spawn(process.execPath, [join(REPO_ROOT, 'bin/seqdb.js'), 'dev', '--port', String(port), '--data', data, '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
const cleanup = (): void => {
  try { process.kill(-dev.pid!, 'SIGKILL'); } catch { /* gone */ }
  rmSync(data, { recursive: true, force: true });
};
process.on('exit', cleanup);

function call(line: string, localPort?: number): Promise<{ reply: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...(localPort ? { localPort } : {}) }, () => socket.write(line + '\r\n'));
    let reply = '';
    socket.on('data', (c: Buffer) => {
      reply += c.toString('latin1');
      if (/\r\n$/.test(reply) && (reply[0] !== '$' || reply.split('\r\n').length > 2)) resolve({ reply, socket });
    });
    socket.on('error', reject);
  });
}
async function connectedClients(): Promise<number> {
  const { reply, socket } = await call('INFO');
  socket.destroy();
  return Number(/connected_clients:(\d+)/.exec(reply)?.[1]);
}
async function untilServing(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const { reply, socket } = await call('INC warm s');
      socket.destroy();
      if (reply.startsWith(':')) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('server never served');
}

await untilServing();
await new Promise((r) => setTimeout(r, 300));
const before = await connectedClients();
const firstPort = 40_000;
const held: Socket[] = [];
for (let i = 0; i < vanishing; i++) {
  const { reply, socket } = await call(`INC halfopen s${i}`, firstPort + i);
  if (!reply.startsWith(':')) throw new Error(`INC got ${reply}`);
  held.push(socket);
}
const during = maxClients ? -1 : await connectedClients();
// The clients' host vanishes: nothing from or to their ports gets through any more.
const range = `${firstPort}-${firstPort + vanishing - 1}`;
execFileSync('/usr/sbin/nft', ['add', 'table', 'inet', 'halfopen']);
execFileSync('/usr/sbin/nft', ['add', 'chain', 'inet', 'halfopen', 'out', '{ type filter hook output priority 0 ; }']);
execFileSync('/usr/sbin/nft', ['add', 'rule', 'inet', 'halfopen', 'out', 'tcp', 'sport', range, 'drop']);
execFileSync('/usr/sbin/nft', ['add', 'rule', 'inet', 'halfopen', 'out', 'tcp', 'dport', range, 'drop']);
const rules = execFileSync('/usr/sbin/nft', ['list', 'ruleset'], { encoding: 'utf8' });
if (!rules.includes(`tcp sport ${range} drop`)) throw new Error(`nft rule missing: ${rules}`);
for (const s of held) s.destroy();
// Waits up to waitMs, less once the vanished clients are gone (keepalive fails them in ~5 s);
// the default-settings case (no --tcp-keepalive) waits it all, for the sockets' timers.
const waitStartMs = Date.now();
const gone = async (): Promise<boolean> => {
  if (keepAliveS === undefined) return false;
  if (maxClients === undefined) return (await connectedClients()) <= before;
  return call('INC fresh s').then(({ reply, socket }) => (socket.destroy(), reply.startsWith(':')), () => false);
};
while (Date.now() - waitStartMs < waitMs && !(await gone())) await new Promise((r) => setTimeout(r, 500));
const fresh = await call('INC fresh s').then(({ reply, socket }) => (socket.destroy(), reply.trim()), (err: Error) => err.message);
const after = maxClients ? -1 : await connectedClients();
const ss = execFileSync('ss', ['-tno', 'state', 'established'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`127.0.0.1:${port} `) && /127\.0\.0\.1:4\d{4}/.test(l)).join('\n');
printResult({ before, during, after, fresh, vanishing, waitMs, keepaliveTimers: (ss.match(/timer:\(keepalive/g) ?? []).length, serverSockets: ss === '' ? 0 : ss.split('\n').length, ss: ss.slice(0, 400) });
cleanup();
process.exit(0);
