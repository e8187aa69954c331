/** Small seeded PRNG (mulberry32) so randomized tests replay from a printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFromEnv(): number {
  const fromEnv = process.env.SEQDB_TEST_SEED;
  return fromEnv !== undefined ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
}

/** Checks that sorted values are exactly 1..n; returns a description of the first defect or null. */
export function gaplessDefect(values: readonly bigint[]): string | null {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i] !== BigInt(i + 1)) return `position ${i}: expected ${i + 1}, got ${sorted[i]} (dupe or gap)`;
  }
  return null;
}

/** Waits at least minMs, then until `ready()` (polled every 20 ms), at most maxMs in all. */
export async function settle(minMs: number, ready: () => boolean, maxMs = 10_000): Promise<void> {
  const startMs = Date.now();
  await new Promise((r) => setTimeout(r, minMs));
  while (!ready() && Date.now() - startMs < maxMs) await new Promise((r) => setTimeout(r, 20));
}
