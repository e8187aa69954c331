/**
 * Drops a connection whose request in progress stays incomplete too long (a half-sent request
 * holds up to 64 KiB). The clock starts when a request starts holding bytes and restarts
 * whenever a request completes, so a long pipeline whose chunks end mid-request is never cut,
 * while a peer that drips one request forever is.
 */
export class RequestDeadline {
  private timer: NodeJS.Timeout | undefined;
  private completed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onExpired: () => void,
  ) {}

  /** A request was completed (answered or refused) while decoding the current chunk. */
  requestCompleted(): void {
    this.completed = true;
  }

  /** After a chunk is decoded: `partial` is whether bytes of an unfinished request are held. */
  afterChunk(partial: boolean): void {
    const restart = this.completed;
    this.completed = false;
    if (!partial) return this.clear();
    if (this.timer !== undefined && !restart) return;
    this.start();
  }

  /** Reading is paused or over: time spent not reading is not the peer's fault. */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  start(): void {
    this.clear();
    this.timer = setTimeout(this.onExpired, this.timeoutMs);
  }
}
