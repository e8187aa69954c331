/**
 * Consecutive free ports for processes that bind fixed ports (`seqdb dev` takes --port and the
 * ports after it, and admin ports 1,000 above). Chosen BELOW the kernel's ephemeral range: a port
 * there can be handed to any outgoing connection of a test running in parallel between our check
 * and the child's bind (dev-shards failed with EADDRINUSE that way).
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOW_PORT = 20_000;

/**
 * Ports handed out are also claimed in a directory shared by every test process (one file per
 * port, created exclusively, holding the claimer's pid): two test files running in parallel
 * could otherwise both find a range free before either bound it, and one test's client reached
 * another's admin port (a fresh-clone run: "not a RESP reply: HTTP/1.1 400").
 */
// "-2": claims now hold "pid starttime"; checkouts of older builds read that as an empty claim
// and would take it over after 10 s, so they keep their own directory.
const CLAIMS_DIR = join(tmpdir(), 'seqdb-test-ports-2');
const claimed: number[] = [];
let releaseHooked = false;

/** A base port with base..base+count free, and base+1000.. too when `withAdmin`. */
export async function freePortRange(count: number, withAdmin = false): Promise<number> {
  const high = ephemeralLow() - (withAdmin ? 1000 : 0) - count - 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = LOW_PORT + Math.floor(Math.random() * (high - LOW_PORT));
    const ports: number[] = [];
    for (let p = base; p <= base + count; p++) ports.push(p, ...(withAdmin ? [p + 1000] : []));
    if (!claimAll(ports)) continue;
    let ok = true;
    for (const p of ports) if (ok) ok = await portFree(p);
    if (ok) return base;
    release(ports); // bound by something else: no use to anyone as a claim
  }
  throw new Error('no free port range');
}

/**
 * One free port, claimed like a range. Port 0's answer is no use for a port handed to a child
 * process: it comes from the ephemeral range, where another test's freePort or outgoing
 * connection may take it before the child binds (a fresh-clone run: a replication test's node
 * lost its port to another test's node, and INFO there named a stranger).
 */
export function freePort(): Promise<number> {
  return freePortRange(0);
}

/** Claims every port or none (exported for its test). */
export function claimAll(ports: readonly number[]): boolean {
  try {
    mkdirSync(CLAIMS_DIR, { recursive: true });
  } catch {
    return true; // no claims possible here (see claim): the bind check alone, as before them
  }
  if (!releaseHooked) {
    releaseHooked = true;
    process.on('exit', () => {
      for (const p of claimed) unclaim(p);
    });
  }
  const mine: number[] = [];
  for (const p of ports) {
    const got = claim(p);
    if (got !== true) {
      for (const q of mine) unclaim(q);
      // Unclaimable: go on with the bind check alone, recording nothing (a later release must
      // not unlink another process's file).
      return got === 'unclaimable';
    }
    mine.push(p);
  }
  claimed.push(...mine);
  return true;
}

function release(ports: readonly number[]): void {
  for (const p of ports) {
    unclaim(p);
    const at = claimed.indexOf(p);
    if (at >= 0) claimed.splice(at, 1);
  }
}

/** true: ours now; false: held; 'unclaimable': this directory cannot hold claims (no write access). */
function claim(port: number): boolean | 'unclaimable' {
  const file = join(CLAIMS_DIR, String(port));
  try {
    writeFileSync(file, holderStamp(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Another user's directory: claims cannot work here, the bind check still does.
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'unclaimable';
    if (code !== 'EEXIST') return false; // EMFILE and the like: try another range
    // Held. A claim left by a killed process is removed for a later attempt, not taken here:
    // two processes taking over the same stale claim at once could both believe they hold it.
    if (!holderAlive(file)) removeStale(port);
    return false;
  }
}

/** A lock older than this was left by a process killed while it held it (held for microseconds). */
const STALE_LOCK_MS = 10_000;

/**
 * Removes a claim judged stale, under a per-port lock (`<port>.lock`, created exclusively) and
 * judged again inside it. Without the lock, two processes that both judged one claim stale could
 * interleave: one removes it, a third process claims the port, and the second then unlinks that
 * fresh claim, so a fourth could take the port while the third holds it.
 */
function removeStale(port: number): void {
  const file = join(CLAIMS_DIR, String(port));
  const lock = `${file}.lock`;
  try {
    writeFileSync(lock, '', { flag: 'wx' });
  } catch {
    try {
      if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) unlinkSync(lock);
    } catch {
      // gone already
    }
    return; // another process is removing it; a later attempt finds the port free or held
  }
  try {
    if (!holderAlive(file)) unclaim(port);
  } finally {
    unlinkSync(lock);
  }
}

/** A process named by pid and start time (field 22 of /proc/<pid>/stat): a reused pid differs. */
function holderStamp(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
  } catch {
    return String(pid);
  }
}

function holderAlive(file: string): boolean {
  try {
    const stamp = readFileSync(file, 'utf8');
    const pid = Number(stamp.split(' ')[0]);
    // Empty: its claimer is between creating and writing it (or died there, long ago).
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - statSync(file).mtimeMs < 10_000;
    process.kill(pid, 0);
    return !stamp.includes(' ') || holderStamp(pid) === stamp;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unclaim(port: number): void {
  try {
    unlinkSync(join(CLAIMS_DIR, String(port)));
  } catch {
    // gone already
  }
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first port of the kernel's ephemeral range (exported for its test). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOW_PORT + 2000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
