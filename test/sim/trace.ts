/**
 * Event trace of one run: a bounded ring of readable lines (printed on a violation) plus a
 * running hash of every line, so two runs of one seed can be compared cheaply.
 */
export class Trace {
  private readonly ring: string[] = [];
  private next = 0;
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  private count = 0;
  private readonly full: string[] | null;

  /** @param capacity lines kept for the failure report. @param keepAll keep every line (--verbose). */
  constructor(
    private readonly capacity = 50,
    keepAll = false,
  ) {
    this.full = keepAll ? [] : null;
  }

  record(timeMs: number, line: string): void {
    const text = `${String(timeMs).padStart(6)} ${line}`;
    this.mix(text);
    this.count++;
    if (this.full) this.full.push(text);
    if (this.ring.length < this.capacity) this.ring.push(text);
    else this.ring[this.next] = text;
    this.next = (this.next + 1) % this.capacity;
  }

  /** FNV-1a over all lines, two independent 32-bit lanes. */
  private mix(text: string): void {
    let a = this.h1;
    let b = this.h2;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    }
    this.h1 = a ^ 0x0a;
    this.h2 = b;
  }

  hash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }

  events(): number {
    return this.count;
  }

  /** The last `capacity` lines, oldest first. */
  tail(): string[] {
    if (this.ring.length < this.capacity) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  /** Every line, when built with keepAll. */
  all(): string[] {
    return this.full ? [...this.full] : this.tail();
  }
}
