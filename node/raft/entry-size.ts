import type { Entry } from './types.ts';

/** Bytes an entry counts for in message, uncommitted and per-Ready limits: its payload. */
export function entrySize(e: Entry): number {
  return e.data.byteLength;
}

/** xs[from, to) cut to the longest prefix within maxBytes (at least one), without copying the rest. */
export function sliceWithin(xs: readonly Entry[], from: number, to: number, maxBytes: number): Entry[] {
  const out: Entry[] = [];
  let size = 0;
  for (let i = from; i < to; i++) {
    const e = xs[i]!;
    size += entrySize(e);
    if (out.length > 0 && size > maxBytes) break;
    out.push(e);
  }
  return out;
}
