/**
 * The box's floor for one message between two Node.js processes: a ping-pong of small frames
 * over loopback TCP (one connection, no delay, one frame in flight), with the CPU each process
 * spent per exchange (one read and one write each; user + system from /proc/<pid>/stat).
 *
 *   node --import=tsx bench/loopback-floor.ts [--exchanges 20000] [--bytes 100] [--runs 3]
 *
 * Why it exists: an INC at one client crosses ~12 such messages (client -> router -> leader ->
 * two followers and back, plus the commit notices and their acknowledgements), so on a box
 * where one exchange costs ~50 us of CPU per side the INC's CPU is set by its messages, not by
 * the code a profile can point at (bench/README, twenty-third round). Run it beside
 * `npm run bench:cpu` to read those numbers against the machine. Not part of npm test.
 */
import { fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { toolArgs } from './tool-args.ts';

const USAGE = 'Usage: node --import=tsx bench/loopback-floor.ts [--exchanges 20000] [--bytes 100] [--runs 3]';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

if (process.argv[2] === '--echo') {
  // The child: echoes every chunk back at once, as a server answering one request at a time.
  const server = createServer((s) => s.on('data', (d) => s.write(d)));
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = toolArgs('bench/loopback-floor.ts', USAGE, {
    options: {
      exchanges: { type: 'string', default: '20000' },
      bytes: { type: 'string', default: '100' },
      runs: { type: 'string', default: '3' },
    },
  });
  const exchanges = positive(values.exchanges!, 'exchanges');
  const bytes = positive(values.bytes!, 'bytes');
  const runs = positive(values.runs!, 'runs');
  const child = fork(fileURLToPath(import.meta.url), ['--echo'], { execArgv: ['--import=tsx'] });
  try {
    const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(p as number)));
    const socket = connect(port, '127.0.0.1').setNoDelay(true);
    await new Promise((resolve) => socket.once('connect', resolve));
    console.log(`${exchanges} exchanges of ${bytes} bytes over loopback TCP; us per exchange (user/system CPU per side)`);
    console.log('| run | round trip us | pinger CPU us | echoer CPU us |\n| --- | --- | --- | --- |');
    await pingPong(socket, 1000, bytes); // warm-up: JIT, socket buffers
    for (let run = 1; run <= runs; run++) {
      const [p0, e0, t0] = [cpuUs(process.pid), cpuUs(child.pid!), process.hrtime.bigint()];
      await pingPong(socket, exchanges, bytes);
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
      const [p1, e1] = [cpuUs(process.pid), cpuUs(child.pid!)];
      const per = (a: number, b: number): string => ((b - a) / exchanges).toFixed(1);
      console.log(`| ${run} | ${(wallUs / exchanges).toFixed(1)} | ${per(p0[0], p1[0])}/${per(p0[1], p1[1])} | ${per(e0[0], e1[0])}/${per(e0[1], e1[1])} |`);
    }
    socket.destroy();
  } finally {
    child.kill();
  }
}

/** Sends `count` frames one at a time, each after the previous one came back whole. */
function pingPong(socket: Socket, count: number, bytes: number): Promise<void> {
  const frame = Buffer.alloc(bytes, 0x78);
  return new Promise((resolve) => {
    let left = count;
    let got = 0;
    const onData = (d: Buffer): void => {
      got += d.length;
      if (got < bytes) return;
      got -= bytes;
      if (--left === 0) {
        socket.off('data', onData);
        resolve();
      } else socket.write(frame);
    };
    socket.on('data', onData);
    socket.write(frame);
  });
}

/** [user, system] CPU microseconds of a process so far (clock ticks of /proc/<pid>/stat). */
function cpuUs(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const usPerTick = 1e6 / TICKS_PER_S;
  return [Number(fields[11]) * usPerTick, Number(fields[12]) * usPerTick];
}

function positive(text: string, name: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench/loopback-floor.ts: --${name} must be an integer >= 1`);
    process.exit(2);
  }
  return v;
}
