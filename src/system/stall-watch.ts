/**
 * When a stream last moved: a pipe whose byte count stands still for `limitMs` is
 * stalled. The clock is passed in, so the rule is tested without waiting.
 */
export class StallWatch {
  private last: number;

  constructor(
    readonly limitMs: number | undefined,
    now: number,
  ) {
    this.last = now;
  }

  /** bytes moved, or the writer ended (the reader's own time to finish starts then) */
  moved(now: number): void {
    this.last = now;
  }

  /** no limit ("off"), or the limit not reached */
  stalled(now: number): boolean {
    return this.limitMs !== undefined && now - this.last >= this.limitMs;
  }
}
