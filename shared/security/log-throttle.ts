/**
 * A log line per event, up to `linesMax` per `windowMs`; beyond that the events are counted and
 * reported in one line when the next window opens. Failed AUTH attempts and refused proofs are
 * logged this way: a client pipelining thousands of `AUTH x` would otherwise turn each 8 bytes it
 * sends into a log line (found by a review). The counters in INFO stay exact.
 */
export class LogThrottle {
  private windowStartMs = 0;
  private lines = 0;
  private suppressed = 0;

  /**
   * @param linesMax lines written per window (default 10)
   * @param windowMs the window (default 1,000 ms)
   */
  constructor(
    private readonly log: (line: string) => void,
    private readonly linesMax = 10,
    private readonly windowMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  write(line: string): void {
    const nowMs = this.now();
    if (nowMs - this.windowStartMs >= this.windowMs) {
      if (this.suppressed > 0) this.log(`... ${this.suppressed} more such lines not logged in the last ${Math.round((nowMs - this.windowStartMs) / 1000)} s`);
      this.windowStartMs = nowMs;
      this.lines = 0;
      this.suppressed = 0;
    }
    if (this.lines < this.linesMax) {
      this.lines++;
      this.log(line);
    } else {
      this.suppressed++;
    }
  }
}
