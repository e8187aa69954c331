import { invalidArgument } from './errors.ts';

export interface Address {
  readonly host: string;
  readonly port: number;
  /** `host:port`, as given back in NOTLEADER/MOVED hints; IPv6 hosts in brackets. */
  readonly key: string;
}

/** Parses `host:port`, `[v6]:port` or a bare `port` (host 127.0.0.1). */
export function parseAddress(text: string): Address {
  if (typeof text !== 'string') throw invalidArgument('an address must be a string host:port');
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim()) ?? /^()()(\d{1,5})$/.exec(text.trim());
  if (match === null) throw invalidArgument(`bad address '${text.slice(0, 100)}': expected host:port`);
  const host = match[1] || match[2] || '127.0.0.1';
  const port = Number(match[3]);
  if (port < 1 || port > 65535) throw invalidArgument(`bad port in '${text}'`);
  return { host, port, key: formatAddress(host, port) };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses a server hint such as NOTLEADER's `host:port` or `?`; null when absent or malformed. */
export function parseHint(text: string | undefined): Address | null {
  if (text === undefined || text === '?' || text === '') return null;
  try {
    return parseAddress(text);
  } catch {
    return null;
  }
}
