/**
 * The last indexes of app messages sent to one follower and not yet acknowledged, oldest
 * first, bounded by `capacity` (maxInflightMsgs): the pipelining window.
 */
export class Inflights {
  private readonly buf: number[] = [];
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error(`inflights: add to a full window (${this.capacity})`);
    this.buf.push(lastIndex);
  }

  /** Frees every message whose last index is <= index (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.buf.length && this.buf[n]! <= index) n++;
    if (n > 0) this.buf.splice(0, n);
  }

  freeFirstOne(): void {
    this.buf.shift();
  }

  full(): boolean {
    return this.buf.length >= this.capacity;
  }

  count(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf.length = 0;
  }
}
