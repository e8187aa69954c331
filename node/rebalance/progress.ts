/**
 * Rebalance progress: a redrawn bar on a terminal (slots moved of total, rate, ETA), plain lines
 * otherwise (logs, pipes, CI). Pure formatting plus one writer.
 */
export interface ProgressState {
  readonly moved: number;
  readonly total: number;
  readonly elapsedMs: number;
  /** What just happened (plain mode prints it). */
  readonly note?: string;
}

const BAR_WIDTH = 30;

export function rateAndEta(p: ProgressState): { perSecond: number; etaSeconds: number | null } {
  const perSecond = p.elapsedMs > 0 ? (p.moved * 1000) / p.elapsedMs : 0;
  const etaSeconds = perSecond > 0 ? Math.ceil((p.total - p.moved) / perSecond) : null;
  return { perSecond, etaSeconds };
}

export function formatBar(p: ProgressState): string {
  const fraction = p.total === 0 ? 1 : Math.min(1, p.moved / p.total);
  const filled = Math.round(fraction * BAR_WIDTH);
  const { perSecond, etaSeconds } = rateAndEta(p);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${p.moved}/${p.total} slots ${(fraction * 100).toFixed(0)}%  ${perSecond.toFixed(0)} slots/s  ETA ${etaSeconds === null ? '?' : `${etaSeconds}s`}`;
}

export function formatLine(p: ProgressState): string {
  const { perSecond, etaSeconds } = rateAndEta(p);
  const head = p.note === undefined ? '' : `${p.note}: `;
  return `${head}${p.moved}/${p.total} slots moved, ${perSecond.toFixed(0)} slots/s, ETA ${etaSeconds === null ? '?' : `${etaSeconds} s`}`;
}

export interface ProgressSink {
  update(p: ProgressState): void;
  /** Ends the bar's line (TTY). */
  finish(): void;
}

export function progressSink(out: { write(text: string): unknown; isTTY?: boolean }): ProgressSink {
  if (out.isTTY === true) {
    let drawn = false;
    return {
      update(p) {
        out.write(`\r\x1b[2K${formatBar(p)}`);
        drawn = true;
      },
      finish() {
        if (drawn) out.write('\n');
        drawn = false;
      },
    };
  }
  return {
    update(p) {
      out.write(`${formatLine(p)}\n`);
    },
    finish() {},
  };
}
