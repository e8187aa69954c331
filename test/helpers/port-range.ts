/**
 * Consecutive free ports for processes that bind fixed ports (`seqdb dev` takes --port and the
 * ports after it, and admin ports 1,000 above). Chosen BELOW the kernel's ephemeral range: a port
 * there can be handed to any outgoing connection of a test running in parallel between our check
 * and the child's bind (dev-shards failed with EADDRINUSE that way).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOW_PORT = 20_000;

/** A base port with base..base+count free, and base+1000.. too when `withAdmin`. */
export async function freePortRange(count: number, withAdmin = false): Promise<number> {
  const high = ephemeralLow() - (withAdmin ? 1000 : 0) - count - 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = LOW_PORT + Math.floor(Math.random() * (high - LOW_PORT));
    let ok = true;
    for (let p = base; p <= base + count && ok; p++) ok = (await portFree(p)) && (!withAdmin || (await portFree(p + 1000)));
    if (ok) return base;
  }
  throw new Error('no free port range');
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOW_PORT + 2000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
