/**
 * Answers mDNS queries in bonjour-service's place, within bounds. bonjour-service sends one
 * multicast response per question of a query, with no limit and whatever the source: one 46 KB
 * packet repeating a question 2,000 times made every SeqDB process on the link send 2,000
 * responses (found by a review). Here a query is answered only from the subnet of our --host,
 * with its questions deduplicated and at most QUESTIONS_MAX of them, and at most
 * QUERIES_PER_SECOND_MAX queries a second are answered at all.
 */
import type { Subnet } from './local-address.ts';

/** Distinct questions answered per query: ours are a PTR, an SRV, a TXT and an A at most. */
export const QUESTIONS_MAX = 8;
/** Queries answered per second, all sources together (peers query every few seconds each). */
export const QUERIES_PER_SECOND_MAX = 200;

interface Question {
  readonly name: string;
  readonly type: string;
}

interface QueryPacket {
  readonly questions?: readonly Question[];
}

/** What bonjour-service's server exposes: its socket, and the responder we wrap. */
export interface QueryResponder {
  readonly mdns: {
    removeAllListeners(event: 'query'): unknown;
    on(event: 'query', listener: (packet: unknown, rinfo: unknown) => void): unknown;
  };
  respondToQuery(query: unknown): void;
}

export interface QueryGuardStats {
  /** Queries not answered: from outside the subnet, or beyond the rate. */
  queriesDropped: number;
}

export function guardQueries(server: QueryResponder, subnet: Subnet, sourceOf: (rinfo: unknown) => string, stats: QueryGuardStats, now: () => number = () => performance.now()): void {
  let windowStartMs = now();
  let answered = 0;
  server.mdns.removeAllListeners('query');
  server.mdns.on('query', (packet, rinfo) => {
    if (!subnet.contains(sourceOf(rinfo))) {
      stats.queriesDropped++;
      return;
    }
    const t = now();
    if (t - windowStartMs >= 1000) {
      windowStartMs = t;
      answered = 0;
    }
    if (answered >= QUERIES_PER_SECOND_MAX) {
      stats.queriesDropped++;
      return;
    }
    answered++;
    const questions = distinctQuestions((packet as QueryPacket).questions ?? []);
    if (questions.length > 0) server.respondToQuery({ ...(packet as object), questions });
  });
}

export function distinctQuestions(questions: readonly Question[]): Question[] {
  const seen = new Set<string>();
  const out: Question[] = [];
  for (const q of questions) {
    if (typeof q?.name !== 'string' || typeof q.type !== 'string') continue;
    const key = `${q.name.toLowerCase()}\u0000${q.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(q);
    if (out.length >= QUESTIONS_MAX) break;
  }
  return out;
}
