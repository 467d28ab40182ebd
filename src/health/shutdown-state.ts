import { Injectable } from '@nestjs/common';

/**
 * Set the moment a shutdown signal arrives, before any draining: readiness turns 503 at once so the
 * load balancer stops sending new clients while this process finishes with the ones it has.
 */
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
