import { Logger } from '@nestjs/common';

/**
 * Last resorts: an unhandled rejection (@socket.io/redis-adapter drops its `subscribe()` promise) is
 * logged and the process goes on; an uncaught exception leaves state unknown: logged, exit 1.
 */
export function installProcessGuards(): void {
  const logger = new Logger('Process');
  const reported = new Set<string>();
  process.on('unhandledRejection', (reason) => {
    const message = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    // Once per distinct message: a retry loop must not turn into a line per attempt.
    if (reported.has(message)) return;
    reported.add(message);
    logger.warn({
      msg: `Unhandled promise rejection (the process keeps running): ${message}`,
      ...(reason instanceof Error && { err: reason }),
    });
  });
  process.on('uncaughtException', (error) => {
    // `throw 'text'` reaches here too: not every thrown value is an Error.
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ msg: `Uncaught exception, exiting: ${message}`, err: error });
    process.exit(1);
  });
}
