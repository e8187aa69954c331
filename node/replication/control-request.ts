/**
 * Control requests between nodes (join, bootstrap discovery): a short-lived connection that
 * sends the hello, one CONTROL frame, and reads one CONTROL frame back.
 */
import { encodeControl, PeerDecoder } from './peer-codec.ts';
import { formatHello } from './peer-hello.ts';
import { offerPeerAuth } from '../../shared/security/peer-auth.ts';
import { dial } from '../../shared/security/tls-config.ts';
import type { Control, TransportOptions } from './transport.ts';

export function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad address '${addr}' (want host:port)`);
  return [addr.slice(0, i).replace(/^\[|\]$/g, ''), port];
}

export function controlRequest(addr: string, control: Control, timeoutMs: number, opts: TransportOptions): Promise<Control> {
  return new Promise((resolve, reject) => {
    let host: string;
    let port: number;
    try {
      [host, port] = splitAddr(addr);
    } catch (err) {
      return reject(err);
    }
    const s = dial(host, port, opts.tls);
    const decoder = new PeerDecoder(opts.codec);
    let head = '';
    const done = (err: Error | null, reply?: Control): void => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`control request to ${addr} timed out`)), timeoutMs);
    const hello = formatHello({ cluster: opts.cluster, shard: opts.shard, nodeId: opts.nodeId, addr: opts.advertise() });
    s.write(hello);
    const onData = (d: Buffer): void => {
      if (head.length < 32) {
        head += d.toString('latin1');
        if (head.startsWith('SEQDB-PEER-REFUSED')) return done(new Error(`${addr}: ${head.trim()}`));
      }
      try {
        for (const f of decoder.push(d)) if (f.kind === 'control') return done(null, f.control);
      } catch (err) {
        done(err as Error);
      }
    };
    const start = (): void => {
      s.write(encodeControl(control, opts.codec));
      s.on('data', onData);
    };
    if (opts.clusterSecret === undefined) start();
    else offerPeerAuth(s, opts.clusterSecret, hello.trimEnd()).then(start, (err: Error) => done(new Error(`${addr}: ${err.message}`)));
    s.on('error', (err) => done(err));
    s.on('close', () => done(new Error(`control connection to ${addr} closed`)));
  });
}
