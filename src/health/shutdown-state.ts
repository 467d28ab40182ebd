import { Injectable } from '@nestjs/common';

/** Set when a shutdown signal arrives: readiness turns 503 at once, before any draining. */
@Injectable()
export class ShutdownState {
  private shuttingDown = false;

  begin(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}
