/**
 * An append-only byte buffer with a hard capacity, for data that spans socket chunks. It grows
 * by doubling so that a line arriving byte by byte costs O(n) copying, not O(n^2).
 */
export class ByteAccumulator {
  #buf: Buffer | null = null;
  #length = 0;
  readonly #capacityMax: number;

  constructor(capacityMax: number) {
    this.#capacityMax = capacityMax;
  }

  get length(): number {
    return this.#length;
  }

  /** Bytes allocated right now (what this holds in memory). */
  get capacity(): number {
    return this.#buf?.length ?? 0;
  }

  /** Appends chunk[start, end); the caller checks the total against its own limit first. */
  append(chunk: Buffer, start: number, end: number): void {
    const needed = this.#length + (end - start);
    if (needed > this.#capacityMax) throw new RangeError('ByteAccumulator: capacity exceeded');
    if (this.#buf === null || needed > this.#buf.length) this.#grow(needed);
    chunk.copy(this.#buf!, this.#length, start, end);
    this.#length = needed;
  }

  /** Hands over the bytes gathered so far and starts empty (the view stays valid for the taker). */
  take(): Buffer {
    const out = this.#buf === null ? Buffer.alloc(0) : this.#buf.subarray(0, this.#length);
    this.clear();
    return out;
  }

  clear(): void {
    this.#buf = null;
    this.#length = 0;
  }

  #grow(needed: number): void {
    let capacity = Math.max(256, this.#buf?.length ?? 0);
    while (capacity < needed) capacity *= 2;
    const next = Buffer.allocUnsafe(Math.min(capacity, this.#capacityMax));
    if (this.#buf !== null) this.#buf.copy(next, 0, 0, this.#length);
    this.#buf = next;
  }
}
