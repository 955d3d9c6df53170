/**
 * When a stream last moved: a pipe whose byte count stands still for `limitMs` is
 * stalled. Once the writer ended, its reader gets `END_FACTOR` times that to end: no
 * byte moves then, and a backup server syncs what it received before it answers (on a
 * slow disk behind a large page cache, minutes). The clock is passed in, so the rule is
 * tested without waiting.
 */
export class StallWatch {
  static readonly END_FACTOR = 3;
  private last: number;
  private factor = 1;

  constructor(
    readonly limitMs: number | undefined,
    now: number,
  ) {
    this.last = now;
  }

  /** bytes moved */
  moved(now: number): void {
    this.last = now;
  }

  /** the writer ended: the reader's own time to finish starts */
  writerEnded(now: number): void {
    this.last = now;
    this.factor = StallWatch.END_FACTOR;
  }

  /** the limit now in force (undefined: none) */
  get currentLimitMs(): number | undefined {
    return this.limitMs === undefined ? undefined : this.limitMs * this.factor;
  }

  /** no limit ("off"), or the limit not reached */
  stalled(now: number): boolean {
    const limit = this.currentLimitMs;
    return limit !== undefined && now - this.last >= limit;
  }
}
