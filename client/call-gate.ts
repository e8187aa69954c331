import { ClientError, ClientErrorCode, TimeoutError } from './errors.ts';
import { monoNowMs } from '../shared/mono-clock.ts';

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Backpressure: at most `pendingMax` calls in progress, at most `waitingMax` more waiting in FIFO
 * order for a slot; beyond that a call fails at once with ERR_QUEUE_FULL. A waiter whose deadline
 * passes fails with ERR_TIMEOUT (it was never sent, so nothing was applied).
 */
export class CallGate {
  readonly #pendingMax: number;
  readonly #waitingMax: number;
  #pending = 0;
  readonly #waiters: Waiter[] = [];
  #idle: (() => void)[] = [];
  #closedError: Error | null = null;

  constructor(pendingMax: number, waitingMax: number) {
    this.#pendingMax = pendingMax;
    this.#waitingMax = waitingMax;
  }

  get pending(): number {
    return this.#pending;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves when the call may start; the caller must call leave() exactly once afterwards. */
  enter(deadlineAtMs: number): Promise<void> {
    if (this.#closedError !== null) return Promise.reject(this.#closedError);
    if (this.#pending < this.#pendingMax && this.#waiters.length === 0) {
      this.#pending += 1;
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.#waitingMax) {
      return Promise.reject(
        new ClientError(
          ClientErrorCode.QUEUE_FULL,
          `${this.#pending} calls in progress and ${this.#waiters.length} waiting: queue full`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#remove(waiter);
          reject(new TimeoutError('deadline passed while waiting in the client queue; nothing was sent', 0, undefined));
        }, Math.max(0, deadlineAtMs - monoNowMs())),
      };
      this.#waiters.push(waiter);
    });
  }

  leave(): void {
    if (this.#pending <= 0) throw new Error('CallGate.leave without enter');
    const next = this.#waiters.shift();
    if (next !== undefined) {
      clearTimeout(next.timer);
      next.resolve(); // the slot passes straight to the waiter
      return;
    }
    this.#pending -= 1;
    if (this.#pending === 0) for (const done of this.#idle.splice(0)) done();
  }

  /** Refuses new calls and fails the waiting ones with `error`. */
  close(error: Error): void {
    this.#closedError = error;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  /** Resolves when no call is in progress. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #remove(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index !== -1) this.#waiters.splice(index, 1);
  }
}
