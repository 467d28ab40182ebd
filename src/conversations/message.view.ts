import type { MessageView } from '../chat/chat.events.js';
import type { Message } from './message.entity.js';

export function toMessageView(message: Message): MessageView {
  return {
    id: message.id,
    conversationId: message.conversationId,
    seq: message.seq,
    role: message.role,
    authorId: message.authorId,
    content: message.content,
    status: message.status,
    // An assistant message always carries an array, so a client reads `sources.length` without a guard.
    ...(message.role === 'assistant' ? { sources: message.sources ?? [] } : {}),
    ...(message.status === 'streaming' ? { nextIndex: message.streamIndex } : {}),
    createdAt: message.createdAt.toISOString(),
  };
}
