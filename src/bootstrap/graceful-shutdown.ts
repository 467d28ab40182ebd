import { type INestApplication, Logger } from '@nestjs/common';
import { ChatEmitter } from '../chat/chat-emitter.js';
import type { AppConfig } from '../config/app-config.js';
import { ShutdownState } from '../health/shutdown-state.js';

/**
 * SIGTERM/SIGINT: readiness 503, the drain delay, local transports closed, app closed, exit 0 (1 past
 * SHUTDOWN_GRACE_MS). Not `enableShutdownHooks()`, which exits 143 (docs/decisions/0013-graceful-drain.md).
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
