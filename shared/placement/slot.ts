/**
 * Bucket -> slot: CRC16-XMODEM of the bucket name modulo 16384, as Redis Cluster does. Only the bucket
 * is hashed, so every sequence of a bucket lands in the same slot and so on the same shard (the
 * bucket lock depends on it). A fixed slot table keeps ownership records small (16384 entries) and
 * lets a rebalance move slots, not individual buckets.
 */
export const slotCount = 16384;

const table = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

export function slotOf(bucket: Uint8Array | string): number {
  return crc16(typeof bucket === 'string' ? Buffer.from(bucket) : bucket) % slotCount;
}

/** Slot numbers from the wire are untrusted: parse strictly before using one as an index. */
export function parseSlot(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n < slotCount ? n : null;
}
