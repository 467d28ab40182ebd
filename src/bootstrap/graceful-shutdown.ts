import { type INestApplication, Logger } from '@nestjs/common';
import { ChatEmitter } from '../chat/chat-emitter.js';
import type { AppConfig } from '../config/app-config.js';
import { ShutdownState } from '../health/shutdown-state.js';

/**
 * SIGTERM/SIGINT drains this process:
 * 1. readiness answers 503 at once (and `onDraining` tells the primary to route no new session here);
 * 2. SHUTDOWN_DRAIN_DELAY_MS for load balancers to notice;
 * 3. the transports of THIS process's clients are closed (ChatEmitter.closeLocalTransports): they see
 *    `transport close` and reconnect to another worker or pod;
 * 4. the app closes (unfinished answers marked failed and announced, the adapter unsubscribes, Redis
 *    and database clients quit) and the process exits 0.
 * We own the signals instead of calling Nest's `enableShutdownHooks()`, which re-raises the signal after
 * closing and so exits 143, not 0. If all this takes longer than SHUTDOWN_GRACE_MS the process exits 1.
 */
export function exitGracefullyOnSignals(
  app: INestApplication,
  { shutdownGraceMs: graceMs, shutdownDrainDelayMs: drainDelayMs }: AppConfig['server'],
  onDraining: () => void = () => undefined,
): void {
  const logger = new Logger('Shutdown');
  let started = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    app.get(ShutdownState).begin();
    onDraining();
    logger.log(
      `${signal} received: readiness is now 503; closing client transports in ${drainDelayMs} ms, ` +
        `exiting within ${graceMs} ms`,
    );
    setTimeout(() => {
      logger.error(`Shutdown took longer than SHUTDOWN_GRACE_MS=${graceMs}; exiting now`);
      process.exit(1);
    }, graceMs).unref();
    try {
      await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
      const closed = app.get(ChatEmitter).closeLocalTransports();
      logger.log(`Closed ${closed} client transports; they reconnect elsewhere`);
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
