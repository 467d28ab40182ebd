/**
 * Joins an answer's tokens into `message:delta`s: the first token goes at once (time to first delta),
 * then at most one delta per `intervalMs`, so a fast model costs one progress write and one broadcast
 * per interval instead of per token; a delta that reaches `maxChars` goes at once, which keeps every
 * event far below the 64 KiB pub/sub limit. `send` runs for one delta at a time, in order.
 */
export class DeltaBatcher {
  private pending = '';
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private timer?: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  /** A send that failed on the timer, rethrown by the next push or by end(). */
  private failure?: { error: unknown };

  constructor(
    private readonly intervalMs: number,
    private readonly maxChars: number,
    private readonly send: (delta: string) => Promise<void>,
  ) {}

  /** Adds a token; sends now when the interval has passed, else within it. */
  async push(token: string): Promise<void> {
    if (this.failure) throw this.failure.error;
    this.pending += token;
    const wait = this.lastSentAt + this.intervalMs - performance.now();
    if (wait <= 0 || this.pending.length >= this.maxChars) return this.flush();
    this.timer ??= setTimeout(
      () => this.flush().catch((error: unknown) => (this.failure ??= { error })),
      wait,
    );
  }

  /** Sends what is pending and waits for every send; rethrows a send's failure. */
  async end(): Promise<void> {
    await this.flush();
    if (this.failure) throw this.failure.error;
  }

  /** Drops what is pending (the answer is failing) and stops the timer. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = '';
  }

  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending) {
      const delta = this.pending;
      this.pending = '';
      this.lastSentAt = performance.now();
      this.sending = this.sending.then(() => this.send(delta));
    }
    return this.sending;
  }
}
