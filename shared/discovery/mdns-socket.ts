/**
 * The few multicast-dns behaviours discovery depends on, typed, with bounded waits.
 * multicast-dns ships no types (bonjour-service types its socket as `any`).
 */
import { ErrorCode, SeqError } from '../errors.ts';

/** The part of a multicast-dns instance we use. */
export interface MdnsLike {
  on(event: 'response' | 'query', listener: (packet: unknown, rinfo: unknown) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  on(event: 'error' | 'warning', listener: (err: Error) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  query(name: string, type: string): void;
}

/** Binding the socket is local and fast; anything slower is a broken environment. */
export const READY_TIMEOUT_MS = 3_000;
/** RFC 6762 section 8.1: three probes, 250 ms apart. */
export const PROBE_COUNT = 3;
export const PROBE_INTERVAL_MS = 250;

/**
 * Resolves once the socket is bound and has joined the group on the pinned interface. A join
 * or setMulticastInterface failure is only a 'warning' in multicast-dns, emitted before 'ready';
 * for us it means the pinning failed, so it rejects.
 */
export function waitReady(mdns: MdnsLike): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      cleanup();
      reject(new SeqError(ErrorCode.DISCOVERY_SOCKET, `mDNS socket: ${err.message}`));
    };
    const ok = (): void => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => fail(new Error('not ready in time')), READY_TIMEOUT_MS);
    function cleanup(): void {
      clearTimeout(timer);
      mdns.removeListener('ready', ok);
      mdns.removeListener('error', fail);
      mdns.removeListener('warning', fail);
    }
    mdns.on('ready', ok);
    mdns.on('error', fail);
    mdns.on('warning', fail);
  });
}

/** True when some live responder answers for `fqdn` (TTL > 0) during the probe window. */
export function probeName(mdns: MdnsLike, fqdn: string): Promise<boolean> {
  return new Promise((resolve) => {
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const onResponse = (packet: unknown): void => {
      if (mentions(packet, fqdn)) finish(true);
    };
    function finish(taken: boolean): void {
      clearTimeout(timer);
      mdns.removeListener('response', onResponse);
      resolve(taken);
    }
    function send(): void {
      if (sent === PROBE_COUNT) return finish(false);
      sent++;
      mdns.query(fqdn, 'ANY');
      timer = setTimeout(send, PROBE_INTERVAL_MS);
    }
    mdns.on('response', onResponse);
    send();
  });
}

function mentions(packet: unknown, fqdn: string): boolean {
  if (typeof packet !== 'object' || packet === null) return false;
  const { answers, additionals } = packet as { answers?: unknown; additionals?: unknown };
  for (const list of [answers, additionals]) {
    if (!Array.isArray(list)) continue;
    for (const rr of list.slice(0, 64)) {
      const r = rr as { name?: unknown; ttl?: unknown } | null;
      if (typeof r?.name === 'string' && r.name.toLowerCase() === fqdn && typeof r.ttl === 'number' && r.ttl > 0) {
        return true;
      }
    }
  }
  return false;
}
