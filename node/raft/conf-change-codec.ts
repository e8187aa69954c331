import { RaftError, RaftErrorCode, type ConfChange, type ConfChangeType, type ConfState } from './types.ts';

const TYPES: readonly ConfChangeType[] = ['addLearner', 'promote', 'remove'];
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

interface Wire {
  t: ConfChangeType;
  n: string;
  c?: string;
  v?: readonly string[];
  l?: readonly string[];
}

/** ConfChange entry payload: compact JSON, stable across versions (t, n, c). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(toWire(cc)));
}

/**
 * What the leader writes: the change plus the membership it results in (v, l). A node that
 * joined with an empty log never saw the bootstrap membership (it lives at index 0, outside
 * the log); the resulting membership in every conf entry lets it learn the group from the
 * log alone. decodeConfChange ignores the extra fields.
 */
export function encodeConfChangeEntry(cc: ConfChange, result: ConfState): Uint8Array {
  return encoder.encode(JSON.stringify({ ...toWire(cc), v: result.voters, l: result.learners }));
}

export function decodeConfChangeEntry(bytes: Uint8Array): { cc: ConfChange; result?: ConfState } {
  const cc = decodeConfChange(bytes);
  const o = JSON.parse(decoder.decode(bytes)) as Wire;
  const ids = (x: unknown) => Array.isArray(x) && x.every((i) => typeof i === 'string');
  if (o.v === undefined && o.l === undefined) return { cc };
  if (!ids(o.v) || !ids(o.l)) throw new RaftError(RaftErrorCode.INVALID_CONF_CHANGE, 'malformed membership in conf change');
  return { cc, result: { voters: [...o.v!], learners: [...o.l!] } };
}

function toWire(cc: ConfChange): Wire {
  const o: Wire = { t: cc.type, n: cc.nodeId };
  if (cc.context !== undefined) o.c = cc.context;
  return o;
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  let o: unknown;
  try {
    o = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new RaftError(RaftErrorCode.INVALID_CONF_CHANGE, 'conf change payload is not JSON');
  }
  const r = o as { t?: unknown; n?: unknown; c?: unknown };
  if (typeof r !== 'object' || r === null || !TYPES.includes(r.t as ConfChangeType) || typeof r.n !== 'string') {
    throw new RaftError(RaftErrorCode.INVALID_CONF_CHANGE, 'malformed conf change payload');
  }
  if (r.c !== undefined && typeof r.c !== 'string') {
    throw new RaftError(RaftErrorCode.INVALID_CONF_CHANGE, 'malformed conf change context');
  }
  const cc: ConfChange = r.c === undefined ? { type: r.t as ConfChangeType, nodeId: r.n } : { type: r.t as ConfChangeType, nodeId: r.n, context: r.c };
  return cc;
}
