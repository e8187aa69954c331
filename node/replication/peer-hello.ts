/**
 * The first line a peer sends on a connection to a node's one port:
 *   `SEQDB-PEER <version> <cluster> <shard> <nodeId> <host:port>\n`
 * Anything that does not start with the magic word is the client protocol. Pure functions, so
 * the sniffing is testable without sockets.
 */
export const PEER_MAGIC = 'SEQDB-PEER ';
export const PEER_VERSION = 1;
/** Longest hello line accepted; beyond it the connection is dropped. */
export const HELLO_BYTES_MAX = 512;

export interface PeerHello {
  readonly version: number;
  readonly cluster: string;
  readonly shard: string;
  readonly nodeId: string;
  /** The peer's advertised client+peer address. */
  readonly addr: string;
}

const TOKEN = /^[\x21-\x7e]{1,128}$/;

export function formatHello(h: Omit<PeerHello, 'version'>): string {
  for (const v of [h.cluster, h.shard, h.nodeId, h.addr]) {
    if (!TOKEN.test(v)) throw new RangeError(`peer hello field '${v}' must be 1..128 printable non-space chars`);
  }
  return `${PEER_MAGIC}${PEER_VERSION} ${h.cluster} ${h.shard} ${h.nodeId} ${h.addr}\n`;
}

export type Sniff =
  | { readonly kind: 'more' }
  | { readonly kind: 'client' }
  | { readonly kind: 'peer'; readonly hello: PeerHello; readonly rest: Buffer }
  | { readonly kind: 'bad'; readonly reason: string };

/** Classifies the first bytes of a connection. */
export function sniff(head: Buffer): Sniff {
  const n = Math.min(head.length, PEER_MAGIC.length);
  if (head.subarray(0, n).toString('latin1') !== PEER_MAGIC.slice(0, n)) return { kind: 'client' };
  const nl = head.indexOf(0x0a);
  if (nl < 0) return head.length > HELLO_BYTES_MAX ? { kind: 'bad', reason: 'hello line too long' } : { kind: 'more' };
  if (nl > HELLO_BYTES_MAX) return { kind: 'bad', reason: 'hello line too long' };
  const parts = head.subarray(PEER_MAGIC.length, nl).toString('latin1').split(' ');
  if (parts.length !== 5 || !parts.every((p) => TOKEN.test(p))) return { kind: 'bad', reason: 'malformed hello' };
  const [version, cluster, shard, nodeId, addr] = parts as [string, string, string, string, string];
  if (version !== String(PEER_VERSION)) return { kind: 'bad', reason: `unsupported peer version ${version}` };
  return { kind: 'peer', hello: { version: PEER_VERSION, cluster, shard, nodeId, addr }, rest: head.subarray(nl + 1) };
}
