/**
 * Reads a decoded mDNS response (the dns-packet shape multicast-dns emits) into SeqDB
 * announcements and goodbyes. Pure, never throws: the packet comes from anyone on the link.
 *
 * We do not use bonjour-service's Browser for this: its service list is unbounded, keyed by
 * whatever name arrives, scanned linearly per packet, and an exception in its handler would
 * escape from the socket's 'message' event and kill the process.
 */
import {
  type Announcement,
  SERVICE_FQDN,
  announcementFromTxt,
  instanceFqdn,
  parseTxtStrings,
} from './announcement.ts';

/** Records looked at per packet; ours carry about 6, a full one is junk or an attack. */
export const RECORDS_PER_PACKET_MAX = 64;

export interface ParsedResponse {
  /** Valid announcements, keyed by the lower-case instance FQDN they arrived under. */
  readonly announcements: ReadonlyArray<{ readonly fqdn: string; readonly announcement: Announcement }>;
  /** Lower-case instance FQDNs said goodbye to (TTL 0). */
  readonly goodbyes: readonly string[];
  /** TXT records under our service type that failed validation. */
  readonly invalidCount: number;
}

interface RecordLike {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly data: unknown;
}

const SERVICE_SUFFIX = '.' + SERVICE_FQDN;

export function parseResponse(packet: unknown): ParsedResponse {
  const records = recordsOf(packet);
  const srvPorts = new Map<string, number>();
  const goodbyes = new Set<string>();
  for (const rr of records) {
    const name = rr.name.toLowerCase();
    if (rr.ttl === 0) {
      const gone = goodbyeTarget(rr, name);
      if (gone !== null) goodbyes.add(gone);
    } else if (rr.type === 'SRV' && name.endsWith(SERVICE_SUFFIX)) {
      const port = srvPort(rr.data);
      if (port !== null) srvPorts.set(name, port);
    }
  }
  const announcements: Array<{ fqdn: string; announcement: Announcement }> = [];
  let invalidCount = 0;
  for (const rr of records) {
    const fqdn = rr.name.toLowerCase();
    if (rr.type !== 'TXT' || rr.ttl === 0 || !fqdn.endsWith(SERVICE_SUFFIX)) continue;
    if (goodbyes.has(fqdn)) continue;
    const announcement = validAnnouncement(fqdn, rr.data, srvPorts.get(fqdn));
    if (announcement === null) invalidCount++;
    else announcements.push({ fqdn, announcement });
  }
  return { announcements, goodbyes: [...goodbyes], invalidCount };
}

function validAnnouncement(fqdn: string, txtData: unknown, srvPort: number | undefined): Announcement | null {
  const fields = parseTxtStrings(txtData);
  if (fields === null) return null;
  const announcement = announcementFromTxt(fields);
  if (announcement === null) return null;
  // The name is derived from the identity, so a TXT under someone else's name is a forgery
  // or a bug; either way it must not overwrite that peer.
  if (instanceFqdn(announcement).toLowerCase() !== fqdn) return null;
  if (srvPort !== undefined && srvPort !== announcement.port) return null;
  return announcement;
}

function goodbyeTarget(rr: RecordLike, name: string): string | null {
  if (rr.type === 'PTR' && name === SERVICE_FQDN && typeof rr.data === 'string') {
    const target = rr.data.toLowerCase();
    return target.endsWith(SERVICE_SUFFIX) ? target : null;
  }
  if ((rr.type === 'SRV' || rr.type === 'TXT') && name.endsWith(SERVICE_SUFFIX)) return name;
  return null;
}

function srvPort(data: unknown): number | null {
  if (typeof data !== 'object' || data === null) return null;
  const port = (data as { port?: unknown }).port;
  return typeof port === 'number' && Number.isInteger(port) ? port : null;
}

function recordsOf(packet: unknown): RecordLike[] {
  if (typeof packet !== 'object' || packet === null) return [];
  const { answers, additionals } = packet as { answers?: unknown; additionals?: unknown };
  const out: RecordLike[] = [];
  for (const list of [answers, additionals]) {
    if (!Array.isArray(list)) continue;
    for (const rr of list) {
      if (out.length >= RECORDS_PER_PACKET_MAX) return out;
      if (isRecord(rr)) out.push(rr);
    }
  }
  return out;
}

function isRecord(rr: unknown): rr is RecordLike {
  if (typeof rr !== 'object' || rr === null) return false;
  const r = rr as Partial<RecordLike>;
  return typeof r.name === 'string' && r.name.length <= 255 && typeof r.type === 'string' &&
    typeof r.ttl === 'number';
}
