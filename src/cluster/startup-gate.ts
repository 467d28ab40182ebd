/** How long readiness waits at start-up for every worker before it settles for the ones that booted. */
export const STARTUP_WAIT_MS = 30_000;

/**
 * Readiness at start-up: closed until every worker slot has booted once (or STARTUP_WAIT_MS have passed),
 * so a load balancer sends the reconnect burst of a rollout only once it can spread over all workers.
 * Once open it stays open: a worker restarting later is covered by the others.
 */
export class StartupGate {
  private readonly bootedSlots = new Set<number>();
  private open = false;
  private readonly openAfter: number;

  constructor(
    private readonly slots: number,
    private readonly now: () => number = Date.now,
  ) {
    this.openAfter = now() + STARTUP_WAIT_MS;
  }

  booted(slot: number): void {
    this.bootedSlots.add(slot);
    if (this.bootedSlots.size >= this.slots) this.open = true;
  }

  get isOpen(): boolean {
    if (!this.open && this.now() >= this.openAfter) this.open = true;
    return this.open;
  }

  /** Why readiness is still 503, for its `details.workers.message`. */
  get waitingFor(): string {
    return `Starting: ${this.bootedSlots.size} of ${this.slots} workers booted`;
  }
}
