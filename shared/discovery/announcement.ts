/**
 * What one SeqDB process says about itself over mDNS, and the strict parser for what others say.
 * Pure: no sockets, no clocks. Everything that arrives from the network is hostile until this
 * file says otherwise, so parsing never throws and accepts only exact shapes.
 */
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';

export type DiscoveryRole = 'node' | 'router';

/** The identity a process announces; also what a peer is, once validated. */
export interface Announcement {
  readonly cluster: string;
  readonly role: DiscoveryRole;
  /** Present for role 'node' (the shard it serves), absent for routers. */
  readonly shard?: string;
  readonly nodeId: string;
  /** IPv4 address peers should connect to (the --host of the process). */
  readonly host: string;
  /** TCP port peers should connect to (the --port of the process). */
  readonly port: number;
}

export const SERVICE_TYPE = 'seqdb';
/** Full PTR name browsed and announced; compare case-insensitively (DNS names are). */
export const SERVICE_FQDN = '_seqdb._tcp.local';
/** Bumped if the TXT layout changes incompatibly; other versions are ignored. */
export const TXT_VERSION = '1';

const CLUSTER_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SHARD_RE = /^[A-Za-z0-9_-]{1,32}$/;
const NODE_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
const PORT_RE = /^[1-9][0-9]{0,4}$/;
const TXT_KEY_RE = /^[a-z0-9]{1,16}$/;
/** A DNS label is at most 63 bytes; longer instance names are shortened with a hash. */
const LABEL_BYTES_MAX = 63;
/** More TXT strings than this marks an announcement as junk (ours has 7). */
export const TXT_ENTRIES_MAX = 16;

export function isValidCluster(value: unknown): value is string {
  return typeof value === 'string' && CLUSTER_RE.test(value);
}
export function isValidShard(value: unknown): value is string {
  return typeof value === 'string' && SHARD_RE.test(value);
}
export function isValidNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID_RE.test(value);
}
export function isValidPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/**
 * Why an announcement is not valid, or null when it is. Used both for our own options (refuse
 * to start) and, through parseTxt, for what arrives from the network.
 */
export function announcementProblem(a: Announcement): string | null {
  if (!isValidCluster(a.cluster)) return 'cluster must match ' + CLUSTER_RE.source;
  if (a.role !== 'node' && a.role !== 'router') return "role must be 'node' or 'router'";
  if (a.role === 'node' && !isValidShard(a.shard)) return 'shard must match ' + SHARD_RE.source;
  if (a.role === 'router' && a.shard !== undefined) return 'a router has no shard';
  if (!isValidNodeId(a.nodeId)) return 'nodeId must match ' + NODE_ID_RE.source;
  if (!isIPv4(a.host) || a.host === '0.0.0.0') return 'host must be a unicast IPv4 address';
  if (!isValidPort(a.port)) return 'port must be an integer in 1..65535';
  return null;
}

/**
 * The mDNS instance label: unique per (cluster, role, shard, host, port), readable when short.
 * Deterministic, so a receiver can check that a TXT record really belongs to the name it came
 * under (a record claiming another identity than its name says is junk).
 */
export function instanceName(a: Announcement): string {
  const shard = a.role === 'node' ? `-s${a.shard}` : '';
  const address = `${a.host.replaceAll('.', '-')}-${a.port}`;
  const full = `seqdb-${a.cluster}-${a.role}${shard}-${address}`;
  if (Buffer.byteLength(full) <= LABEL_BYTES_MAX) return full;
  const digest = createHash('sha256').update(full).digest('hex').slice(0, 12);
  return `seqdb-${digest}-${address}`;
}

export function instanceFqdn(a: Announcement): string {
  return `${instanceName(a)}.${SERVICE_FQDN}`;
}

/** TXT key/value pairs we publish; bonjour-service encodes each as one `key=value` string. */
export function encodeTxt(a: Announcement): Record<string, string> {
  const txt: Record<string, string> = {
    v: TXT_VERSION,
    cluster: a.cluster,
    role: a.role,
    id: a.nodeId,
    addr: a.host,
    port: String(a.port),
  };
  if (a.shard !== undefined) txt.shard = a.shard;
  return txt;
}

/**
 * Parse raw TXT strings (as dns-packet decodes them: an array of Buffers) into key/values.
 * Null when the shape is junk: too many strings, a string without `=`, a bad key, a key twice.
 * Unknown keys of a valid shape are kept (and later ignored) so a newer minor layout still parses.
 */
export function parseTxtStrings(data: unknown): Map<string, string> | null {
  if (!Array.isArray(data) || data.length === 0 || data.length > TXT_ENTRIES_MAX) return null;
  const fields = new Map<string, string>();
  for (const item of data) {
    if (!Buffer.isBuffer(item)) return null;
    const text = item.toString('utf8');
    const eq = text.indexOf('=');
    if (eq <= 0) return null;
    const key = text.slice(0, eq);
    if (!TXT_KEY_RE.test(key) || fields.has(key)) return null;
    fields.set(key, text.slice(eq + 1));
  }
  return fields;
}

/** A validated announcement from TXT fields, or null. Ports must be plain decimal (no "+1", "0x"). */
export function announcementFromTxt(fields: Map<string, string>): Announcement | null {
  if (fields.get('v') !== TXT_VERSION) return null;
  const role = fields.get('role');
  if (role !== 'node' && role !== 'router') return null;
  const portText = fields.get('port');
  if (portText === undefined || !PORT_RE.test(portText)) return null;
  const shard = fields.get('shard');
  const candidate: Announcement = {
    cluster: fields.get('cluster') ?? '',
    role,
    ...(shard !== undefined ? { shard } : {}),
    nodeId: fields.get('id') ?? '',
    host: fields.get('addr') ?? '',
    port: Number(portText),
  };
  return announcementProblem(candidate) === null ? candidate : null;
}
