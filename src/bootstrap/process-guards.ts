import { Logger } from '@nestjs/common';

/**
 * Process-wide last resorts. Libraries sometimes drop a promise: @socket.io/redis-adapter calls
 * `subscribe()` without a catch, so a Redis that refuses our password would otherwise crash the worker
 * with an unhandled rejection whose printout includes the AUTH command's arguments, i.e. the password.
 * A rejection is logged (message only: error objects may carry secrets) and the process keeps serving;
 * an uncaught exception leaves state unknown, so it is logged and the process exits 1 to be restarted.
 */
export function installProcessGuards(): void {
  const logger = new Logger('Process');
  const reported = new Set<string>();
  process.on('unhandledRejection', (reason) => {
    const message = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    // Once per distinct message: a retry loop must not turn into a line per attempt.
    if (reported.has(message)) return;
    reported.add(message);
    logger.warn(`Unhandled promise rejection (the process keeps running): ${message}`);
  });
  process.on('uncaughtException', (error) => {
    logger.fatal(`Uncaught exception, exiting: ${error.stack ?? error.message}`);
    process.exit(1);
  });
}
