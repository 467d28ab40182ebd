import type { ErrorCode } from './chat.events.js';

/** A failure the client is told about, with its code; anything else becomes `INTERNAL`. */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}
