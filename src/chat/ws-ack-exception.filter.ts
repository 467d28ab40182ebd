import { type ArgumentsHost, Catch, Logger, type WsExceptionFilter } from '@nestjs/common';
import { socketLogFields } from '../logging/socket-log-fields.js';
import { ChatError } from './chat.error.js';
import type { Ack, ChatSocket } from './chat.events.js';

/**
 * Answers every failed event through its ack with `{ ok: false, error: { code, message } }`.
 * Unexpected errors are logged here with their stack (as `err`, beside the socket's ids) and reach the
 * client only as `INTERNAL`: no stack, no driver message. An event sent without an ack callback fails
 * silently for the client.
 */
@Catch()
export class WsAckExceptionFilter implements WsExceptionFilter {
  private readonly logger = new Logger('ChatGateway');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ack = host.getArgs().findLast((arg) => typeof arg === 'function') as ((r: Ack) => void) | undefined;
    let response: Ack;
    if (exception instanceof ChatError) {
      response = { ok: false, error: { code: exception.code, message: exception.message } };
    } else {
      const socket = host.switchToWs().getClient<ChatSocket>();
      const event = host.switchToWs().getPattern();
      // The event's payload stays out of the line: it may be a message's content.
      this.logger.error({
        msg: `Event ${event} failed (socket ${socket.id}, user ${socket.data.user?.id}): ${(exception as Error)?.message ?? exception}`,
        ...socketLogFields(socket),
        event,
        err: exception,
      });
      response = {
        ok: false,
        error: { code: 'INTERNAL', message: 'The server could not handle this event' },
      };
    }
    ack?.(response);
  }
}
