import { type ArgumentsHost, Catch, Logger, type WsExceptionFilter } from '@nestjs/common';
import { socketLogFields } from '../logging/socket-log-fields.js';
import { ChatError } from './chat.error.js';
import type { Ack, ChatSocket } from './chat.events.js';

/** A failure already logged is logged again, as a count, at most this often (an outage is one story). */
const REPEAT_LOG_INTERVAL_MS = 60_000;

/** Answers a failed event's ack (unexpected errors as `INTERNAL`); each failure logged once, then counted. */
@Catch()
export class WsAckExceptionFilter implements WsExceptionFilter {
  private readonly logger = new Logger('ChatGateway');
  /** Per distinct failure (event and message): when it was last logged and how often it came since. */
  private readonly seen = new Map<string, { loggedAt: number; repeats: number }>();

  catch(exception: unknown, host: ArgumentsHost): void {
    const ack = host.getArgs().findLast((arg) => typeof arg === 'function') as ((r: Ack) => void) | undefined;
    let response: Ack;
    if (exception instanceof ChatError) {
      response = { ok: false, error: { code: exception.code, message: exception.message } };
    } else {
      this.logFailure(exception, host);
      response = {
        ok: false,
        error: { code: 'INTERNAL', message: 'The server could not handle this event' },
      };
    }
    ack?.(response);
  }

  private logFailure(exception: unknown, host: ArgumentsHost): void {
    const socket = host.switchToWs().getClient<ChatSocket>();
    const event = host.switchToWs().getPattern();
    const reason = (exception as Error)?.message ?? String(exception);
    const key = `${event}\n${reason}`;
    const now = Date.now();
    const seen = this.seen.get(key);
    if (seen && now - seen.loggedAt < REPEAT_LOG_INTERVAL_MS) {
      seen.repeats++;
      return;
    }
    // The event's payload stays out of the line: it may be a message's content.
    const fields = { ...socketLogFields(socket), event };
    if (seen) {
      this.logger.error({
        msg: `Event ${event} failed ${seen.repeats + 1} more times: ${reason}`,
        ...fields,
      });
    } else {
      const who = `socket ${socket.id}, user ${socket.data.user?.id}`;
      this.logger.error({ msg: `Event ${event} failed (${who}): ${reason}`, ...fields, err: exception });
    }
    if (this.seen.size > 1000) this.seen.clear();
    this.seen.set(key, { loggedAt: now, repeats: 0 });
  }
}
