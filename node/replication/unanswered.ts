/** Since when what a peer link sent has gone unanswered (peer-link.ts): its dead-peer check's clock. */
export class Unanswered {
  /** When we first sent something not answered since (null: all answered). */
  private sinceMs: number | null = null;

  reset(): void {
    this.sinceMs = null;
  }

  /** Called as we send: true once what we sent has waited over `limitMs` for an answer (the last at `answeredMs`). */
  overdue(now: number, answeredMs: number, limitMs: number): boolean {
    const since = this.sinceMs;
    if (since === null || answeredMs >= since) {
      this.sinceMs = now;
      return false;
    }
    return now - since > limitMs;
  }
}
