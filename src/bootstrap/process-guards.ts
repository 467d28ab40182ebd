import { Logger } from '@nestjs/common';

/**
 * Process-wide last resorts. Libraries sometimes drop a promise: @socket.io/redis-adapter calls
 * `subscribe()` without a catch, so a Redis that refuses our password would otherwise crash the worker
 * with an unhandled rejection whose printout includes the AUTH command's arguments, i.e. the password.
 * A rejection is logged and the process keeps serving; an uncaught exception leaves state unknown, so
 * it is logged and the process exits 1 to be restarted. Both go through the process's JSON logger
 * (installed first in main.ts), whose `err` keeps an error's type, message, stack and code only: never
 * the properties where libraries park a command's arguments.
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
