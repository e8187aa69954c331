/**
 * Whether two byte strings are equal. Buffer#equals crosses into C++ for every call (~60-190 ns
 * here, whatever the length); names of buckets and sequences are short, and a JavaScript loop
 * over them costs ~20 ns. A router compares each plain INC's bucket and sequence with its open
 * block's: `compare` was ~3% of a router's busy time at 50 x 16 pipelined INCs of one sequence
 * (its profile, an idle box), ~11% with the box contended.
 */
const LOOP_BYTES_MAX = 64;

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  const length = a.length;
  if (length !== b.length) return false;
  if (length > LOOP_BYTES_MAX) return Buffer.from(a.buffer, a.byteOffset, length).equals(b);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}
