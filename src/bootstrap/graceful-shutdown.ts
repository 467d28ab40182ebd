import { type INestApplication, Logger } from '@nestjs/common';
import { ShutdownState } from '../health/shutdown-state.js';

/**
 * SIGTERM/SIGINT: readiness turns 503 at once, the app closes (every lifecycle hook runs: Redis and
 * database clients quit), and the process exits 0. We own the signals instead of calling Nest's
 * `enableShutdownHooks()`, which re-raises the signal after closing and so exits 143, not 0.
 * If closing takes longer than `graceMs` the process exits 1 anyway.
 */
export function exitGracefullyOnSignals(app: INestApplication, graceMs: number): void {
  const logger = new Logger('Shutdown');
  let started = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    app.get(ShutdownState).begin();
    logger.log(`${signal} received: readiness is now 503; closing within ${graceMs} ms`);
    setTimeout(() => {
      logger.error(`Shutdown took longer than SHUTDOWN_GRACE_MS=${graceMs}; exiting now`);
      process.exit(1);
    }, graceMs).unref();
    try {
      await app.close();
      logger.log('Shutdown complete');
      process.exit(0);
    } catch (error) {
      logger.error(`Shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    }
  };
  process.once('SIGTERM', (signal) => void shutdown(signal));
  process.once('SIGINT', (signal) => void shutdown(signal));
}
